// capi: Meta's wire format (one JSON object per event) into capi::Event.
//
// simdjson's DOM parser, reused across lines with one padded copy buffer. The
// walk is strict the way Meta is (wrong types, unknown keys and duplicate keys
// are errors naming the field) and lenient where senders commonly differ from
// the docs without changing meaning:
//  - null for a modelled field means "absent";
//  - numbers are accepted, as their decimal text, where the value is an
//    identifier or digits people keep as numbers (ph, zp, db, dob*, external_id,
//    content ids, extinfo);
//  - event_time may be a string of digits;
//  - booleans may be 0 or 1 (Meta's own app_data examples send 1).
#include <capi/ndjson.hpp>

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

namespace capi {

namespace dom = simdjson::dom;

namespace {

using element_type = dom::element_type;

/// A step of the path to the value being read, kept on the stack and rendered
/// only when an error is reported, so the happy path builds no strings.
struct path_node {
    const path_node* parent = nullptr;
    std::string_view key;            // when !is_index
    std::size_t index = 0;           // when is_index
    bool is_index = false;
};

void render(const path_node* p, std::string& out) {
    if (p == nullptr) return;
    render(p->parent, out);
    if (p->is_index) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, p->index);
        out += '[';
        out.append(buf, r.ptr);
        out += ']';
    } else {
        if (!out.empty()) out += '.';
        out.append(p->key);
    }
}

path_node child(const path_node* parent, std::string_view key) { return {parent, key, 0, false}; }
path_node element_at(const path_node* parent, std::size_t i) { return {parent, {}, i, true}; }

/// Decimal text of a JSON number: integers exactly; integral doubles within the
/// exact range (2^53) as integers, so 9.4025e4 is "94025"; other doubles in the
/// shortest form that round-trips.
void number_text(dom::element v, std::string& out) {
    char buf[32];
    std::to_chars_result r{};
    switch (v.type()) {
    case element_type::INT64:
        r = std::to_chars(buf, buf + sizeof buf, v.get_int64().value_unsafe());
        break;
    case element_type::UINT64:
        r = std::to_chars(buf, buf + sizeof buf, v.get_uint64().value_unsafe());
        break;
    default: {
        const double d = v.get_double().value_unsafe();
        constexpr double exact = 9007199254740992.0;  // 2^53
        if (std::trunc(d) == d && std::fabs(d) <= exact) {
            r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d));
        } else {
            r = std::to_chars(buf, buf + sizeof buf, d);
        }
        break;
    }
    }
    out.assign(buf, r.ptr);
}

bool is_number(element_type t) {
    return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

/// Digits only, no sign or spaces, fitting int64.
bool parse_digits(std::string_view s, std::int64_t& out) {
    if (s.empty()) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

class walker {
public:
    walker(const ReaderOptions& options, FieldError& error, std::vector<std::string_view>& keys)
        : options_(options), error_(error), keys_(keys) {}

    bool event(dom::element root, Event& ev);

private:
    bool fail(const path_node& at, std::string_view reason) {
        error_.path.clear();
        render(&at, error_.path);
        error_.reason.assign(reason);
        return false;
    }

    /// Duplicate keys are checked per object before its fields are read: simdjson
    /// keeps every member, and Meta would reject or silently pick one.
    bool no_duplicates(dom::object obj, const path_node* here) {
        keys_.clear();
        for (dom::key_value_pair kv : obj) keys_.push_back(kv.key);
        if (keys_.size() < 2) return true;
        std::sort(keys_.begin(), keys_.end());
        const auto dup = std::adjacent_find(keys_.begin(), keys_.end());
        if (dup == keys_.end()) return true;
        return fail(child(here, *dup), "duplicate key");
    }

    bool object(dom::element v, const path_node& p, dom::object& out) {
        if (v.type() != element_type::OBJECT) return fail(p, "expected an object");
        out = v.get_object().value_unsafe();
        return no_duplicates(out, &p);
    }

    /// Checks that `v` is an object without duplicate keys, then calls
    /// field(key, value, path) for each member, stopping at the first false.
    template <class Field>
    bool members(dom::element v, const path_node& p, Field&& field) {
        dom::object obj;
        if (!object(v, p, obj)) return false;
        for (dom::key_value_pair kv : obj) {
            const std::string_view k = kv.key;
            if (!field(k, dom::element(kv.value), child(&p, k))) return false;
        }
        return true;
    }

    bool unknown(std::string_view key, dom::element v, const path_node& p, RawMembers& extra) {
        if (!options_.pass_unknown_keys) return fail(p, "unknown key");
        extra.push_back({std::string(key), simdjson::to_string(v)});
        return true;
    }

    bool text(dom::element v, const path_node& p, std::string& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() != element_type::STRING) return fail(p, "expected a string");
        out.assign(v.get_string().value_unsafe());
        return true;
    }

    bool text(dom::element v, const path_node& p, std::optional<std::string>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() != element_type::STRING) return fail(p, "expected a string");
        out.emplace(v.get_string().value_unsafe());
        return true;
    }

    /// A string, or a number taken as its decimal text.
    bool text_or_number(dom::element v, const path_node& p, std::string& out) {
        const auto t = v.type();
        if (t == element_type::STRING) {
            out.assign(v.get_string().value_unsafe());
            return true;
        }
        if (is_number(t)) {
            number_text(v, out);
            return true;
        }
        return fail(p, "expected a string or a number");
    }

    bool text_or_number(dom::element v, const path_node& p, std::optional<std::string>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return text_or_number(v, p, out.emplace());
    }

    /// An array of strings (and of numbers when `numbers` is set).
    bool text_array(dom::element v, const path_node& p, std::vector<std::string>& out, bool numbers) {
        if (v.type() != element_type::ARRAY) {
            return fail(p, numbers ? "expected an array of strings or numbers"
                                   : "expected an array of strings");
        }
        // A named copy: ranging over value_unsafe() of the temporary result
        // would iterate a dangling array.
        const dom::array arr = v.get_array().value_unsafe();
        std::size_t i = 0;
        for (dom::element e : arr) {
            const path_node at = element_at(&p, i++);
            auto& s = out.emplace_back();
            if (numbers) {
                if (!text_or_number(e, at, s)) return false;
            } else if (e.type() != element_type::STRING) {
                return fail(at, "expected a string");
            } else {
                s.assign(e.get_string().value_unsafe());
            }
        }
        return true;
    }

    bool text_array(dom::element v, const path_node& p, std::optional<std::vector<std::string>>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return text_array(v, p, out.emplace(), false);
    }

    bool text_list(dom::element v, const path_node& p, std::vector<std::string>& out, bool numbers) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() == element_type::ARRAY) return text_array(v, p, out, numbers);
        out.clear();
        if (v.type() == element_type::STRING || (numbers && is_number(v.type()))) {
            return text_or_number(v, p, out.emplace_back());
        }
        return fail(p, numbers ? "expected a string, a number or an array of them"
                               : "expected a string or an array of strings");
    }

    /// One of the user_data keys sent as a list (em, ph, ...): a value or an array.
    bool multi(dom::element v, const path_node& p, std::vector<std::string>& out) {
        return text_list(v, p, out, false);
    }
    bool multi_numeric(dom::element v, const path_node& p, std::vector<std::string>& out) {
        return text_list(v, p, out, true);
    }

    bool integer(dom::element v, const path_node& p, std::int64_t& out) {
        switch (v.type()) {
        case element_type::INT64:
            out = v.get_int64().value_unsafe();
            return true;
        case element_type::UINT64:
            return fail(p, "integer out of range");
        default:
            return fail(p, "expected an integer");
        }
    }

    bool integer(dom::element v, const path_node& p, std::optional<std::int64_t>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return integer(v, p, out.emplace());
    }

    /// Unix seconds: an integer, or a string of digits (some senders quote it).
    bool timestamp(dom::element v, const path_node& p, std::int64_t& out) {
        if (v.type() == element_type::STRING) {
            if (parse_digits(v.get_string().value_unsafe(), out)) return true;
            return fail(p, "expected an integer");
        }
        return integer(v, p, out);
    }

    bool timestamp(dom::element v, const path_node& p, std::optional<std::int64_t>& out) {
        if (v.type() == element_type::NULL_VALUE) return true;
        return timestamp(v, p, out.emplace());
    }

    bool number(dom::element v, const path_node& p, std::optional<double>& out) {
        switch (v.type()) {
        case element_type::NULL_VALUE:
            return true;
        case element_type::INT64:
            out = static_cast<double>(v.get_int64().value_unsafe());
            return true;
        case element_type::UINT64:
            out = static_cast<double>(v.get_uint64().value_unsafe());
            return true;
        case element_type::DOUBLE:
            out = v.get_double().value_unsafe();
            return true;
        default:
            return fail(p, "expected a number");
        }
    }

    bool boolean(dom::element v, const path_node& p, std::optional<bool>& out) {
        switch (v.type()) {
        case element_type::NULL_VALUE:
            return true;
        case element_type::BOOL:
            out = v.get_bool().value_unsafe();
            return true;
        case element_type::INT64: {
            const auto i = v.get_int64().value_unsafe();
            if (i == 0 || i == 1) {
                out = i == 1;
                return true;
            }
            break;
        }
        default:
            break;
        }
        return fail(p, "expected a boolean");
    }

    template <class Enum>
    bool enumerated(dom::element v, const path_node& p, std::optional<Enum>& out,
                    std::optional<Enum> (*parse)(std::string_view) noexcept,
                    std::string_view reason) {
        if (v.type() == element_type::NULL_VALUE) return true;
        if (v.type() != element_type::STRING) return fail(p, "expected a string");
        out = parse(v.get_string().value_unsafe());
        return out.has_value() || fail(p, reason);
    }

    bool action_source(dom::element v, const path_node& p, ActionSource& out) {
        std::optional<ActionSource> a;
        if (!enumerated(v, p, a, &parse_action_source,
                        "expected one of email, website, app, phone_call, chat, physical_store, "
                        "system_generated, business_messaging, other")) {
            return false;
        }
        if (a) out = *a;
        return true;
    }

    bool delivery(dom::element v, const path_node& p, std::optional<DeliveryCategory>& out) {
        return enumerated(v, p, out, &parse_delivery_category,
                          "expected one of in_store, curbside, home_delivery");
    }

    bool user_data(dom::element v, const path_node& p, UserData& u);
    bool custom_data(dom::element v, const path_node& p, std::optional<CustomData>& out);
    bool content(dom::element v, const path_node& p, Content& c);
    bool app_data(dom::element v, const path_node& p, std::optional<AppData>& out);
    bool original_event_data(dom::element v, const path_node& p, std::optional<OriginalEventData>& out);
    bool attribution_data(dom::element v, const path_node& p, std::optional<AttributionData>& out);
    bool attribution_setting(dom::element v, const path_node& p, std::optional<AttributionSetting>& out);

    const ReaderOptions& options_;
    FieldError& error_;
    std::vector<std::string_view>& keys_;
};

bool walker::event(dom::element root, Event& ev) {
    const path_node top{};  // renders as "" (the whole value)
    if (root.type() != element_type::OBJECT) return fail(top, "expected an object");
    const dom::object obj = root.get_object().value_unsafe();
    if (!no_duplicates(obj, nullptr)) return false;

    for (dom::key_value_pair kv : obj) {
        const std::string_view k = kv.key;
        const dom::element v = kv.value;
        const path_node p = child(nullptr, k);
        bool ok;
        if (k == "event_name") ok = text(v, p, ev.event_name);
        else if (k == "event_time") ok = v.type() == element_type::NULL_VALUE || timestamp(v, p, ev.event_time);
        else if (k == "user_data") ok = user_data(v, p, ev.user_data);
        else if (k == "custom_data") ok = custom_data(v, p, ev.custom_data);
        else if (k == "action_source") ok = action_source(v, p, ev.action_source);
        else if (k == "event_source_url") ok = text(v, p, ev.event_source_url);
        else if (k == "event_id") ok = text(v, p, ev.event_id);
        else if (k == "opt_out") ok = boolean(v, p, ev.opt_out);
        else if (k == "referrer_url") ok = text(v, p, ev.referrer_url);
        else if (k == "messaging_channel")
            ok = enumerated(v, p, ev.messaging_channel, &parse_messaging_channel,
                            "expected one of whatsapp, messenger, instagram");
        else if (k == "data_processing_options") ok = text_array(v, p, ev.data_processing_options);
        else if (k == "data_processing_options_country") ok = integer(v, p, ev.data_processing_options_country);
        else if (k == "data_processing_options_state") ok = integer(v, p, ev.data_processing_options_state);
        else if (k == "advanced_measurement_table") ok = text(v, p, ev.advanced_measurement_table);
        else if (k == "app_data") ok = app_data(v, p, ev.app_data);
        else if (k == "original_event_data") ok = original_event_data(v, p, ev.original_event_data);
        else if (k == "attribution_data") ok = attribution_data(v, p, ev.attribution_data);
        else ok = unknown(k, v, p, ev.extra);
        if (!ok) return false;
    }
    return true;
}

bool walker::user_data(dom::element v, const path_node& p, UserData& u) {
    if (v.type() == element_type::NULL_VALUE) return true;
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "em") ok = multi(e, at, u.em);
        else if (k == "ph") ok = multi_numeric(e, at, u.ph);
        else if (k == "fn") ok = multi(e, at, u.fn);
        else if (k == "ln") ok = multi(e, at, u.ln);
        else if (k == "ge") ok = multi(e, at, u.ge);
        else if (k == "db") ok = multi_numeric(e, at, u.db);
        else if (k == "ct") ok = multi(e, at, u.ct);
        else if (k == "st") ok = multi(e, at, u.st);
        else if (k == "zp") ok = multi_numeric(e, at, u.zp);
        else if (k == "country") ok = multi(e, at, u.country);
        else if (k == "external_id") ok = multi_numeric(e, at, u.external_id);
        else if (k == "client_ip_address") ok = text(e, at, u.client_ip_address);
        else if (k == "client_user_agent") ok = text(e, at, u.client_user_agent);
        else if (k == "fbc") ok = text(e, at, u.fbc);
        else if (k == "fbp") ok = text(e, at, u.fbp);
        else if (k == "f5first") ok = text(e, at, u.f5first);
        else if (k == "f5last") ok = text(e, at, u.f5last);
        else if (k == "fi") ok = text(e, at, u.fi);
        else if (k == "dobd") ok = text_or_number(e, at, u.dobd);
        else if (k == "dobm") ok = text_or_number(e, at, u.dobm);
        else if (k == "doby") ok = text_or_number(e, at, u.doby);
        else if (k == "subscription_id") ok = text(e, at, u.subscription_id);
        else if (k == "fb_login_id") ok = text(e, at, u.fb_login_id);
        else if (k == "lead_id") ok = text(e, at, u.lead_id);
        else if (k == "anon_id") ok = text(e, at, u.anon_id);
        else if (k == "madid") ok = text(e, at, u.madid);
        else if (k == "page_id") ok = text(e, at, u.page_id);
        else if (k == "page_scoped_user_id") ok = text(e, at, u.page_scoped_user_id);
        else if (k == "ctwa_clid") ok = text(e, at, u.ctwa_clid);
        else if (k == "ig_account_id") ok = text(e, at, u.ig_account_id);
        else if (k == "ig_sid") ok = text(e, at, u.ig_sid);
        else ok = unknown(k, e, at, u.extra);
        return ok;
    });
}

bool walker::custom_data(dom::element v, const path_node& p, std::optional<CustomData>& out) {
    if (v.type() == element_type::NULL_VALUE) return true;
    CustomData& c = out.emplace();
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "value") ok = number(e, at, c.value);
        else if (k == "currency") ok = text(e, at, c.currency);
        else if (k == "content_ids") ok = e.type() == element_type::NULL_VALUE || text_array(e, at, c.content_ids, true);
        else if (k == "contents") {
            if (e.type() == element_type::NULL_VALUE) return true;
            if (e.type() != element_type::ARRAY) return fail(at, "expected an array of objects");
            const dom::array arr = e.get_array().value_unsafe();
            std::size_t i = 0;
            for (dom::element item : arr) {
                if (!content(item, element_at(&at, i++), c.contents.emplace_back())) return false;
            }
            ok = true;
        }
        else if (k == "content_type") ok = text(e, at, c.content_type);
        else if (k == "content_name") ok = text(e, at, c.content_name);
        else if (k == "content_category") ok = text(e, at, c.content_category);
        else if (k == "order_id") ok = text(e, at, c.order_id);
        else if (k == "num_items") ok = integer(e, at, c.num_items);
        else if (k == "net_revenue") ok = number(e, at, c.net_revenue);
        else if (k == "predicted_ltv") ok = number(e, at, c.predicted_ltv);
        else if (k == "status") ok = text(e, at, c.status);
        else if (k == "search_string") ok = text(e, at, c.search_string);
        else if (k == "item_number") ok = text(e, at, c.item_number);
        else if (k == "delivery_category") ok = delivery(e, at, c.delivery_category);
        else {
            // Meta's wire format has no custom_properties object: custom keys sit
            // beside the typed ones, so anything else is one, never an error.
            c.custom_properties.push_back({std::string(k), simdjson::to_string(e)});
            ok = true;
        }
        return ok;
    });
}

bool walker::content(dom::element v, const path_node& p, Content& c) {
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "id") ok = text_or_number(e, at, c.id);  // like content_ids
        else if (k == "quantity") ok = integer(e, at, c.quantity);
        else if (k == "item_price") ok = number(e, at, c.item_price);
        else if (k == "title") ok = text(e, at, c.title);
        else if (k == "description") ok = text(e, at, c.description);
        else if (k == "brand") ok = text(e, at, c.brand);
        else if (k == "category") ok = text(e, at, c.category);
        else if (k == "delivery_category") ok = delivery(e, at, c.delivery_category);
        else ok = unknown(k, e, at, c.extra);
        return ok;
    });
}

bool walker::app_data(dom::element v, const path_node& p, std::optional<AppData>& out) {
    if (v.type() == element_type::NULL_VALUE) return true;
    AppData& a = out.emplace();
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "application_tracking_enabled") ok = boolean(e, at, a.application_tracking_enabled);
        else if (k == "advertiser_tracking_enabled") ok = boolean(e, at, a.advertiser_tracking_enabled);
        else if (k == "consider_views") ok = boolean(e, at, a.consider_views);
        else if (k == "include_dwell_data") ok = boolean(e, at, a.include_dwell_data);
        else if (k == "include_video_data") ok = boolean(e, at, a.include_video_data);
        else if (k == "campaign_ids") ok = text(e, at, a.campaign_ids);
        else if (k == "install_referrer") ok = text(e, at, a.install_referrer);
        else if (k == "installer_package") ok = text(e, at, a.installer_package);
        else if (k == "receipt_data") ok = text(e, at, a.receipt_data);
        else if (k == "windows_attribution_id") ok = text(e, at, a.windows_attribution_id);
        else if (k == "anon_id") ok = text(e, at, a.anon_id);
        else if (k == "app_user_id") ok = text(e, at, a.app_user_id);
        else if (k == "url_schemes") ok = e.type() == element_type::NULL_VALUE || text_array(e, at, a.url_schemes, false);
        // Screen sizes, densities and core counts are often sent as numbers.
        else if (k == "extinfo") ok = e.type() == element_type::NULL_VALUE || text_array(e, at, a.extinfo, true);
        else ok = unknown(k, e, at, a.extra);
        return ok;
    });
}

bool walker::original_event_data(dom::element v, const path_node& p,
                                 std::optional<OriginalEventData>& out) {
    if (v.type() == element_type::NULL_VALUE) return true;
    OriginalEventData& o = out.emplace();
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "event_name") ok = text(e, at, o.event_name);
        else if (k == "event_time") ok = timestamp(e, at, o.event_time);
        else if (k == "order_id") ok = text(e, at, o.order_id);
        else if (k == "event_id") ok = text(e, at, o.event_id);
        else ok = unknown(k, e, at, o.extra);
        return ok;
    });
}

bool walker::attribution_setting(dom::element v, const path_node& p,
                                 std::optional<AttributionSetting>& out) {
    if (v.type() == element_type::NULL_VALUE) return true;
    AttributionSetting& s = out.emplace();
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "inactivity_window_hours") ok = integer(e, at, s.inactivity_window_hours);
        else if (k == "reattribution_window_hours") ok = integer(e, at, s.reattribution_window_hours);
        // AttributionSetting has nowhere to keep extra members, so an unknown key
        // is an error even with pass_unknown_keys.
        else ok = fail(at, "unknown key");
        return ok;
    });
}

bool walker::attribution_data(dom::element v, const path_node& p, std::optional<AttributionData>& out) {
    if (v.type() == element_type::NULL_VALUE) return true;
    AttributionData& a = out.emplace();
    return members(v, p, [&](std::string_view k, dom::element e, const path_node& at) {
        bool ok;
        if (k == "scope") ok = text(e, at, a.scope);
        else if (k == "visit_time") ok = integer(e, at, a.visit_time);
        else if (k == "ad_id") ok = text(e, at, a.ad_id);
        else if (k == "adset_id") ok = text(e, at, a.adset_id);
        else if (k == "campaign_id") ok = text(e, at, a.campaign_id);
        else if (k == "attribution_share") ok = number(e, at, a.attribution_share);
        else if (k == "attribution_model") ok = text(e, at, a.attribution_model);
        else if (k == "attr_window") ok = integer(e, at, a.attr_window);
        else if (k == "attribution_value") ok = number(e, at, a.attribution_value);
        else if (k == "attribution_source") ok = text(e, at, a.attribution_source);
        else if (k == "touchpoint_type") ok = text(e, at, a.touchpoint_type);
        else if (k == "touchpoint_ts") ok = integer(e, at, a.touchpoint_ts);
        else if (k == "attribution_method") ok = text(e, at, a.attribution_method);
        else if (k == "decline_reason") ok = text(e, at, a.decline_reason);
        else if (k == "auditing_token") ok = text(e, at, a.auditing_token);
        else if (k == "linkage_key") ok = text(e, at, a.linkage_key);
        else if (k == "touchpoint_id") ok = text(e, at, a.touchpoint_id);
        else if (k == "attribution_setting") ok = attribution_setting(e, at, a.attribution_setting);
        else if (k == "total_credit") ok = number(e, at, a.total_credit);
        else if (k == "partner_client_id") ok = text(e, at, a.partner_client_id);
        else ok = unknown(k, e, at, a.extra);
        return ok;
    });
}

} // namespace

struct EventReader::impl {
    ReaderOptions options;
    dom::parser parser;
    // The input is copied here with simdjson's padding after it: a caller's
    // string_view promises no readable bytes past its end.
    std::unique_ptr<char[]> buffer;
    std::size_t capacity = 0;
    std::vector<std::string_view> keys;  // scratch for the duplicate-key check
};

EventReader::EventReader(ReaderOptions options) : impl_(std::make_unique<impl>()) {
    impl_->options = options;
}
EventReader::~EventReader() = default;
EventReader::EventReader(EventReader&&) noexcept = default;
EventReader& EventReader::operator=(EventReader&&) noexcept = default;

bool EventReader::parse(std::string_view json, Event& out, FieldError& error) {
    out = Event{};
    error = FieldError{};
    try {
        impl& s = *impl_;
        const std::size_t need = json.size() + simdjson::SIMDJSON_PADDING;
        if (need > s.capacity) {
            const std::size_t cap = std::max(need, s.capacity * 2);
            s.buffer.reset(new char[cap]());  // zeroed: padding is read, never used
            s.capacity = cap;
        }
        if (!json.empty()) std::memcpy(s.buffer.get(), json.data(), json.size());

        dom::element root;
        if (const auto err = s.parser.parse(s.buffer.get(), json.size(), false).get(root)) {
            error.reason = "invalid JSON: ";
            error.reason += simdjson::error_message(err);
            return false;
        }
        walker w(s.options, error, s.keys);
        if (!w.event(root, out)) {
            out = Event{};  // no half-read event escapes a failure
            return false;
        }
        return true;
    } catch (const std::bad_alloc&) {
        // Only allocation can throw here (simdjson is used through error codes).
        out = Event{};
        error.path.clear();
        error.reason = "out of memory";
        return false;
    }
}

} // namespace capi
