// libFuzzer target: the NDJSON event reader (capi/ndjson.hpp), and the
// encoder behind it as `capi send` chains them. For every line of the input:
//  - EventReader::parse never throws; a failure names a reason, and its path
//    is valid UTF-8;
//  - a reader reused across lines (and across inputs) decides exactly as a
//    fresh one: same verdict, same error, same encoded event;
//  - an event that reads and encodes (BatchEncoder::add) survives the round
//    trip: its serialized form (hashes filled) reads back, encodes to the same
//    bytes, and the batch body is JSON that simdjson parses, holding one event;
//  - capi::Client's split path gives the same verdict and the same bytes:
//    prepare() on a staging encoder (its batch in progress) into a reused
//    PreparedEvent, then add_prepared() into a batch.
// A broken invariant is __builtin_trap().
//
// Input: byte 0 holds options (bit 0 ReaderOptions::pass_unknown_keys, bit 1
// hash_external_id, bit 2 InvalidPiiPolicy::reject_event); the rest is cut
// into lines at '\n', the first 16 of which are read.
#include <capi/encode.hpp>
#include <capi/ndjson.hpp>
#include <capi/normalize.hpp>

#include "json/prepared.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using capi::detail::batch_access;

namespace {

void check(bool ok) {
    if (!ok) __builtin_trap();
}

struct outcome {
    bool read = false;
    capi::FieldError error;
    capi::EncodeStatus status = capi::EncodeStatus::invalid;
    std::vector<capi::FieldError> errors;
    std::string json;  // the encoded event, when added
};

std::chrono::system_clock::time_point when(const capi::Event& ev) {
    // At the event's own time when that is a plausible Unix time, so the
    // window check lets most events through to the encoder (and within what
    // system_clock's nanoseconds hold: about year 2262).
    const std::int64_t t = ev.event_time > 0 && ev.event_time < 9'000'000'000 ? ev.event_time : 1'800'000'000;
    return std::chrono::system_clock::time_point{std::chrono::seconds{t}};
}

outcome read_and_encode(capi::EventReader& reader, capi::BatchEncoder& enc, std::string_view line) {
    outcome o;
    capi::Event ev;
    o.read = reader.parse(line, ev, o.error);
    if (!o.read) {
        check(!o.error.reason.empty() && capi::is_valid_utf8(o.error.path));
        return o;
    }
    enc.clear();
    auto r = enc.add(ev, when(ev));
    o.status = r.status;
    o.errors = std::move(r.errors);
    if (o.status == capi::EncodeStatus::added) {
        check(o.errors.empty() && enc.size() == 1);
        o.json.assign(batch_access::event_json(enc, 0));
    } else {
        check(o.status == capi::EncodeStatus::invalid && !o.errors.empty() && enc.size() == 0);
    }
    return o;
}

bool same(const outcome& a, const outcome& b) {
    return a.read == b.read && a.error == b.error && a.status == b.status && a.errors == b.errors &&
           a.json == b.json;
}

// The client's path for `line`, read by `reader`: prepare() into a
// PreparedEvent reused across calls (and inputs), on a staging encoder whose
// own batch holds an event, then add_prepared() into a batch. Same verdict and
// errors as add() (`a`), the same bytes, and the staging batch left unchanged.
void check_split_path(const capi::EncodeOptions& eo, capi::EventReader& reader, std::string_view line,
                      const outcome& a) {
    static capi::detail::PreparedEvent prepared;  // its buffer reused, as the client's envelopes are
    capi::Event ev;
    capi::FieldError error;
    check(reader.parse(line, ev, error));
    const auto now = when(ev);
    capi::BatchEncoder staging(eo), batch(eo);
    capi::Event other;
    other.event_name = "Other";
    other.event_time = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    other.action_source = capi::ActionSource::system_generated;
    other.user_data.external_id = {"x"};
    const bool staged = staging.add(other, now).status == capi::EncodeStatus::added;
    const std::string staged_json = staged ? std::string(batch_access::event_json(staging, 0)) : std::string();

    auto p = batch_access::prepare(staging, ev, now, prepared);
    check(p.status == a.status && p.errors == a.errors);
    check(staging.size() == (staged ? 1u : 0u));
    if (staged) check(batch_access::event_json(staging, 0) == staged_json);
    if (p.status != capi::EncodeStatus::added) {
        check(prepared.empty());
        return;
    }
    check(batch_access::add_prepared(batch, prepared, now).status == capi::EncodeStatus::added);
    check(batch.size() == 1 && batch_access::event_json(batch, 0) == a.json);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t flags = data[0];
    capi::ReaderOptions ro;
    ro.pass_unknown_keys = (flags & 1) != 0;
    capi::EncodeOptions eo;
    eo.hash_external_id = (flags & 2) != 0;
    eo.invalid_pii = (flags & 4) != 0 ? capi::InvalidPiiPolicy::reject_event : capi::InvalidPiiPolicy::drop_value;
    eo.validation.require_website_fields = false;

    // Reused across inputs, as `capi send` reuses one reader for a whole file.
    static capi::EventReader shared_plain(capi::ReaderOptions{.pass_unknown_keys = false});
    static capi::EventReader shared_unknown(capi::ReaderOptions{.pass_unknown_keys = true});
    static simdjson::dom::parser body_parser;
    capi::EventReader& shared = ro.pass_unknown_keys ? shared_unknown : shared_plain;
    capi::BatchEncoder enc(eo);

    std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    for (int n = 0; n < 16 && !rest.empty(); ++n) {
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);

        const outcome a = read_and_encode(shared, enc, line);
        capi::EventReader fresh(ro);
        const outcome b = read_and_encode(fresh, enc, line);
        check(same(a, b));
        if (a.read) check_split_path(eo, shared, line, a);
        if (a.status != capi::EncodeStatus::added) continue;

        // The body holds exactly this event, and is JSON.
        capi::Event ev;
        capi::FieldError error;
        check(shared.parse(line, ev, error));
        enc.clear();
        check(enc.add(ev, when(ev)).status == capi::EncodeStatus::added);
        simdjson::dom::array events;
        check(body_parser.parse(simdjson::padded_string(enc.json_body())).at_key("data").get_array().get(events) ==
              simdjson::SUCCESS);
        check(events.size() == 1);

        // What the encoder wrote reads back and encodes to the same bytes.
        const outcome c = read_and_encode(fresh, enc, a.json);
        check(c.read && c.status == capi::EncodeStatus::added && c.json == a.json);
    }
    return 0;
}
