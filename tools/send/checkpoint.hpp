// capi send --checkpoint FILE: where a send stopped, kept durably, so that the
// same command started again skips what already has an outcome. docs/cli.md
// ("Resuming a send") is the user's side.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace capi_send {

/// What tells one input file from another: its absolute path, its size, and
/// the SHA-256 of its first block (64 KiB, or the whole file when smaller).
struct InputIdentity {
    std::string name;
    std::uint64_t size = 0;
    std::string head_sha256;  ///< 64 hex digits
};

/// Identifies the regular file `path`; nullopt with `why` when it cannot.
std::optional<InputIdentity> identify_input(const std::string& path, std::string& why);

/// Outcome counts of the lines below a checkpoint's position, all runs together.
struct Tally {
    std::uint64_t delivered = 0, rejected = 0, failed = 0, expired = 0, dropped = 0;
    std::uint64_t total() const noexcept { return delivered + rejected + failed + expired + dropped; }
};

struct Checkpoint {
    InputIdentity input;
    /// Every input line that ends at or before `position` (bytes) has its outcome:
    /// delivered, rejected (and in --rejects), or failed, expired or dropped (and
    /// in --failed). `line` is the number of the last of them.
    std::uint64_t position = 0, line = 0;
    /// Sizes of the --failed and --rejects files when it was written: a resumed
    /// send cuts them back to these (what a killed run wrote after it is written
    /// again) and appends.
    std::uint64_t failed_bytes = 0, rejects_bytes = 0;
    Tally tally;
};

/// Reads the checkpoint in `path`: nullopt with `why` empty when there is no
/// such file (a first run), with `why` set when it is unreadable or not a
/// checkpoint.
std::optional<Checkpoint> read_checkpoint(const std::string& path, std::string& why);

/// Writes `cp` durably: a temporary file next to `path`, fsync, rename over
/// `path`, fsync of the directory. False with `why` on any failure (the old
/// checkpoint then still stands).
bool write_checkpoint(const std::string& path, const Checkpoint& cp, std::string& why);

/// Why `cp` does not belong to `input` (which part differs); empty when it does.
std::string checkpoint_mismatch(const Checkpoint& cp, const InputIdentity& input);

/// fsync(2) of the file at `path` (the --failed and --rejects files, once their
/// streams are flushed, before a checkpoint counts on them). False with `why`.
bool sync_file(const std::string& path, std::string& why);

/// Opens the --failed or --rejects file at `path` into `out`: truncated on a
/// first run; on a resumed one (`resume`) cut back to `recorded` bytes when it
/// is longer (a killed run's records past its checkpoint, which the resumed
/// run writes again) and appended to. `base` is its size once opened. `note`
/// is set when a resumed file is shorter than recorded (moved away or edited).
bool open_report(const std::string& path, std::ofstream& out, bool resume, std::uint64_t recorded,
                 std::uint64_t& base, std::string& why, std::string& note);

/// Writes a checkpoint at least every second, and once more at the end.
/// `snapshot` makes it (any locks it needs are its own); the files in
/// `sync_paths` (the report files, their streams flushed by `snapshot`) are
/// synced before each write, so a checkpoint never counts on records a crash
/// could lose. run() is the writing thread's body; stop() ends it.
class Checkpointer {
public:
    Checkpointer(std::string path, std::function<Checkpoint()> snapshot, std::vector<std::string> sync_paths)
        : path_(std::move(path)), snapshot_(std::move(snapshot)), sync_paths_(std::move(sync_paths)) {}

    void run();
    void stop();
    /// Writes one now (unless nothing moved since the last one and `force` is
    /// false). False with the reason, which error() also keeps (the first).
    bool save(bool force = true);
    std::string error() const;

private:
    std::string path_;
    std::function<Checkpoint()> snapshot_;
    std::vector<std::string> sync_paths_;
    mutable std::mutex mu_;  // guards stop_, error_; save() runs on one thread at a time
    std::mutex save_mu_;
    std::condition_variable cv_;
    std::optional<Checkpoint> last_;  // guarded by save_mu_
    bool stop_ = false;
    std::string error_;
};

} // namespace capi_send
