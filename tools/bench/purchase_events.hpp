// Realistic Purchase events with distinct PII per event, shared by the
// benchmarks: em, ph, fn, ln, ct, st, zp, country (8 hashed values),
// external_id, IP, user agent, fbc, fbp, two contents, value and currency.
// Numbered from `first`, so runs that need distinct events get their own.
//
// Two ways to get event number i, with the same content:
//   make_purchase_event(i)   generates its strings and builds a fresh capi::Event;
//   make_purchase_data(i)    generates them only (the data a server already holds),
//   then fill_purchase_event(ev, data) refills a reused Event from it (the caller's
//   path: capi::assign / capi::refill, no allocation once the Event is warm).
#pragma once

#include <capi/encode.hpp>
#include <capi/event.hpp>

#include <charconv>
#include <chrono>
#include <cstdlib>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace capi_bench {

/// Seconds since the epoch: the "now" events are made against.
inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline const char* const first_names[] = {"Mary", "José", "Ana", "John", "Émile", "Zoë", "Wei", "Olga"};
inline const char* const last_names[] = {"Smith", "García", "Müller", "Jones", "Nguyen", "Kowalski"};
inline const char* const cities[] = {"Menlo Park", "San José", "München", "New York", "Paris", "Seattle"};
inline const char* const states[] = {"CA", "California", "NY", "Washington", "Bayern", "TX"};
inline const char* const countries[] = {"US", "us", "DE", "FR", "GB", "CA"};

/// Event number `i`, drawing its varying parts from `rng`.
inline capi::Event make_purchase_event(std::size_t i, std::int64_t now_s, std::mt19937_64& rng) {
    capi::Event ev;
    ev.event_name = "Purchase";
    ev.event_time = now_s - static_cast<std::int64_t>(rng() % 3600);
    ev.event_id = "order-" + std::to_string(i) + "-" + std::to_string(rng() % 100000);
    ev.event_source_url = "https://shop.example.com/checkout/thank-you?order=" + std::to_string(i);
    ev.action_source = capi::ActionSource::website;
    auto& u = ev.user_data;
    u.em = {"  Customer." + std::to_string(i) + "@Example.COM "};
    u.ph = {"+1 (650) 555-" + std::to_string(1000 + i % 9000)};
    u.fn = {first_names[rng() % 8]};
    u.ln = {last_names[rng() % 6]};
    u.ct = {cities[rng() % 6]};
    u.st = {states[rng() % 6]};
    u.zp = {std::to_string(10000 + rng() % 89999) + "-1234"};
    u.country = {countries[rng() % 6]};
    u.external_id = {"cust-" + std::to_string(i)};
    u.client_ip_address = "203.0." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250 + 1);
    u.client_user_agent =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Safari/537.36";
    u.fbc = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz" + std::to_string(i);
    u.fbp = "fb.1.1558571054389." + std::to_string(1000000000 + i);
    capi::CustomData cd;
    cd.currency = "USD";
    cd.value = 10.0 + static_cast<double>(rng() % 100000) / 100.0;
    cd.content_type = "product";
    for (int c = 0; c < 2; ++c) {
        capi::Content item;
        item.id = "sku-" + std::to_string(rng() % 100000);
        item.quantity = static_cast<std::int64_t>(1 + rng() % 3);
        item.item_price = static_cast<double>(rng() % 10000) / 100.0;
        cd.contents.push_back(std::move(item));
    }
    ev.custom_data = std::move(cd);
    return ev;
}

/// Event number `i` as a server holds it before it makes an event: its strings,
/// already generated, and its numbers.
struct PurchaseData {
    std::int64_t event_time = 0;
    std::string event_id, event_source_url, em, ph, zp, external_id, client_ip_address, fbc, fbp;
    std::string_view fn, ln, ct, st, country;  // from the constant tables above
    double value = 0;
    struct Item {
        std::string id;
        std::int64_t quantity = 0;
        double item_price = 0;
    };
    Item items[2];
};

inline constexpr std::string_view purchase_user_agent =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36";

namespace detail {
/// `s` = `head` + decimal `n` (+ `tail`), in place: no allocation once `s` is warm.
inline void set_num(std::string& s, std::string_view head, std::uint64_t n, std::string_view tail = {}) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, n);
    s.assign(head);
    s.append(digits, r.ptr);
    s.append(tail);
}
} // namespace detail

/// `d` refilled with the data of event number `i`: the same values as
/// make_purchase_event(i) with the same `rng` state (the draws come in the same
/// order). Writes into d's strings in place, so a harness that keeps its
/// PurchaseData allocates nothing per event once they are warm: the data a
/// server holds is made without churning the heap the client shares.
inline void fill_purchase_data(PurchaseData& d, std::size_t i, std::int64_t now_s, std::mt19937_64& rng) {
    using detail::set_num;
    d.event_time = now_s - static_cast<std::int64_t>(rng() % 3600);
    set_num(d.event_id, "order-", i, "-");
    {
        char digits[24];
        const auto r = std::to_chars(digits, digits + sizeof digits, rng() % 100000);
        d.event_id.append(digits, r.ptr);
    }
    set_num(d.event_source_url, "https://shop.example.com/checkout/thank-you?order=", i);
    set_num(d.em, "  Customer.", i, "@Example.COM ");
    set_num(d.ph, "+1 (650) 555-", 1000 + i % 9000);
    d.fn = first_names[rng() % 8];
    d.ln = last_names[rng() % 6];
    d.ct = cities[rng() % 6];
    d.st = states[rng() % 6];
    set_num(d.zp, "", 10000 + rng() % 89999, "-1234");
    d.country = countries[rng() % 6];
    set_num(d.external_id, "cust-", i);
    set_num(d.client_ip_address, "203.0.", i / 250 % 250, ".");
    {
        char digits[24];
        const auto r = std::to_chars(digits, digits + sizeof digits, i % 250 + 1);
        d.client_ip_address.append(digits, r.ptr);
    }
    set_num(d.fbc, "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz", i);
    set_num(d.fbp, "fb.1.1558571054389.", 1000000000 + i);
    d.value = 10.0 + static_cast<double>(rng() % 100000) / 100.0;
    for (auto& item : d.items) {
        set_num(item.id, "sku-", rng() % 100000);
        item.quantity = static_cast<std::int64_t>(1 + rng() % 3);
        item.item_price = static_cast<double>(rng() % 10000) / 100.0;
    }
}

/// The data of event number `i` (fill_purchase_data into a fresh PurchaseData).
inline PurchaseData make_purchase_data(std::size_t i, std::int64_t now_s, std::mt19937_64& rng) {
    PurchaseData d;
    fill_purchase_data(d, i, now_s, rng);
    return d;
}

/// The caller's path: `ev` (fresh, or the previous event it held) refilled with
/// `d`. Sets every field a Purchase event of this shape has, so a reused Event
/// carries nothing of the previous one; no allocation once `ev` is warm.
inline void fill_purchase_event(capi::Event& ev, const PurchaseData& d) {
    capi::assign(ev.event_name, capi::event_names::purchase);
    ev.event_time = d.event_time;
    capi::assign(ev.event_id, d.event_id);
    capi::assign(ev.event_source_url, d.event_source_url);
    ev.action_source = capi::ActionSource::website;
    auto& u = ev.user_data;
    capi::assign(u.em, {d.em});
    capi::assign(u.ph, {d.ph});
    capi::assign(u.fn, {d.fn});
    capi::assign(u.ln, {d.ln});
    capi::assign(u.ct, {d.ct});
    capi::assign(u.st, {d.st});
    capi::assign(u.zp, {d.zp});
    capi::assign(u.country, {d.country});
    capi::assign(u.external_id, {d.external_id});
    capi::assign(u.client_ip_address, d.client_ip_address);
    capi::assign(u.client_user_agent, purchase_user_agent);
    capi::assign(u.fbc, d.fbc);
    capi::assign(u.fbp, d.fbp);
    auto& cd = capi::refill(ev.custom_data);
    capi::assign(cd.currency, "USD");
    cd.value = d.value;
    capi::assign(cd.content_type, "product");
    auto items = capi::refill(cd.contents, 2);
    for (std::size_t c = 0; c < items.size(); ++c) {
        capi::assign(items[c].id, d.items[c].id);
        items[c].quantity = d.items[c].quantity;
        items[c].item_price = d.items[c].item_price;
    }
}

/// `out` refilled with the data of events number first .. first + n - 1 (as
/// make_purchase_events), its strings reused.
inline void fill_purchase_data(std::vector<PurchaseData>& out, std::size_t first, std::size_t n, std::int64_t now_s) {
    std::mt19937_64 rng(20261127 + first);
    out.resize(n);
    for (std::size_t k = 0; k < n; ++k) fill_purchase_data(out[k], first + k, now_s, rng);
}

/// The data of events number first .. first + n - 1 (as make_purchase_events).
inline std::vector<PurchaseData> make_purchase_data(std::size_t first, std::size_t n, std::int64_t now_s) {
    std::vector<PurchaseData> out;
    fill_purchase_data(out, first, n, now_s);
    return out;
}

/// Events number first .. first + n - 1.
inline std::vector<capi::Event> make_purchase_events(std::size_t first, std::size_t n, std::int64_t now_s) {
    std::mt19937_64 rng(20261127 + first);
    std::vector<capi::Event> out;
    out.reserve(n);
    for (std::size_t i = first; i < first + n; ++i) out.push_back(make_purchase_event(i, now_s, rng));
    return out;
}

// Adds every event to `encoder`, finishing a body (and starting the next)
// whenever the batch is full, as a batcher does; returns the bytes of the
// bodies finished (so the work stays observable). The last, partial batch
// stays in `encoder`. Aborts on a rejected event: the generated data is all valid.
inline std::size_t add_all(capi::BatchEncoder& encoder, const std::vector<capi::Event>& events,
                           std::chrono::system_clock::time_point now) {
    std::size_t bytes = 0;
    for (const auto& ev : events) {
        auto r = encoder.add(ev, now);
        if (r.status == capi::EncodeStatus::batch_full) {
            bytes += encoder.json_body().size();
            encoder.clear();
            r = encoder.add(ev, now);
        }
        if (r.status != capi::EncodeStatus::added) std::abort();
    }
    return bytes;
}

// Encodes every event into 1000-event bodies (add_all), the last one included;
// returns the body bytes produced.
inline std::size_t encode_all(capi::BatchEncoder& encoder, const std::vector<capi::Event>& events,
                              std::chrono::system_clock::time_point now) {
    std::size_t bytes = add_all(encoder, events, now);
    bytes += encoder.json_body().size();
    encoder.clear();
    return bytes;
}

} // namespace capi_bench
