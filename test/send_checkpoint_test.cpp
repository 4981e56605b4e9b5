// capi send's checkpoint file, outcome log and --failed line (tools/send/),
// without a network: the pieces send_resume_test.sh runs end to end.
#include "send/checkpoint.hpp"  // tools/, on the path through capi_send_cmd_dep
#include "send/outcome_log.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace capi_send;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "capi-ckpt-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write(const fs::path& p, const std::string& s) {
    std::ofstream(p, std::ios::binary) << s;
}

} // namespace

TEST_CASE("a checkpoint survives a round trip and names its input", "[send][checkpoint]") {
    TempDir dir;
    const auto in = dir.path / "in.ndjson";
    write(in, "{\"a\":1}\n{\"a\":2}\n");
    std::string why;
    auto id = identify_input(in.string(), why);
    REQUIRE(id);
    CHECK(id->size == 16);
    CHECK(id->head_sha256.size() == 64);
    CHECK(fs::path(id->name).is_absolute());

    Checkpoint cp;
    cp.input = *id;
    cp.position = 8;
    cp.line = 1;
    cp.failed_bytes = 3;
    cp.tally.delivered = 1;
    const auto file = (dir.path / "ck").string();
    REQUIRE(write_checkpoint(file, cp, why));
    CHECK(!fs::exists(file + ".tmp"));
    auto back = read_checkpoint(file, why);
    REQUIRE(back);
    CHECK(back->position == 8);
    CHECK(back->line == 1);
    CHECK(back->failed_bytes == 3);
    CHECK(back->tally.delivered == 1);
    CHECK(checkpoint_mismatch(*back, *id).empty());

    // The same path with another first block, another size, another file.
    write(in, "{\"a\":3}\n{\"a\":4}\n");
    CHECK(checkpoint_mismatch(*back, *identify_input(in.string(), why)) == "the input's first 64 KiB changed");
    write(in, "{\"a\":3}\n");
    CHECK(checkpoint_mismatch(*back, *identify_input(in.string(), why)).find("size changed") != std::string::npos);
    write(dir.path / "other", "{\"a\":1}\n{\"a\":2}\n");
    CHECK(checkpoint_mismatch(*back, *identify_input((dir.path / "other").string(), why)).find("it was written for") == 0);
}

TEST_CASE("no checkpoint, a damaged one, not a checkpoint", "[send][checkpoint]") {
    TempDir dir;
    std::string why;
    CHECK(!read_checkpoint((dir.path / "none").string(), why));
    CHECK(why.empty());  // a first run
    write(dir.path / "x", "hello\n");
    CHECK(!read_checkpoint((dir.path / "x").string(), why));
    CHECK(why.find("is not a capi send checkpoint") != std::string::npos);
    write(dir.path / "y", "capi-send-checkpoint 1\ninput /a\nposition 12\n");
    CHECK(!read_checkpoint((dir.path / "y").string(), why));
    CHECK(why.find("damaged") != std::string::npos);
    CHECK(!identify_input((dir.path / "missing").string(), why));
    CHECK(why.find("cannot open") != std::string::npos);
}

TEST_CASE("the outcome log writes records in input order and knows the position", "[send][checkpoint]") {
    std::ostringstream failed, rejects;
    OutcomeLog log;
    log.set_sinks(&failed, &rejects);
    const auto a = log.add(10, 1), b = log.add(25, 3), c = log.add(40, 4);  // line 2 blank
    log.settle(c, LineOutcome::failed, "c\n", {});
    log.settle(b, LineOutcome::rejected, {}, "b\n");
    CHECK(log.position() == 0);  // line 1 still in flight
    CHECK(failed.str().empty());
    CHECK(log.size() == 3);
    log.settle(a, LineOutcome::delivered, {}, {});
    CHECK(log.position() == 40);
    CHECK(log.line() == 4);
    CHECK(failed.str() == "c\n");
    CHECK(rejects.str() == "b\n");
    CHECK(log.failed_bytes() == 2);
    CHECK(log.tally().delivered == 1);
    CHECK(log.tally().rejected == 1);
    CHECK(log.tally().failed == 1);
    log.settle(a, LineOutcome::failed, "again\n", {});  // a stale ticket changes nothing
    CHECK(failed.str() == "c\n");
    log.input_ends_at(45);  // blank lines at the end
    CHECK(log.position() == 45);

    OutcomeLog resumed;
    resumed.start_at(100, 7);
    const auto d = resumed.add(130, 8);
    resumed.input_ends_at(130);
    CHECK(resumed.position() == 100);  // line 8 still pending
    resumed.settle(d, LineOutcome::delivered, {}, {});
    CHECK(resumed.position() == 130);
    CHECK(resumed.line() == 8);
}

TEST_CASE("the --failed line carries the id its attempts used", "[send][failed]") {
    const std::string id = "8bcd32d12fe5a5ff1fb4536cdcb20787";
    CHECK(line_with_event_id(R"({"event_name":"Lead"})", false, id) ==
          R"({"event_id":"8bcd32d12fe5a5ff1fb4536cdcb20787","event_name":"Lead"})");
    CHECK(line_with_event_id(R"(  { "event_name":"Lead"})", false, id) ==
          R"(  {"event_id":"8bcd32d12fe5a5ff1fb4536cdcb20787", "event_name":"Lead"})");
    CHECK(line_with_event_id(R"({ })", false, id) == R"({"event_id":"8bcd32d12fe5a5ff1fb4536cdcb20787" })");
    // Its own id, no id (EventIdMode::none), not an object: as it was.
    CHECK(line_with_event_id(R"({"event_id":"o-1"})", true, "o-1") == R"({"event_id":"o-1"})");
    CHECK(line_with_event_id(R"({"a":1})", false, "") == R"({"a":1})");
    CHECK(line_with_event_id("[1]", false, id) == "[1]");
}
