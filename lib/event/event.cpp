// Wire names of the event model's enums.
#include <capi/event.hpp>

#include <algorithm>
#include <array>

namespace capi {

namespace {

constexpr std::array<std::string_view, 10> action_source_names = {
    "", "email", "website", "app", "phone_call", "chat", "physical_store",
    "system_generated", "business_messaging", "other"};

constexpr std::array<std::string_view, 3> delivery_category_names = {
    "in_store", "curbside", "home_delivery"};

constexpr std::array<std::string_view, 3> messaging_channel_names = {
    "whatsapp", "messenger", "instagram"};

template <class Enum, std::size_t N>
std::optional<Enum> find_name(const std::array<std::string_view, N>& names, std::string_view s,
                              std::size_t first = 0) noexcept {
    for (std::size_t i = first; i < N; ++i) {
        if (names[i] == s) return static_cast<Enum>(i);
    }
    return std::nullopt;
}

} // namespace

bool is_standard_event(std::string_view name) noexcept {
    return std::find(event_names::standard.begin(), event_names::standard.end(), name) !=
           event_names::standard.end();
}

std::string_view to_string(ActionSource a) noexcept {
    return action_source_names[static_cast<std::size_t>(a)];
}

std::optional<ActionSource> parse_action_source(std::string_view s) noexcept {
    // Index 0 is `unset`, which has no wire name.
    return find_name<ActionSource>(action_source_names, s, 1);
}

std::string_view to_string(DeliveryCategory d) noexcept {
    return delivery_category_names[static_cast<std::size_t>(d)];
}

std::optional<DeliveryCategory> parse_delivery_category(std::string_view s) noexcept {
    return find_name<DeliveryCategory>(delivery_category_names, s);
}

std::string_view to_string(MessagingChannel m) noexcept {
    return messaging_channel_names[static_cast<std::size_t>(m)];
}

std::optional<MessagingChannel> parse_messaging_channel(std::string_view s) noexcept {
    return find_name<MessagingChannel>(messaging_channel_names, s);
}

} // namespace capi
