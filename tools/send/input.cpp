// capi send's input (input.hpp).
#include "send/input.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace capi_send {

const capi::FieldError too_long_error{
    "", "line longer than " + std::to_string(Input::max_line >> 20) + " MiB, skipped"};

Input::~Input() {
    if (fd_ > 0) ::close(fd_);
}

bool Input::open(const std::string& path, std::ostream& err) {
    if (path == "-") {
        fd_ = 0;
    } else {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) {
            err << "capi send: cannot open " << path << ": " << std::strerror(errno) << "\n";
            return false;
        }
    }
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) {
        size_ = static_cast<std::uint64_t>(st.st_size);
        regular_ = true;
    } else if (S_ISDIR(st.st_mode)) {
        // Refused here, as a missing file is: not a summary of zeros and a read error.
        err << "capi send: cannot read " << (path == "-" ? std::string("stdin") : path) << ": it is a directory\n";
        if (fd_ != 0) ::close(fd_);
        fd_ = -1;
        return false;
    }
    buf_.resize(1 << 20);
    return true;
}

bool Input::seek(std::uint64_t offset, std::size_t line_no, std::ostream& err) {
    if (!regular_ || ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
        err << "capi send: cannot seek the input to byte " << offset << ": "
            << (regular_ ? std::strerror(errno) : "not a regular file") << "\n";
        return false;
    }
    begin_ = end_ = 0;
    eof_ = false;
    bytes_ = offset;
    line_no_ = line_no;
    return true;
}

Input::Got Input::next(std::string& line) {
    for (;;) {
        line.clear();
        bool too_long = false;
        const bool at_start = bytes_ == 0;
        if (!raw_line(line, too_long)) return Got::end;
        ++line_no_;
        if (too_long) return Got::too_long;
        // A UTF-8 byte-order mark, as Windows tools and spreadsheets write at the
        // start of a file: not part of the first line (nor counted as one).
        if (at_start && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") != std::string::npos) return Got::line;
    }
}

bool Input::raw_line(std::string& line, bool& too_long) {
    bool any = false;
    for (;;) {
        if (begin_ < end_) {
            any = true;
            const char* start = buf_.data() + begin_;
            const auto* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
            const std::size_t n = nl ? static_cast<std::size_t>(nl - start) : end_ - begin_;
            if (!too_long && line.size() + n <= max_line) {
                line.append(start, n);
            } else {
                too_long = true;
                line.clear();
            }
            begin_ += n + (nl ? 1 : 0);
            bytes_ += n + (nl ? 1 : 0);
            if (nl) return true;
        }
        if (eof_) return any;
        const auto r = ::read(fd_, buf_.data(), buf_.size());
        if (r > 0) {
            begin_ = 0;
            end_ = static_cast<std::size_t>(r);
        } else if (r == 0) {
            eof_ = true;
        } else if (errno == EINTR) {
            if (interrupted_()) return false;
        } else {
            error_ = errno;
            return false;
        }
    }
}

} // namespace capi_send
