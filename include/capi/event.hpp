// capi: the event model of Meta's Conversions API.
//
// Plain aggregates named after Meta's wire keys. Customer information (user_data)
// is held as the caller gave it, in clear or already hashed; the encoder normalizes
// and hashes it when the event is serialized (see normalize.hpp). Every optional
// field that is unset is omitted on the wire.
//
// Thread safety: plain values; distinct objects safe, shared objects unsafe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // exported: docs/install.md#symbol-visibility
namespace capi {

/// Extra members for fields the typed model lacks (Meta adds fields faster than
/// SDKs follow). Each entry is a key and its value as raw JSON text (`"\"x\""`,
/// `42`, `{"a":1}`). Validation checks the JSON is well-formed and that no key
/// repeats a typed key of the same object: a raw member never silently overrides.
struct RawMember {
    std::string key;
    std::string json;
};
using RawMembers = std::vector<RawMember>;

/// The 17 standard event names of Meta's pixel and Conversions API; any other
/// name is a custom event and is sent as given.
namespace event_names {
inline constexpr std::string_view add_payment_info = "AddPaymentInfo";
inline constexpr std::string_view add_to_cart = "AddToCart";
inline constexpr std::string_view add_to_wishlist = "AddToWishlist";
inline constexpr std::string_view complete_registration = "CompleteRegistration";
inline constexpr std::string_view contact = "Contact";
inline constexpr std::string_view customize_product = "CustomizeProduct";
inline constexpr std::string_view donate = "Donate";
inline constexpr std::string_view find_location = "FindLocation";
inline constexpr std::string_view initiate_checkout = "InitiateCheckout";
inline constexpr std::string_view lead = "Lead";
inline constexpr std::string_view purchase = "Purchase";
inline constexpr std::string_view schedule = "Schedule";
inline constexpr std::string_view search = "Search";
inline constexpr std::string_view start_trial = "StartTrial";
inline constexpr std::string_view submit_application = "SubmitApplication";
inline constexpr std::string_view subscribe = "Subscribe";
inline constexpr std::string_view view_content = "ViewContent";

inline constexpr std::array<std::string_view, 17> standard = {
    add_payment_info, add_to_cart, add_to_wishlist, complete_registration, contact,
    customize_product, donate, find_location, initiate_checkout, lead, purchase,
    schedule, search, start_trial, submit_application, subscribe, view_content};
} // namespace event_names

/// True when `name` is one of the 17 standard events (case-sensitive, as Meta).
bool is_standard_event(std::string_view name) noexcept;

enum class ActionSource : std::uint8_t {
    unset,
    email,
    website,
    app,
    phone_call,
    chat,
    physical_store,
    system_generated,
    business_messaging,
    other,
};
/// Wire name ("website", ...); empty for `unset`.
std::string_view to_string(ActionSource) noexcept;
/// Parses a wire name; nullopt when it is not one of the nine values.
std::optional<ActionSource> parse_action_source(std::string_view) noexcept;

enum class DeliveryCategory : std::uint8_t { in_store, curbside, home_delivery };
std::string_view to_string(DeliveryCategory) noexcept;
std::optional<DeliveryCategory> parse_delivery_category(std::string_view) noexcept;

enum class MessagingChannel : std::uint8_t { whatsapp, messenger, instagram };
std::string_view to_string(MessagingChannel) noexcept;
std::optional<MessagingChannel> parse_messaging_channel(std::string_view) noexcept;

/// Customer information parameters. Multi-valued keys are sent as JSON arrays;
/// values are normalized and deduplicated (order kept) when encoded.
struct UserData {
    // Hashed (normalized, then SHA-256) unless already a SHA-256/MD5 hex digest.
    std::vector<std::string> em, ph, fn, ln, ge, db, ct, st, zp, country;
    // Sent raw by default (EncodeOptions::hash_external_id hashes it).
    std::vector<std::string> external_id;
    // Single-valued hashed keys.
    std::optional<std::string> f5first, f5last, fi, dobd, dobm, doby;
    // Sent as given, never hashed.
    std::optional<std::string> client_ip_address, client_user_agent, fbc, fbp,
        subscription_id, fb_login_id, lead_id, anon_id, madid, page_id,
        page_scoped_user_id, ctwa_clid, ig_account_id, ig_sid;
    RawMembers extra;
};

struct Content {
    std::optional<std::string> id;
    std::optional<std::int64_t> quantity;
    std::optional<double> item_price;
    std::optional<std::string> title, description, brand, category;
    std::optional<DeliveryCategory> delivery_category;
    RawMembers extra;
};

struct CustomData {
    std::optional<double> value, net_revenue, predicted_ltv;
    /// ISO 4217; normalized to lowercase letters, never hashed.
    std::optional<std::string> currency;
    std::optional<std::string> content_name, content_category, content_type, order_id,
        status, search_string, item_number;
    std::vector<std::string> content_ids;
    std::vector<Content> contents;
    std::optional<std::int64_t> num_items;
    std::optional<DeliveryCategory> delivery_category;
    /// Merged into custom_data on the wire; a key equal to a typed key is an error.
    RawMembers custom_properties;
};

struct AppData {
    std::optional<bool> application_tracking_enabled, advertiser_tracking_enabled,
        consider_views, include_dwell_data, include_video_data;
    std::optional<std::string> campaign_ids, install_referrer, installer_package,
        receipt_data, windows_attribution_id, anon_id, app_user_id;
    std::vector<std::string> url_schemes;
    /// Positional: version (a2 Android, i2 iOS), app_package_name, short_version,
    /// long_version, os_version, device_model_name, locale, timezone_abbreviation,
    /// carrier, screen_width, screen_height, screen_density, cpu_core_count,
    /// total_disk_space_gb, free_disk_space_gb, device_time_zone. Exactly 16 when set
    /// (empty strings as placeholders).
    std::vector<std::string> extinfo;
    RawMembers extra;
};
inline constexpr std::size_t extinfo_size = 16;

struct OriginalEventData {
    std::optional<std::string> event_name;
    std::optional<std::int64_t> event_time;
    std::optional<std::string> order_id, event_id;
    RawMembers extra;
};

struct AttributionSetting {
    std::optional<std::int64_t> inactivity_window_hours, reattribution_window_hours;
};

struct AttributionData {
    std::optional<std::string> scope;
    std::optional<std::int64_t> visit_time;
    std::optional<std::string> ad_id, adset_id, campaign_id;
    std::optional<double> attribution_share;
    std::optional<std::string> attribution_model;
    std::optional<std::int64_t> attr_window;
    std::optional<double> attribution_value;
    std::optional<std::string> attribution_source, touchpoint_type;
    std::optional<std::int64_t> touchpoint_ts;
    /// One of ard, deeplink, gpir, invalid_response, mir, srn.
    std::optional<std::string> attribution_method;
    std::optional<std::string> decline_reason, auditing_token, linkage_key, touchpoint_id;
    std::optional<AttributionSetting> attribution_setting;
    std::optional<double> total_credit;
    std::optional<std::string> partner_client_id;
    RawMembers extra;
};

/// One server event.
struct Event {
    std::string event_name;       ///< required; a standard name or a custom one
    std::int64_t event_time = 0;  ///< required; Unix seconds (UTC)
    std::optional<std::string> event_id;  ///< dedup key with event_name; kept across retries
    std::optional<std::string> event_source_url;
    std::optional<std::string> referrer_url;
    ActionSource action_source = ActionSource::unset;  ///< required
    std::optional<bool> opt_out;
    std::optional<MessagingChannel> messaging_channel;
    /// Unset: omitted. Empty: sent as `[]` (explicit opt-out of LDU). {"LDU"}: limited data use.
    std::optional<std::vector<std::string>> data_processing_options;
    std::optional<std::int64_t> data_processing_options_country;
    std::optional<std::int64_t> data_processing_options_state;
    std::optional<std::string> advanced_measurement_table;
    UserData user_data;
    std::optional<CustomData> custom_data;
    std::optional<AppData> app_data;
    std::optional<OriginalEventData> original_event_data;
    std::optional<AttributionData> attribution_data;
    RawMembers extra;
};

/// Request-level fields sent beside `data`.
struct RequestFields {
    std::optional<std::string> test_event_code, partner_agent, namespace_id, upload_id,
        upload_tag, upload_source;
};

/// Refilling an Event (the caller's path of a server that already holds its data).
///
/// enqueue() and async_send() read an Event during the call and keep nothing of
/// it, so a thread may keep one Event and refill it for each event it hands over.
/// These helpers write into the buffers the previous event left instead of
/// building new values: once warm (every value no longer than one the field held
/// before, the same number of values), a refill allocates nothing. They are
/// generic over the model's member types, so they cover every field without a
/// second list of them.
///
/// A refill overwrites what it sets and nothing else: a field the previous event
/// had and this one lacks keeps its value until it is unset (`reset()` on an
/// optional, `clear()` on a vector; that releases its buffer). A caller that
/// always sets the same fields, as a server's fixed mapping does, never has to.
///
/// @code
///   capi::Event ev;                      // one per thread, kept
///   for (const Order& o : orders) {
///       capi::assign(ev.event_name, capi::event_names::purchase);
///       capi::assign(ev.event_id, o.id);
///       capi::assign(ev.user_data.em, {o.email});
///       auto& cd = capi::refill(ev.custom_data);
///       cd.value = o.total;
///       capi::assign(cd.currency, o.currency);
///       client.enqueue(ev);
///   }
/// @endcode

/// Sets `field` to `value`, in the string's buffer.
inline void assign(std::string& field, std::string_view value) { field.assign(value.data(), value.size()); }

/// Sets `field` to `value`, in the buffer it held (engaging it when unset).
inline void assign(std::optional<std::string>& field, std::string_view value) {
    if (field) {
        field->assign(value.data(), value.size());
    } else {
        field.emplace(value);
    }
}

/// Sets `field` to `values`, in order: the strings it holds are overwritten in
/// their buffers, missing ones appended, extra ones removed. `values` must not view
/// the field's own strings (appending may move them).
inline void assign(std::vector<std::string>& field, std::span<const std::string_view> values) {
    const std::size_t kept = values.size() < field.size() ? values.size() : field.size();
    for (std::size_t i = 0; i < kept; ++i) field[i].assign(values[i].data(), values[i].size());
    if (values.size() < field.size()) {
        field.resize(values.size());
    } else {
        for (std::size_t i = kept; i < values.size(); ++i) field.emplace_back(values[i]);
    }
}
inline void assign(std::vector<std::string>& field, std::initializer_list<std::string_view> values) {
    assign(field, std::span<const std::string_view>(values.begin(), values.size()));
}

/// The value `field` holds, default-constructed when unset, kept as it was (the
/// previous event's members and buffers) otherwise: set what this event uses.
/// For `Event::custom_data`, `app_data`, `data_processing_options`, ...
template <class T>
T& refill(std::optional<T>& field) {
    if (!field) field.emplace();
    return *field;
}

/// `field` resized to `n` elements, the first ones kept as they were (members
/// and buffers), the rest default-constructed: set what each element uses.
/// For `CustomData::contents` and other vectors of records.
template <class T>
std::span<T> refill(std::vector<T>& field, std::size_t n) {
    field.resize(n);
    return std::span<T>(field.data(), n);
}

} // namespace capi
#pragma GCC visibility pop
