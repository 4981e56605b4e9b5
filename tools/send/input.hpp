// capi send's input: NDJSON lines from a file or stdin, read with read(2).
#pragma once

#include <capi/validate.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace capi_send {

/// The input, read with read(2) rather than an istream: a signal interrupts a read
/// from a stalled pipe (libstdc++ retries EINTR), and a line has a length cap, so
/// neither a producer that stops nor a file without line breaks holds the send.
/// One thread reads it.
class Input {
public:
    /// Longest line kept; longer lines are skipped and reported (an event is at
    /// most ValidationOptions::max_event_bytes = 64 KiB once serialized).
    static constexpr std::size_t max_line = 16 << 20;
    enum class Got : std::uint8_t { line, too_long, end };

    /// `interrupted` is asked when a read(2) returns EINTR: true ends the input.
    explicit Input(bool (*interrupted)()) noexcept : interrupted_(interrupted) {}
    ~Input();
    Input(const Input&) = delete;
    Input& operator=(const Input&) = delete;

    /// "-" is stdin. Reports to `err` and returns false when it cannot open.
    bool open(const std::string& path, std::ostream& err);
    /// Starts reading at byte `offset`, counting lines from `line_no` (a resumed
    /// send: the checkpoint's position). A regular file only.
    bool seek(std::uint64_t offset, std::size_t line_no, std::ostream& err);

    /// The next non-blank line (CR stripped), or too_long (line_no set, line
    /// empty), or end (EOF, a read error, or an interrupt).
    Got next(std::string& line);

    std::size_t line_no() const noexcept { return line_no_; }
    /// Bytes consumed: the end of the last line returned (blank lines before it included).
    std::uint64_t bytes() const noexcept { return bytes_; }
    std::uint64_t size() const noexcept { return size_; }  ///< 0 when unknown (a pipe)
    bool regular() const noexcept { return regular_; }
    int error() const noexcept { return error_; }

private:
    bool raw_line(std::string& line, bool& too_long);

    bool (*interrupted_)();
    int fd_ = -1;
    std::vector<char> buf_;
    std::size_t begin_ = 0, end_ = 0, line_no_ = 0;
    std::uint64_t bytes_ = 0, size_ = 0;
    bool eof_ = false, regular_ = false;
    int error_ = 0;
};

/// The rejection of a line longer than Input::max_line.
extern const capi::FieldError too_long_error;

} // namespace capi_send
