// Internal: Meta's wire contract, written once.
//
// One table per object of the event model (include/capi/event.hpp): each row is
// a wire key, the struct member it fills, its kind, its normalization rule
// (capi::Field, for normalized keys) and flags for the reader's leniencies and
// the validator's limits. The rows are in wire order: the encoder writes them in
// this order, so reordering rows changes the bytes on the wire.
//
// The reader's dispatch, the validator's key sets, customer-information rule and
// UTF-8 sweep, the encoder, normalize's key names, the dropped-PII report of
// `capi send` and the key table of docs/event-model.md all derive from these
// tables. Adding a Meta field is one row here plus the struct member;
// test/wire_schema_test.cpp fails when a member has no row.
//
// Everything is in types (a row is an empty struct whose key, member, kind and
// flags are template arguments), so walking a table is a fold expression over
// compile-time constants: no loop, no lookup, nothing left at run time that the
// hand-written code did not have.
#pragma once

#include <capi/event.hpp>
#include <capi/normalize.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace capi::wire {

/// What a key holds on the wire, and what capi does to it.
enum class Kind : std::uint8_t {
    hashed_list,  ///< several values: normalized, SHA-256 each, sent as an array
    hashed,       ///< one value: normalized, then SHA-256
    normalized,   ///< one value: normalized, never hashed (currency)
    string,       ///< sent as given
    integer,
    number,       ///< a finite double
    boolean,
    enumeration,  ///< one of a fixed set of names
    string_list,  ///< an array of strings, sent as given
    object,       ///< a nested object with its own table
    object_list,  ///< an array of nested objects
    raw,          ///< RawMembers: extra members merged into the object
};

/// Name of a kind, as docs/event-model.md's key table spells it.
constexpr std::string_view to_string(Kind k) noexcept {
    switch (k) {
    case Kind::hashed_list: return "hashed list";
    case Kind::hashed: return "hashed";
    case Kind::normalized: return "normalized";
    case Kind::string: return "string";
    case Kind::integer: return "integer";
    case Kind::number: return "number";
    case Kind::boolean: return "boolean";
    case Kind::enumeration: return "enum";
    case Kind::string_list: return "string list";
    case Kind::object: return "object";
    case Kind::object_list: return "object list";
    case Kind::raw: return "raw members";
    }
    return {};
}

/// Per-row rules beyond the kind.
enum Flag : unsigned {
    none = 0,
    /// Reader: a JSON number is taken as its decimal text (identifiers and digits
    /// people keep as numbers: ph, zp, db, dob*, external_id, content ids, extinfo).
    numbers_as_text = 1u << 0,
    /// Reader: Unix seconds may arrive as a string of digits.
    digits_string = 1u << 1,
    /// Validator: must not be negative.
    non_negative = 1u << 2,
    /// Validator: an absolute http(s) URL with a host.
    http_url = 1u << 3,
    /// Validator: an IPv4 or IPv6 address.
    ip_address = 1u << 4,
    /// Validator: fb.<subdomain index>.<creation time>.<fbclid> (the _fbc cookie).
    fb_click_cookie = 1u << 5,
    /// Validator: fb.<subdomain index>.<creation time>.<random> (the _fbp cookie).
    fb_browser_cookie = 1u << 6,
    /// Validator: every element is "LDU".
    ldu = 1u << 7,
    /// Validator: one of Meta's attribution methods.
    attribution_method = 1u << 8,
    /// Encoder: sent only with data_processing_options (its country and state).
    with_dpo = 1u << 9,
    /// Raw members: any key that is not typed is one of them, never an error
    /// (custom_data's custom properties sit beside the typed keys).
    open = 1u << 10,
};

/// A wire key as a template argument.
template <std::size_t N>
struct key_literal {
    char chars[N]{};
    constexpr key_literal(const char (&s)[N]) noexcept { std::copy_n(s, N, chars); }
    constexpr std::string_view view() const noexcept { return {chars, N - 1}; }
};

template <class M>
struct member_traits;
template <class C, class T>
struct member_traits<T C::*> {
    using object = C;
    using value = T;
};

/// One field of an object. Empty: everything is in the type.
template <key_literal Key, auto Member, Kind K, unsigned Flags = none, Field F = Field::currency>
struct row {
    static constexpr std::string_view key = Key.view();
    static constexpr auto member = Member;
    using object = typename member_traits<decltype(Member)>::object;
    using value = typename member_traits<decltype(Member)>::value;
    static constexpr Kind kind = K;
    static constexpr unsigned flags = Flags;
    /// The normalization rule (hashed, hashed_list, normalized rows only).
    static constexpr Field field = F;
    static constexpr bool has(unsigned f) noexcept { return (Flags & f) != 0; }
    static constexpr bool is_hashed() noexcept { return K == Kind::hashed || K == Kind::hashed_list; }
};

/// True when row R fills member M (member pointers of other types compare unequal).
template <class R, auto M>
inline constexpr bool is_member =
    std::is_same_v<std::integral_constant<std::remove_cv_t<decltype(R::member)>, R::member>,
                   std::integral_constant<decltype(M), M>>;
static_assert(is_member<row<"x", &Event::event_id, Kind::string>, &Event::event_id>);
static_assert(!is_member<row<"x", &Event::event_id, Kind::string>, &Event::referrer_url>);
static_assert(!is_member<row<"x", &Event::event_id, Kind::string>, &Event::event_time>);

/// An object's table.
template <class... Rows>
struct table {
    static constexpr std::size_t size = sizeof...(Rows);

    /// f(row{}) for every row, in wire order.
    template <class F>
    static constexpr void each(F&& f) {
        (f(Rows{}), ...);
    }
    /// f(row{}) in wire order until one returns true; whether one did.
    template <class F>
    static constexpr bool any(F&& f) {
        return (f(Rows{}) || ...);
    }
    /// True when `key` is a typed key of the object (raw members must not reuse one).
    static constexpr bool has_key(std::string_view key) noexcept {
        return ((Rows::kind != Kind::raw && Rows::key == key) || ...);
    }
    /// Rows of kind k.
    static constexpr std::size_t count(Kind k) noexcept { return ((Rows::kind == k ? 1 : 0) + ... + 0); }
};

template <class T>
struct schema;

// clang-format off
template <>
struct schema<UserData> : table<
    row<"em", &UserData::em, Kind::hashed_list, none, Field::em>,
    row<"ph", &UserData::ph, Kind::hashed_list, numbers_as_text, Field::ph>,
    row<"fn", &UserData::fn, Kind::hashed_list, none, Field::fn>,
    row<"ln", &UserData::ln, Kind::hashed_list, none, Field::ln>,
    row<"ge", &UserData::ge, Kind::hashed_list, none, Field::ge>,
    row<"db", &UserData::db, Kind::hashed_list, numbers_as_text, Field::db>,
    row<"ct", &UserData::ct, Kind::hashed_list, none, Field::ct>,
    row<"st", &UserData::st, Kind::hashed_list, none, Field::st>,
    row<"zp", &UserData::zp, Kind::hashed_list, numbers_as_text, Field::zp>,
    row<"country", &UserData::country, Kind::hashed_list, none, Field::country>,
    // Sent raw unless EncodeOptions::hash_external_id: "hashed" only when asked.
    row<"external_id", &UserData::external_id, Kind::hashed_list, numbers_as_text, Field::external_id>,
    row<"f5first", &UserData::f5first, Kind::hashed, none, Field::f5first>,
    row<"f5last", &UserData::f5last, Kind::hashed, none, Field::f5last>,
    row<"fi", &UserData::fi, Kind::hashed, none, Field::fi>,
    row<"dobd", &UserData::dobd, Kind::hashed, numbers_as_text, Field::dobd>,
    row<"dobm", &UserData::dobm, Kind::hashed, numbers_as_text, Field::dobm>,
    row<"doby", &UserData::doby, Kind::hashed, numbers_as_text, Field::doby>,
    row<"client_ip_address", &UserData::client_ip_address, Kind::string, ip_address>,
    row<"client_user_agent", &UserData::client_user_agent, Kind::string>,
    row<"fbc", &UserData::fbc, Kind::string, fb_click_cookie>,
    row<"fbp", &UserData::fbp, Kind::string, fb_browser_cookie>,
    row<"subscription_id", &UserData::subscription_id, Kind::string>,
    row<"fb_login_id", &UserData::fb_login_id, Kind::string>,
    row<"lead_id", &UserData::lead_id, Kind::string>,
    row<"anon_id", &UserData::anon_id, Kind::string>,
    row<"madid", &UserData::madid, Kind::string>,
    row<"page_id", &UserData::page_id, Kind::string>,
    row<"page_scoped_user_id", &UserData::page_scoped_user_id, Kind::string>,
    row<"ctwa_clid", &UserData::ctwa_clid, Kind::string>,
    row<"ig_account_id", &UserData::ig_account_id, Kind::string>,
    row<"ig_sid", &UserData::ig_sid, Kind::string>,
    row<"extra", &UserData::extra, Kind::raw>> {
    static constexpr std::string_view name = "user_data";
};

template <>
struct schema<Content> : table<
    row<"id", &Content::id, Kind::string, numbers_as_text>,  // like content_ids
    row<"quantity", &Content::quantity, Kind::integer, non_negative>,
    row<"item_price", &Content::item_price, Kind::number>,
    row<"title", &Content::title, Kind::string>,
    row<"description", &Content::description, Kind::string>,
    row<"brand", &Content::brand, Kind::string>,
    row<"category", &Content::category, Kind::string>,
    row<"delivery_category", &Content::delivery_category, Kind::enumeration>,
    row<"extra", &Content::extra, Kind::raw>> {
    static constexpr std::string_view name = "custom_data.contents";
};

template <>
struct schema<CustomData> : table<
    row<"value", &CustomData::value, Kind::number>,
    row<"currency", &CustomData::currency, Kind::normalized, none, Field::currency>,
    row<"content_name", &CustomData::content_name, Kind::string>,
    row<"content_category", &CustomData::content_category, Kind::string>,
    row<"content_ids", &CustomData::content_ids, Kind::string_list, numbers_as_text>,
    row<"contents", &CustomData::contents, Kind::object_list>,
    row<"content_type", &CustomData::content_type, Kind::string>,
    row<"order_id", &CustomData::order_id, Kind::string>,
    row<"predicted_ltv", &CustomData::predicted_ltv, Kind::number>,
    row<"net_revenue", &CustomData::net_revenue, Kind::number>,
    row<"num_items", &CustomData::num_items, Kind::integer, non_negative>,
    row<"status", &CustomData::status, Kind::string>,
    row<"search_string", &CustomData::search_string, Kind::string>,
    row<"item_number", &CustomData::item_number, Kind::string>,
    row<"delivery_category", &CustomData::delivery_category, Kind::enumeration>,
    row<"custom_properties", &CustomData::custom_properties, Kind::raw, open>> {
    static constexpr std::string_view name = "custom_data";
};

template <>
struct schema<AppData> : table<
    row<"application_tracking_enabled", &AppData::application_tracking_enabled, Kind::boolean>,
    row<"advertiser_tracking_enabled", &AppData::advertiser_tracking_enabled, Kind::boolean>,
    row<"campaign_ids", &AppData::campaign_ids, Kind::string>,
    row<"consider_views", &AppData::consider_views, Kind::boolean>,
    // Screen sizes, densities and core counts are often sent as numbers.
    row<"extinfo", &AppData::extinfo, Kind::string_list, numbers_as_text>,
    row<"include_dwell_data", &AppData::include_dwell_data, Kind::boolean>,
    row<"include_video_data", &AppData::include_video_data, Kind::boolean>,
    row<"install_referrer", &AppData::install_referrer, Kind::string>,
    row<"installer_package", &AppData::installer_package, Kind::string>,
    row<"receipt_data", &AppData::receipt_data, Kind::string>,
    row<"url_schemes", &AppData::url_schemes, Kind::string_list>,
    row<"windows_attribution_id", &AppData::windows_attribution_id, Kind::string>,
    row<"anon_id", &AppData::anon_id, Kind::string>,
    row<"app_user_id", &AppData::app_user_id, Kind::string>,
    row<"extra", &AppData::extra, Kind::raw>> {
    static constexpr std::string_view name = "app_data";
};

template <>
struct schema<OriginalEventData> : table<
    row<"event_name", &OriginalEventData::event_name, Kind::string>,
    row<"event_time", &OriginalEventData::event_time, Kind::integer, digits_string>,
    row<"order_id", &OriginalEventData::order_id, Kind::string>,
    row<"event_id", &OriginalEventData::event_id, Kind::string>,
    row<"extra", &OriginalEventData::extra, Kind::raw>> {
    static constexpr std::string_view name = "original_event_data";
};

// No raw row: AttributionSetting has nowhere to keep extra members, so the
// reader refuses an unknown key in it even with pass_unknown_keys.
template <>
struct schema<AttributionSetting> : table<
    row<"inactivity_window_hours", &AttributionSetting::inactivity_window_hours, Kind::integer>,
    row<"reattribution_window_hours", &AttributionSetting::reattribution_window_hours, Kind::integer>> {
    static constexpr std::string_view name = "attribution_data.attribution_setting";
};

template <>
struct schema<AttributionData> : table<
    row<"scope", &AttributionData::scope, Kind::string>,
    row<"visit_time", &AttributionData::visit_time, Kind::integer>,
    row<"ad_id", &AttributionData::ad_id, Kind::string>,
    row<"adset_id", &AttributionData::adset_id, Kind::string>,
    row<"campaign_id", &AttributionData::campaign_id, Kind::string>,
    row<"attribution_share", &AttributionData::attribution_share, Kind::number>,
    row<"attribution_model", &AttributionData::attribution_model, Kind::string>,
    row<"attr_window", &AttributionData::attr_window, Kind::integer>,
    row<"attribution_value", &AttributionData::attribution_value, Kind::number>,
    row<"attribution_source", &AttributionData::attribution_source, Kind::string>,
    row<"touchpoint_type", &AttributionData::touchpoint_type, Kind::string>,
    row<"touchpoint_ts", &AttributionData::touchpoint_ts, Kind::integer>,
    row<"attribution_method", &AttributionData::attribution_method, Kind::string, attribution_method>,
    row<"decline_reason", &AttributionData::decline_reason, Kind::string>,
    row<"auditing_token", &AttributionData::auditing_token, Kind::string>,
    row<"linkage_key", &AttributionData::linkage_key, Kind::string>,
    row<"touchpoint_id", &AttributionData::touchpoint_id, Kind::string>,
    row<"attribution_setting", &AttributionData::attribution_setting, Kind::object>,
    row<"total_credit", &AttributionData::total_credit, Kind::number>,
    row<"partner_client_id", &AttributionData::partner_client_id, Kind::string>,
    row<"extra", &AttributionData::extra, Kind::raw>> {
    static constexpr std::string_view name = "attribution_data";
};

template <>
struct schema<Event> : table<
    row<"event_name", &Event::event_name, Kind::string>,
    row<"event_time", &Event::event_time, Kind::integer, digits_string>,
    row<"event_id", &Event::event_id, Kind::string>,
    row<"event_source_url", &Event::event_source_url, Kind::string, http_url>,
    row<"referrer_url", &Event::referrer_url, Kind::string, http_url>,
    row<"action_source", &Event::action_source, Kind::enumeration>,
    row<"opt_out", &Event::opt_out, Kind::boolean>,
    row<"messaging_channel", &Event::messaging_channel, Kind::enumeration>,
    row<"data_processing_options", &Event::data_processing_options, Kind::string_list, ldu>,
    row<"data_processing_options_country", &Event::data_processing_options_country, Kind::integer,
        non_negative | with_dpo>,
    row<"data_processing_options_state", &Event::data_processing_options_state, Kind::integer,
        non_negative | with_dpo>,
    row<"advanced_measurement_table", &Event::advanced_measurement_table, Kind::string>,
    row<"user_data", &Event::user_data, Kind::object>,
    row<"custom_data", &Event::custom_data, Kind::object>,
    row<"app_data", &Event::app_data, Kind::object>,
    row<"original_event_data", &Event::original_event_data, Kind::object>,
    row<"attribution_data", &Event::attribution_data, Kind::object>,
    row<"extra", &Event::extra, Kind::raw>> {
    static constexpr std::string_view name = "";
};

/// Request-level fields, sent beside `data` (access_token is the transport's).
template <>
struct schema<RequestFields> : table<
    row<"test_event_code", &RequestFields::test_event_code, Kind::string>,
    row<"partner_agent", &RequestFields::partner_agent, Kind::string>,
    row<"namespace_id", &RequestFields::namespace_id, Kind::string>,
    row<"upload_id", &RequestFields::upload_id, Kind::string>,
    row<"upload_tag", &RequestFields::upload_tag, Kind::string>,
    row<"upload_source", &RequestFields::upload_source, Kind::string>> {
    static constexpr std::string_view name = "";
};
// clang-format on

// ---- enumerations --------------------------------------------------------------

template <class E>
struct enum_info;
template <>
struct enum_info<ActionSource> {
    static std::optional<ActionSource> parse(std::string_view s) noexcept { return parse_action_source(s); }
    static constexpr std::string_view expected =
        "expected one of email, website, app, phone_call, chat, physical_store, "
        "system_generated, business_messaging, other";
};
template <>
struct enum_info<DeliveryCategory> {
    static std::optional<DeliveryCategory> parse(std::string_view s) noexcept { return parse_delivery_category(s); }
    static constexpr std::string_view expected = "expected one of in_store, curbside, home_delivery";
};
template <>
struct enum_info<MessagingChannel> {
    static std::optional<MessagingChannel> parse(std::string_view s) noexcept { return parse_messaging_channel(s); }
    static constexpr std::string_view expected = "expected one of whatsapp, messenger, instagram";
};

// ---- user_data's normalized keys, as flat arrays for the hot loops --------------

/// A multi-valued normalized user_data key.
struct MultiKey {
    Field field;
    std::vector<std::string> UserData::*member;
    std::string_view key;
};
/// A single-valued normalized user_data key.
struct SingleKey {
    Field field;
    std::optional<std::string> UserData::*member;
    std::string_view key;
};
/// A user_data key sent as given.
struct PlainKey {
    std::string_view key;
    std::optional<std::string> UserData::*member;
    unsigned flags;  ///< the row's Flag bits (the validator's rules)
};

namespace detail {
template <Kind K, class Out>
constexpr auto user_rows() {
    std::array<Out, schema<UserData>::count(K)> out{};
    std::size_t i = 0;
    schema<UserData>::each([&](auto r) {
        using R = decltype(r);
        if constexpr (R::kind == K) {
            if constexpr (std::is_same_v<Out, PlainKey>) out[i++] = Out{R::key, R::member, R::flags};
            else out[i++] = Out{R::field, R::member, R::key};
        }
    });
    return out;
}
} // namespace detail

/// user_data's keys by kind, in wire order.
inline constexpr auto user_multi_keys = detail::user_rows<Kind::hashed_list, MultiKey>();
inline constexpr auto user_single_keys = detail::user_rows<Kind::hashed, SingleKey>();
inline constexpr auto user_plain_keys = detail::user_rows<Kind::string, PlainKey>();
static_assert(user_multi_keys.size() + user_single_keys.size() + user_plain_keys.size() + 1 ==
              schema<UserData>::size, "user_data rows are hashed lists, hashed, plain strings and raw members");

/// Wire key of every capi::Field, indexed by the enum (normalize's to_string).
inline constexpr auto field_keys = [] {
    std::array<std::string_view, field_count> keys{};
    auto put = [&](auto r) {
        using R = decltype(r);
        if constexpr (R::kind == Kind::hashed || R::kind == Kind::hashed_list || R::kind == Kind::normalized)
            keys[static_cast<std::size_t>(R::field)] = R::key;
    };
    schema<UserData>::each(put);
    schema<CustomData>::each(put);
    return keys;
}();
static_assert(std::find(field_keys.begin(), field_keys.end(), std::string_view{}) == field_keys.end(),
              "every capi::Field has a row");

} // namespace capi::wire
