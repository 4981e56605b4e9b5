// capi send --dry-run (dry_run.hpp).
#include "send/dry_run.hpp"

#include "send_cmd.hpp"
#include "send/options.hpp"
#include "send/report.hpp"

#include "cli/cli.hpp"
#include "json/prepared.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace capi_send {

int dry_run(const Args& a, Input& in, std::ostream& out, std::ostream& err) {
    terminal_hint(a, err);
    capi::EventReader reader(a.rd);
    capi::BatchEncoder encoder(a.enc);
    capi::Event ev;
    capi::FieldError perr;
    std::string line;
    std::size_t accepted = 0, rejected = 0, dropped = 0, unmatchable = 0;

    auto emit = [&] {
        if (encoder.empty()) return;
        auto body = a.form ? encoder.form_body(a.fields) : encoder.json_body(a.fields);
        out.write(body.data(), static_cast<std::streamsize>(body.size()));
        out.put('\n');
        encoder.clear();
    };
    // The ids a send to the same pixel gives events without one (EventIdMode::
    // deterministic), prepared and derived as capi::Client does; without a pixel,
    // or with --event-ids random or none, such events are shown without an id.
    using capi::detail::batch_access;
    const bool derive = a.event_ids == capi::EventIdMode::deterministic && !a.pixel.empty();
    capi::BatchEncoder staging(a.enc);
    capi::detail::PreparedEvent prepared;
    std::string id;
    auto add = [&](const capi::Event& e, std::chrono::system_clock::time_point now) {
        if (!derive || e.event_id) return encoder.add(e, now);
        auto r = batch_access::prepare(staging, e, now, prepared, capi::detail::derived_id_placeholder);
        if (r.status != capi::EncodeStatus::added) return r;
        batch_access::derive_event_id(prepared, a.pixel, id);
        auto added = batch_access::add_prepared(encoder, prepared, now);
        added.dropped = std::move(r.dropped);
        added.unmatchable = std::move(r.unmatchable);
        return added;
    };
    auto report = [&](const capi::FieldError& e, std::string_view prefix = {}) {
        err << "line " << in.line_no() << ": " << prefix;
        if (!e.path.empty()) err << e.path << ": ";
        err << e.reason << "\n";
    };
    // --rejects: the file a send writes, so a dry run checks a file before it goes.
    std::ofstream rejects;
    if (!a.rejects_path.empty()) {
        rejects.open(a.rejects_path, std::ios::binary | std::ios::trunc);
        if (!rejects) return usage_error(err, "--rejects: cannot write " + a.rejects_path + ": " + std::strerror(errno));
    }
    auto reject = [&](const std::vector<capi::FieldError>& errors) {
        ++rejected;
        if (rejects.is_open()) {
            rejects << reject_record(in.line_no(), errors, line);
        } else {
            for (const auto& e : errors) report(e);
        }
    };

    for (Input::Got got; (got = in.next(line)) != Input::Got::end;) {
        if (got == Input::Got::too_long) {
            reject({too_long_error});
            continue;
        }
        if (!reader.parse(line, ev, perr)) {
            reject({perr});
            continue;
        }
        auto now = a.fixed_now ? *a.fixed_now : std::chrono::system_clock::now();
        auto r = add(ev, now);
        if (r.status == capi::EncodeStatus::batch_full) {
            emit();
            r = add(ev, now);
        }
        for (const auto& d : r.dropped) report(d, "value dropped: ");
        dropped += r.dropped.size();
        for (const auto& u : r.unmatchable) report(u, "warning: ");
        unmatchable += r.unmatchable.size();
        if (r.status == capi::EncodeStatus::added) {
            ++accepted;
        } else {
            reject(r.errors);
        }
    }
    emit();
    out.flush();
    if (rejects.is_open()) {
        rejects.close();
        if (!rejects) return usage_error(err, "--rejects: cannot write " + a.rejects_path + ": " + std::strerror(errno));
    }
    if (in.error() != 0) {
        err << "capi send: read error on " << a.input << ": " << std::strerror(in.error()) << "\n";
        return send_usage;
    }
    if (interrupted()) return send_interrupted;
    if (dropped) err << "values dropped " << dropped << "\n";
    if (unmatchable) err << "values that will not match " << unmatchable << "\n";
    auto quality = encoder.match_quality();
    quality += staging.match_quality();
    capi_cli::print_match_quality(err, quality, "");
    err << "accepted " << accepted << ", rejected " << rejected;
    if (rejected != 0 && !a.rejects_path.empty()) err << " (see " << a.rejects_path << ")";
    err << "\n";
    // Like grep: 0 when every event was accepted, 1 when some line was rejected
    // (all other lines were still processed), 2 for usage and I/O errors.
    if (a.strict && dropped + unmatchable != 0) return send_some_failed;
    return rejected ? send_some_failed : send_ok;
}

} // namespace capi_send
