// capi send --checkpoint (checkpoint.hpp). The file is text, one "key value"
// per line after a first line naming the format, so a person can read it.
#include "send/checkpoint.hpp"

#include <capi/sha256.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace capi_send {

namespace {

constexpr std::string_view format_line = "capi-send-checkpoint 1";
constexpr std::size_t head_block = 64 << 10;

std::string errno_text() { return std::strerror(errno); }

// The directory `path` is in, for the fsync that makes a rename durable.
std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

bool write_all(int fd, const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) {
        const auto n = ::write(fd, s.data() + done, s.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

std::optional<InputIdentity> identify_input(const std::string& path, std::string& why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        why = "cannot open " + path + ": " + errno_text();
        return std::nullopt;
    }
    InputIdentity id;
    struct stat st {};
    char resolved[PATH_MAX];
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || ::realpath(path.c_str(), resolved) == nullptr) {
        why = path + " is not a regular file";
        ::close(fd);
        return std::nullopt;
    }
    id.name = resolved;
    id.size = static_cast<std::uint64_t>(st.st_size);
    std::string head(std::min<std::uint64_t>(head_block, id.size), '\0');
    std::size_t got = 0;
    while (got < head.size()) {
        const auto n = ::pread(fd, head.data() + got, head.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            why = "cannot read " + path + ": " + (n < 0 ? errno_text() : std::string("shorter than its size"));
            ::close(fd);
            return std::nullopt;
        }
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    char hex[64];
    capi::sha256::to_hex(capi::sha256::hash(head), hex);
    id.head_sha256.assign(hex, 64);
    return id;
}

std::optional<Checkpoint> read_checkpoint(const std::string& path, std::string& why) {
    why.clear();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno != ENOENT) why = "cannot read " + path + ": " + errno_text();
        return std::nullopt;
    }
    std::string line;
    if (!std::getline(in, line) || line != format_line) {
        why = path + " is not a capi send checkpoint (its first line is not \"" + std::string(format_line) + "\")";
        return std::nullopt;
    }
    std::map<std::string, std::string> kv;
    while (std::getline(in, line)) {
        const auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        kv[line.substr(0, sp)] = line.substr(sp + 1);
    }
    Checkpoint cp;
    bool ok = true;
    auto number = [&](const char* key, std::uint64_t& out) {
        auto it = kv.find(key);
        if (it == kv.end() || it->second.empty()) {
            ok = false;
            return;
        }
        char* end = nullptr;
        errno = 0;
        out = std::strtoull(it->second.c_str(), &end, 10);
        if (errno != 0 || *end != '\0') ok = false;
    };
    auto text = [&](const char* key, std::string& out) {
        auto it = kv.find(key);
        if (it == kv.end()) ok = false;
        else out = it->second;
    };
    text("input", cp.input.name);
    number("input_size", cp.input.size);
    text("input_head_sha256", cp.input.head_sha256);
    number("position", cp.position);
    number("line", cp.line);
    number("failed_bytes", cp.failed_bytes);
    number("rejects_bytes", cp.rejects_bytes);
    number("delivered", cp.tally.delivered);
    number("rejected", cp.tally.rejected);
    number("failed", cp.tally.failed);
    number("expired", cp.tally.expired);
    number("dropped", cp.tally.dropped);
    if (!ok || cp.position > cp.input.size) {
        why = path + " is damaged (a key is missing or not a number)";
        return std::nullopt;
    }
    return cp;
}

bool write_checkpoint(const std::string& path, const Checkpoint& cp, std::string& why) {
    std::ostringstream s;
    s << format_line << "\n"
      << "input " << cp.input.name << "\n"
      << "input_size " << cp.input.size << "\n"
      << "input_head_sha256 " << cp.input.head_sha256 << "\n"
      << "position " << cp.position << "\n"
      << "line " << cp.line << "\n"
      << "failed_bytes " << cp.failed_bytes << "\n"
      << "rejects_bytes " << cp.rejects_bytes << "\n"
      << "delivered " << cp.tally.delivered << "\n"
      << "rejected " << cp.tally.rejected << "\n"
      << "failed " << cp.tally.failed << "\n"
      << "expired " << cp.tally.expired << "\n"
      << "dropped " << cp.tally.dropped << "\n";
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        why = "cannot write " + tmp + ": " + errno_text();
        return false;
    }
    // A crash at any point leaves either the old checkpoint or the new one, whole.
    if (!write_all(fd, s.str()) || ::fsync(fd) != 0) {
        why = "cannot write " + tmp + ": " + errno_text();
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        why = "cannot rename " + tmp + " to " + path + ": " + errno_text();
        ::unlink(tmp.c_str());
        return false;
    }
    const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);  // the rename itself; some file systems refuse it, harmlessly
        ::close(dir);
    }
    return true;
}

std::string checkpoint_mismatch(const Checkpoint& cp, const InputIdentity& input) {
    if (cp.input.name != input.name) return "it was written for " + cp.input.name + ", not " + input.name;
    if (cp.input.size != input.size)
        return "the input's size changed (" + std::to_string(cp.input.size) + " bytes then, " +
               std::to_string(input.size) + " now)";
    if (cp.input.head_sha256 != input.head_sha256) return "the input's first 64 KiB changed";
    return {};
}

bool sync_file(const std::string& path, std::string& why) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        why = "cannot sync " + path + ": " + errno_text();
        if (fd >= 0) ::close(fd);
        return false;
    }
    ::close(fd);
    return true;
}

bool open_report(const std::string& path, std::ofstream& out, bool resume, std::uint64_t recorded,
                 std::uint64_t& base, std::string& why, std::string& note) {
    base = 0;
    if (resume) {
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            const auto size = static_cast<std::uint64_t>(st.st_size);
            if (size > recorded && ::truncate(path.c_str(), static_cast<off_t>(recorded)) != 0) {
                why = "cannot cut " + path + " back to " + std::to_string(recorded) + " bytes: " + errno_text();
                return false;
            }
            if (size < recorded)
                note = path + " is shorter than when the checkpoint was written (moved or edited?): appending to it";
            base = std::min(size, recorded);
        } else if (recorded > 0) {
            note = path + " is gone since the checkpoint was written: a new one holds this run's lines";
        }
        out.open(path, std::ios::binary | std::ios::app);
    } else {
        out.open(path, std::ios::binary | std::ios::trunc);
    }
    if (!out) {
        why = "cannot write " + path;
        return false;
    }
    return true;
}

void Checkpointer::run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
        // Half a second: "at least every second" with room for a slow fsync.
        if (cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stop_; })) break;
        lock.unlock();
        save(false);
        lock.lock();
    }
}

void Checkpointer::stop() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
}

bool Checkpointer::save(bool force) {
    std::lock_guard one(save_mu_);
    const auto cp = snapshot_();
    // An idle second (everything waiting on one slow batch) costs no fsync.
    if (!force && last_ && last_->position == cp.position && last_->failed_bytes == cp.failed_bytes &&
        last_->rejects_bytes == cp.rejects_bytes)
        return true;
    std::string why;
    bool ok = true;
    for (const auto& p : sync_paths_)
        if (ok && !sync_file(p, why)) ok = false;
    if (ok) ok = write_checkpoint(path_, cp, why);
    if (ok) last_ = cp;
    if (!ok) {
        std::lock_guard lock(mu_);
        if (error_.empty()) error_ = why;
    }
    return ok;
}

std::string Checkpointer::error() const {
    std::lock_guard lock(mu_);
    return error_;
}

} // namespace capi_send
