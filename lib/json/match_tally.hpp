// Internal: the encoder's match-quality bookkeeping (BatchEncoder::impl's), per
// event. Each value's outcome is added to the encoder's totals as it is known (a
// load and a store into memory the thread has in cache) and noted, so an event
// that is not accepted after all, or whose checked walk falls back to a second
// one, takes its values out again: the totals count accepted events only. The
// values that will not match wait as views (keys and reasons are static) until
// the event is accepted: FieldErrors only for those. And the event's country,
// which the warning rules read: looked up when a rule is about to ask (with the
// enhanced rules off most values never do: a 2-letter st, a 5-digit zp).
#pragma once

#include <capi/encode.hpp>
#include <capi/event.hpp>
#include <capi/normalize.hpp>

#include "json/prepared.hpp"
#include "wire/schema.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace capi::detail {

/// "object.key" or "object.key[index]": where a value sits, for FieldError paths.
std::string element_path(std::string_view object, std::string_view key, std::size_t index, bool indexed);

class MatchTally {
public:
    /// Counted totals, shared with whoever reads them (capi::Client's stats()).
    std::shared_ptr<MatchCounters> counters = std::make_shared<MatchCounters>();
    /// Build EncodeResult::unmatchable (capi::Client's staging encoders do not:
    /// it counts, and never reads the result's lists but errors).
    bool report_values = true;

    /// A new walk of an event's user_data: whatever an earlier walk of it noted
    /// leaves the totals (a walk done twice counts once).
    void begin() noexcept {
        discard();
        unmatchable_.clear();
    }
    /// One value's outcome (MatchCounters::index(field, outcome)).
    void note(std::uint8_t v) {
        counters_->add(v);
        if (n_ < inline_.size()) [[likely]]
            inline_[n_++] = v;
        else
            more_.push_back(v);
    }
    /// A value that will not match as given, at user_data.key[index].
    void unmatchable(std::string_view key, std::size_t index, bool indexed, std::string_view why) {
        if (report_values)
            unmatchable_.push_back({key, static_cast<std::uint32_t>(index), indexed, why});
    }
    /// The event's outcomes out of the totals again (not accepted, or thrown out of).
    void discard() noexcept {
        auto& c = *counters_;
        for (std::size_t i = 0; i < n_; ++i) c.sub(inline_[i]);
        for (const auto v : more_) c.sub(v);
        n_ = 0;
        more_.clear();
    }
    /// The event is accepted: its outcomes stay counted, its unmatchable values
    /// go to `r`.
    void accept(EncodeResult& r) {
        n_ = 0;
        more_.clear();
        if (!unmatchable_.empty()) [[unlikely]]
            report(r);
    }

private:
    struct Unmatchable {
        std::string_view key;
        std::uint32_t index;
        bool indexed;
        std::string_view why;
    };
    [[gnu::noinline, gnu::cold]] void report(EncodeResult& r) const {
        for (const auto& u : unmatchable_)
            r.unmatchable.push_back({element_path(wire::schema<UserData>::name, u.key, u.index, u.indexed), std::string(u.why)});
    }

    MatchCounters* counters_ = counters.get();
    // The event's outcomes: the first ones inline (a store), the rest of a long
    // list in more_.
    std::array<std::uint8_t, 48> inline_{};
    std::size_t n_ = 0;
    std::vector<std::uint8_t> more_;
    std::vector<Unmatchable> unmatchable_;
};

/// The event's country as the st, zp and ph rules read it (context_country()),
/// looked up on first use.
class EventCountry {
public:
    void reset(const UserData& ud) noexcept {
        ud_ = &ud;
        known_ = false;
    }
    bool has_any() const noexcept { return !ud_->country.empty(); }
    std::string_view get(const EnhancedNormalization* enhanced) {
        if (!known_) resolve(enhanced);
        return country_;
    }

private:
    [[gnu::noinline]] void resolve(const EnhancedNormalization* enhanced) {
        if (ud_->country.empty()) country_.clear();
        else context_country(ud_->country, enhanced, country_);
        known_ = true;
    }

    const UserData* ud_ = nullptr;
    bool known_ = false;
    std::string country_;
};

} // namespace capi::detail
