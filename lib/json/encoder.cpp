// BatchEncoder: validate, normalize, hash and serialize events into one request body.
//
// The body is built in place: `buf_` starts with `{"data":[`, each event is appended
// (comma separated), and json_body() appends the tail after the last event; the
// next add() cuts the tail off again. An event that fails part-way is rolled back by
// truncating to where it started, so the batch never holds a half-written event.
#include <capi/encode.hpp>
#include <capi/normalize.hpp>
#include <capi/sha256.hpp>

#include "json/buffer.hpp"
#include "json/writer.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace capi {

namespace {

constexpr std::string_view body_prefix = "{\"data\":[";

using Writer = json::BasicWriter<json::Buffer>;

// The multi-valued hashed keys in wire order, with their UserData member and
// key (to_string(field), spelled out so the hot loops need no call for it).
struct MultiKey {
    Field field;
    std::vector<std::string> UserData::*member;
    std::string_view key;
};
constexpr std::array<MultiKey, 11> multi_keys = {{
    {Field::em, &UserData::em, "em"},
    {Field::ph, &UserData::ph, "ph"},
    {Field::fn, &UserData::fn, "fn"},
    {Field::ln, &UserData::ln, "ln"},
    {Field::ge, &UserData::ge, "ge"},
    {Field::db, &UserData::db, "db"},
    {Field::ct, &UserData::ct, "ct"},
    {Field::st, &UserData::st, "st"},
    {Field::zp, &UserData::zp, "zp"},
    {Field::country, &UserData::country, "country"},
    {Field::external_id, &UserData::external_id, "external_id"},
}};

struct SingleKey {
    Field field;
    std::optional<std::string> UserData::*member;
    std::string_view key;
};
constexpr std::array<SingleKey, 6> single_keys = {{
    {Field::f5first, &UserData::f5first, "f5first"},
    {Field::f5last, &UserData::f5last, "f5last"},
    {Field::fi, &UserData::fi, "fi"},
    {Field::dobd, &UserData::dobd, "dobd"},
    {Field::dobm, &UserData::dobm, "dobm"},
    {Field::doby, &UserData::doby, "doby"},
}};

// User data sent as given, in wire order.
struct PlainKey {
    std::string_view key;
    std::optional<std::string> UserData::*member;
};
constexpr std::array<PlainKey, 14> plain_keys = {{
    {"client_ip_address", &UserData::client_ip_address},
    {"client_user_agent", &UserData::client_user_agent},
    {"fbc", &UserData::fbc},
    {"fbp", &UserData::fbp},
    {"subscription_id", &UserData::subscription_id},
    {"fb_login_id", &UserData::fb_login_id},
    {"lead_id", &UserData::lead_id},
    {"anon_id", &UserData::anon_id},
    {"madid", &UserData::madid},
    {"page_id", &UserData::page_id},
    {"page_scoped_user_id", &UserData::page_scoped_user_id},
    {"ctwa_clid", &UserData::ctwa_clid},
    {"ig_account_id", &UserData::ig_account_id},
    {"ig_sid", &UserData::ig_sid},
}};

// One normalized PII value of the event being added.
struct Slot {
    std::uint32_t offset;  // into impl::arena
    std::uint32_t length;
    bool hash;             // false: send the value itself
};

// A value whose digest is still owed: its 64 hex characters go at buf[at].
struct PendingHash {
    std::uint32_t offset;  // into impl::arena
    std::uint32_t length;
    std::size_t at;
};

void write_opt(Writer& w, std::string_view key, const std::optional<std::string>& v) {
    if (v) w.member(key, *v);
}
void write_opt(Writer& w, std::string_view key, const std::optional<std::int64_t>& v) {
    if (v) w.member_int(key, *v);
}
void write_opt(Writer& w, std::string_view key, const std::optional<double>& v) {
    if (v) w.member_num(key, *v);
}
void write_opt(Writer& w, std::string_view key, const std::optional<bool>& v) {
    if (v) w.member_bool(key, *v);
}
void write_strings(Writer& w, std::string_view key, const std::vector<std::string>& v) {
    w.lit_key(key);
    w.begin_array();
    for (const auto& s : v) w.string(s);
    w.end_array();
}
void write_raw(Writer& w, const RawMembers& members) {
    for (const auto& m : members) {
        w.key(m.key);
        w.raw(m.json);
    }
}

std::string element_path(std::string_view object, std::string_view key, std::size_t index,
                         bool indexed) {
    std::string p;
    p.reserve(object.size() + key.size() + 8);
    p += object;
    p += '.';
    p += key;
    if (indexed) {
        p += '[';
        p += std::to_string(index);
        p += ']';
    }
    return p;
}

} // namespace

struct BatchEncoder::impl {
    EncodeOptions options;
    json::Buffer buf{body_prefix};    // prefix + events (+ tail after json_body())
    std::size_t events_end = body_prefix.size();
    std::size_t count = 0;
    std::vector<std::size_t> starts;   // where each event's '{' is in buf
    std::string form;                  // form_body() output

    // Hashing is deferred to the end of the batch, so one hash_many call covers
    // every value of every event (what the multi-buffer SHA-256 paths need to fill
    // their lanes): the writer leaves a 64-character hole per hashed value and
    // fill_hashes() writes the digests into the holes. `arena` keeps the batch's
    // normalized values until then.
    json::Buffer arena;
    std::vector<PendingHash> pending;
    std::vector<std::string_view> to_hash;
    std::vector<sha256::digest> digests;

    // Per-event scratch, reused.
    std::string tmp;
    std::vector<Slot> slots;
    // slot_begin[k] .. slot_begin[k+1] are the slots of key k (11 multi + 6 single).
    std::array<std::uint32_t, multi_keys.size() + single_keys.size() + 1> slot_begin{};

    explicit impl(EncodeOptions o) : options(std::move(o)) {}

    std::string_view event_id_if_absent;  // set by prepare() for one call
    std::size_t prepared_bytes = 0;       // the last prepared event's, to size a new PreparedEvent

    // is_hashed_field() for the user_data keys, without the call.
    bool hashed(Field f) const noexcept {
        return f == Field::external_id ? options.hash_external_id : f != Field::currency;
    }

    // Normalizes one value into the arena; reports a reject per the policy.
    void take(Field f, std::string_view value, std::string_view key, std::size_t index,
              bool indexed, std::uint32_t first_slot, EncodeResult& r) {
        std::string_view reason;
        auto st = normalize_into(f, value, tmp, reason);
        if (st == NormalizeStatus::omitted) return;
        if (st == NormalizeStatus::rejected) {
            FieldError e{element_path("user_data", key, index, indexed), std::string(reason)};
            (options.invalid_pii == InvalidPiiPolicy::reject_event ? r.errors : r.dropped)
                .push_back(std::move(e));
            return;
        }
        // external_id is byte-exact and never reported as already hashed; when the
        // option hashes it, a value that is already a digest must not be hashed twice.
        if (f == Field::external_id && options.hash_external_id && looks_hashed(tmp)) {
            for (auto& c : tmp) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
            st = NormalizeStatus::already_hashed;
        }
        // Duplicates after normalization are sent once, first occurrence kept.
        for (std::size_t i = first_slot; i < slots.size(); ++i) {
            std::string_view prev(arena.data() + slots[i].offset, slots[i].length);
            if (prev == tmp) return;
        }
        slots.push_back({static_cast<std::uint32_t>(arena.size()),
                         static_cast<std::uint32_t>(tmp.size()),
                         st == NormalizeStatus::ok && hashed(f)});
        arena += tmp;
    }

    // Appends the event's normalized values to the arena (the caller rolls the
    // arena back if the event fails).
    void normalize_user_data(const UserData& ud, EncodeResult& r) {
        slots.clear();
        std::size_t k = 0;
        for (const auto& mk : multi_keys) {
            slot_begin[k] = static_cast<std::uint32_t>(slots.size());
            const auto& values = ud.*mk.member;
            for (std::size_t i = 0; i < values.size(); ++i)
                take(mk.field, values[i], mk.key, i, true, slot_begin[k], r);
            ++k;
        }
        for (const auto& sk : single_keys) {
            slot_begin[k] = static_cast<std::uint32_t>(slots.size());
            if (const auto& v = ud.*sk.member)
                take(sk.field, *v, sk.key, 0, false, slot_begin[k], r);
            ++k;
        }
        slot_begin[k] = static_cast<std::uint32_t>(slots.size());
    }

    void write_slot(Writer& w, const Slot& s) {
        if (s.hash) {
            static constexpr std::string_view hole(
                "0000000000000000000000000000000000000000000000000000000000000000");
            w.string_raw(hole);
            pending.push_back({s.offset, s.length, buf.size() - 65});
        } else {
            w.string(std::string_view(arena.data() + s.offset, s.length));
        }
    }

    // Validated when it was queued; only the window can have changed since.
    // The future-skew bound needs no second look: time only moves forward.
    void check_window(std::int64_t event_time, ActionSource source, std::chrono::system_clock::time_point now,
                      EncodeResult& r) const {
        const bool store = source == ActionSource::physical_store;
        const auto max_age = store ? options.validation.physical_store_max_age : options.validation.max_age;
        const auto now_s = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
        if (event_time < now_s - max_age.count())
            r.errors.push_back({"event_time", "event_time left its " + std::to_string(max_age.count()) +
                                                  " s window before the event could be sent"});
    }

    // Hashes every pending value in one hash_many call and fills the holes.
    void fill_hashes() {
        if (pending.empty()) return;
        to_hash.resize(pending.size());
        digests.resize(pending.size());
        for (std::size_t i = 0; i < pending.size(); ++i)
            to_hash[i] = std::string_view(arena.data() + pending[i].offset, pending[i].length);
        sha256::hash_many(to_hash, digests);
        for (std::size_t i = 0; i < pending.size(); ++i)
            sha256::to_hex(digests[i], buf.data() + pending[i].at);
        pending.clear();
        arena.clear();
    }

    bool write_user_data(Writer& w, const UserData& ud) {
        bool any = false;
        w.lit_key("user_data");
        w.begin_object();
        std::size_t k = 0;
        for (const auto& mk : multi_keys) {
            auto b = slot_begin[k], e = slot_begin[k + 1];
            ++k;
            if (b == e) continue;
            any = true;
            w.lit_key(mk.key);
            w.begin_array();
            for (auto i = b; i < e; ++i) write_slot(w, slots[i]);
            w.end_array();
        }
        for (const auto& sk : single_keys) {
            auto b = slot_begin[k];
            ++k;
            if (b == slot_begin[k]) continue;
            any = true;
            w.lit_key(sk.key);
            write_slot(w, slots[b]);
        }
        for (const auto& pk : plain_keys) {
            if (const auto& v = ud.*pk.member; v && !v->empty()) {
                any = true;
                w.member(pk.key, *v);
            }
        }
        write_raw(w, ud.extra);
        w.end_object();
        // Raw extra members are not customer information parameters (validate()
        // does not count them either): an event left with only those after
        // normalization is one validate() rejects once read back.
        return any;
    }

    static void write_content(Writer& w, const Content& c) {
        w.begin_object();
        write_opt(w, "id", c.id);
        write_opt(w, "quantity", c.quantity);
        write_opt(w, "item_price", c.item_price);
        write_opt(w, "title", c.title);
        write_opt(w, "description", c.description);
        write_opt(w, "brand", c.brand);
        write_opt(w, "category", c.category);
        if (c.delivery_category) w.member("delivery_category", to_string(*c.delivery_category));
        write_raw(w, c.extra);
        w.end_object();
    }

    void write_custom_data(Writer& w, const CustomData& cd) {
        w.lit_key("custom_data");
        w.begin_object();
        write_opt(w, "value", cd.value);
        if (cd.currency) {
            // Validation guarantees the code normalizes; currency is never hashed.
            std::string_view reason;
            if (normalize_into(Field::currency, *cd.currency, tmp, reason) == NormalizeStatus::ok)
                w.member("currency", tmp);
        }
        write_opt(w, "content_name", cd.content_name);
        write_opt(w, "content_category", cd.content_category);
        if (!cd.content_ids.empty()) write_strings(w, "content_ids", cd.content_ids);
        if (!cd.contents.empty()) {
            w.lit_key("contents");
            w.begin_array();
            for (const auto& c : cd.contents) write_content(w, c);
            w.end_array();
        }
        write_opt(w, "content_type", cd.content_type);
        write_opt(w, "order_id", cd.order_id);
        write_opt(w, "predicted_ltv", cd.predicted_ltv);
        write_opt(w, "net_revenue", cd.net_revenue);
        write_opt(w, "num_items", cd.num_items);
        write_opt(w, "status", cd.status);
        write_opt(w, "search_string", cd.search_string);
        write_opt(w, "item_number", cd.item_number);
        if (cd.delivery_category) w.member("delivery_category", to_string(*cd.delivery_category));
        write_raw(w, cd.custom_properties);
        w.end_object();
    }

    static void write_app_data(Writer& w, const AppData& ad) {
        w.lit_key("app_data");
        w.begin_object();
        write_opt(w, "application_tracking_enabled", ad.application_tracking_enabled);
        write_opt(w, "advertiser_tracking_enabled", ad.advertiser_tracking_enabled);
        write_opt(w, "campaign_ids", ad.campaign_ids);
        write_opt(w, "consider_views", ad.consider_views);
        if (!ad.extinfo.empty()) write_strings(w, "extinfo", ad.extinfo);
        write_opt(w, "include_dwell_data", ad.include_dwell_data);
        write_opt(w, "include_video_data", ad.include_video_data);
        write_opt(w, "install_referrer", ad.install_referrer);
        write_opt(w, "installer_package", ad.installer_package);
        write_opt(w, "receipt_data", ad.receipt_data);
        if (!ad.url_schemes.empty()) write_strings(w, "url_schemes", ad.url_schemes);
        write_opt(w, "windows_attribution_id", ad.windows_attribution_id);
        write_opt(w, "anon_id", ad.anon_id);
        write_opt(w, "app_user_id", ad.app_user_id);
        write_raw(w, ad.extra);
        w.end_object();
    }

    static void write_original(Writer& w, const OriginalEventData& o) {
        w.lit_key("original_event_data");
        w.begin_object();
        write_opt(w, "event_name", o.event_name);
        write_opt(w, "event_time", o.event_time);
        write_opt(w, "order_id", o.order_id);
        write_opt(w, "event_id", o.event_id);
        write_raw(w, o.extra);
        w.end_object();
    }

    static void write_attribution(Writer& w, const AttributionData& a) {
        w.lit_key("attribution_data");
        w.begin_object();
        write_opt(w, "scope", a.scope);
        write_opt(w, "visit_time", a.visit_time);
        write_opt(w, "ad_id", a.ad_id);
        write_opt(w, "adset_id", a.adset_id);
        write_opt(w, "campaign_id", a.campaign_id);
        write_opt(w, "attribution_share", a.attribution_share);
        write_opt(w, "attribution_model", a.attribution_model);
        write_opt(w, "attr_window", a.attr_window);
        write_opt(w, "attribution_value", a.attribution_value);
        write_opt(w, "attribution_source", a.attribution_source);
        write_opt(w, "touchpoint_type", a.touchpoint_type);
        write_opt(w, "touchpoint_ts", a.touchpoint_ts);
        write_opt(w, "attribution_method", a.attribution_method);
        write_opt(w, "decline_reason", a.decline_reason);
        write_opt(w, "auditing_token", a.auditing_token);
        write_opt(w, "linkage_key", a.linkage_key);
        write_opt(w, "touchpoint_id", a.touchpoint_id);
        if (a.attribution_setting) {
            w.lit_key("attribution_setting");
            w.begin_object();
            write_opt(w, "inactivity_window_hours", a.attribution_setting->inactivity_window_hours);
            write_opt(w, "reattribution_window_hours",
                      a.attribution_setting->reattribution_window_hours);
            w.end_object();
        }
        write_opt(w, "total_credit", a.total_credit);
        write_opt(w, "partner_client_id", a.partner_client_id);
        write_raw(w, a.extra);
        w.end_object();
    }

    // Serializes `ev` at the end of buf (after a comma unless `first`); returns
    // false when user_data ended up empty.
    bool write_event(const Event& ev, bool first) {
        Writer w(buf);
        w.set_first(first);
        w.begin_object();
        w.member("event_name", ev.event_name);
        w.member_int("event_time", ev.event_time);
        if (ev.event_id)
            w.member("event_id", *ev.event_id);
        else if (!event_id_if_absent.empty())
            w.member("event_id", event_id_if_absent);
        write_opt(w, "event_source_url", ev.event_source_url);
        write_opt(w, "referrer_url", ev.referrer_url);
        w.lit_key("action_source");
        w.string_raw(to_string(ev.action_source));
        write_opt(w, "opt_out", ev.opt_out);
        if (ev.messaging_channel) {
            w.lit_key("messaging_channel");
            w.string_raw(to_string(*ev.messaging_channel));
        }
        if (ev.data_processing_options) {
            write_strings(w, "data_processing_options", *ev.data_processing_options);
            write_opt(w, "data_processing_options_country", ev.data_processing_options_country);
            write_opt(w, "data_processing_options_state", ev.data_processing_options_state);
        }
        write_opt(w, "advanced_measurement_table", ev.advanced_measurement_table);
        bool user_data_ok = write_user_data(w, ev.user_data);
        if (ev.custom_data) write_custom_data(w, *ev.custom_data);
        if (ev.app_data) write_app_data(w, *ev.app_data);
        if (ev.original_event_data) write_original(w, *ev.original_event_data);
        if (ev.attribution_data) write_attribution(w, *ev.attribution_data);
        write_raw(w, ev.extra);
        w.end_object();
        return user_data_ok;
    }

    // Validates `ev` (fully, or only its window when it was validated when
    // queued), normalizes its values into the arena and serializes it at the end
    // of buf, after a comma unless `first`. False, with r.errors, when it is
    // invalid: buf, arena and pending may then hold part of it, for the caller
    // to truncate.
    bool encode(const Event& ev, std::chrono::system_clock::time_point now, bool full_validation, bool first,
                EncodeResult& r) {
        if (full_validation) {
            r.errors = validate(ev, now, options.validation);
        } else {
            check_window(ev.event_time, ev.action_source, now, r);
        }
        if (!r.errors.empty()) return false;
        normalize_user_data(ev.user_data, r);
        if (!r.errors.empty()) return false;
        const auto start = buf.size();
        const bool user_data_ok = write_event(ev, first);
        // The comma before a non-first event is not part of the event's size.
        const auto bytes = buf.size() - start - (first ? 0 : 1);
        if (!user_data_ok) {
            r.errors.push_back({"user_data", "no customer information parameter left after normalization"});
            return false;
        }
        if (bytes > options.validation.max_event_bytes) {
            r.errors.push_back({"", "event is " + std::to_string(bytes) + " bytes serialized, over the " +
                                        std::to_string(options.validation.max_event_bytes) + "-byte cap"});
            return false;
        }
        return true;
    }

    void write_tail(json::Buffer& out, const RequestFields& f, std::string_view token) {
        Writer w(out);
        w.set_first(false);
        write_opt(w, "test_event_code", f.test_event_code);
        write_opt(w, "partner_agent", f.partner_agent);
        write_opt(w, "namespace_id", f.namespace_id);
        write_opt(w, "upload_id", f.upload_id);
        write_opt(w, "upload_tag", f.upload_tag);
        write_opt(w, "upload_source", f.upload_source);
        if (!token.empty()) w.member("access_token", token);
    }
};

// PreparedEvent's buffer is json::Buffer storage (prepare() lends it to one): std::realloc'd.
PreparedEvent::~PreparedEvent() { std::free(data_); }

PreparedEvent::PreparedEvent(const PreparedEvent& other)
    : event_time(other.event_time),
      action_source(other.action_source),
      json_size_(other.json_size_),
      values_size_(other.values_size_),
      holes_(other.holes_) {
    const std::size_t n = std::size_t{json_size_} + values_size_ + std::size_t{holes_} * 12;
    if (n == 0) return;
    data_ = static_cast<char*>(std::malloc(n));
    if (data_ == nullptr) throw std::bad_alloc();
    capacity_ = n;
    std::memcpy(data_, other.data_, n);
}

PreparedEvent& PreparedEvent::operator=(const PreparedEvent& other) {
    if (this != &other) PreparedEvent(other).swap_(*this);
    return *this;
}

BatchEncoder::BatchEncoder(EncodeOptions options)
    : impl_(std::make_unique<impl>(std::move(options))) {}
BatchEncoder::~BatchEncoder() = default;
BatchEncoder::BatchEncoder(BatchEncoder&&) noexcept = default;
BatchEncoder& BatchEncoder::operator=(BatchEncoder&&) noexcept = default;

EncodeResult BatchEncoder::add(const Event& ev, std::chrono::system_clock::time_point now) {
    return add_(ev, now, true);
}

EncodeResult BatchEncoder::add_validated(const Event& ev, std::chrono::system_clock::time_point now) {
    return add_(ev, now, false);
}

EncodeResult BatchEncoder::add_(const Event& ev, std::chrono::system_clock::time_point now,
                                bool full_validation) {
    auto& d = *impl_;
    EncodeResult r;
    if (d.count >= d.options.max_batch_events) {
        r.status = EncodeStatus::batch_full;
        return r;
    }
    const auto arena0 = d.arena.size();
    const auto pending0 = d.pending.size();
    d.buf.resize(d.events_end);  // drop a tail left by json_body()
    const auto start = d.buf.size();
    // A failed or throwing event leaves nothing behind: a stale pending hole would
    // later be filled inside whatever event is written over it.
    auto roll_back = [&] {
        d.buf.resize(start);
        d.arena.resize(arena0);
        d.pending.resize(pending0);
    };
    try {
        if (!d.encode(ev, now, full_validation, d.count == 0, r)) {
            roll_back();
            r.status = EncodeStatus::invalid;
            return r;
        }
        d.starts.push_back(start + (d.count == 0 ? 0 : 1));
    } catch (...) {
        roll_back();
        throw;
    }
    d.events_end = d.buf.size();
    ++d.count;
    return r;
}

EncodeResult BatchEncoder::prepare(const Event& ev, std::chrono::system_clock::time_point now,
                                   PreparedEvent& out, std::string_view event_id_if_absent) {
    auto& d = *impl_;
    out.json_size_ = out.values_size_ = out.holes_ = 0;  // empty until it holds this event
    // The event is written straight into out's buffer, lent to the encoder in
    // place of the batch's for this call. The values and their holes go after
    // the batch's in the arena and pending list (hot scratch), then after the
    // JSON in out's buffer. However the call ends, the batch gets its buffer
    // back and loses the scratch, and out keeps its (grown) buffer.
    struct Lend {
        impl& d;
        PreparedEvent& out;
        std::size_t arena0, pending0;
        std::size_t size = 0;  // the batch's while lent; then out's
        Lend(impl& d_, PreparedEvent& out_)
            : d(d_), out(out_), arena0(d_.arena.size()), pending0(d_.pending.size()) {
            d.buf.swap_storage(out.data_, size, out.capacity_);
        }
        ~Lend() {
            d.buf.swap_storage(out.data_, size, out.capacity_);
            d.arena.resize(arena0);
            d.pending.resize(pending0);
            d.event_id_if_absent = {};
        }
        Lend(const Lend&) = delete;
        Lend& operator=(const Lend&) = delete;
    } lend(d, out);
    // A new PreparedEvent: one allocation the size of the last event rather than
    // doubling from nothing. No slack: the batcher reads these cold, and with
    // gaps between them (bench_core --split, 64 or 400 bytes more) it reads
    // measurably slower.
    if (d.buf.capacity() == 0) d.buf.reserve(std::max<std::size_t>(256, d.prepared_bytes));
    d.event_id_if_absent = event_id_if_absent;
    EncodeResult r;
    if (!d.encode(ev, now, true, true, r)) {
        r.status = EncodeStatus::invalid;
        return r;
    }
    const auto json_size = d.buf.size();
    const auto values = std::string_view(d.arena).substr(lend.arena0);
    const auto holes = d.pending.size() - lend.pending0;
    d.buf.reserve(json_size + values.size() + holes * 12);
    d.buf.append(values);
    char* dst = d.buf.extend(holes * 12);
    for (auto i = lend.pending0; i < d.pending.size(); ++i, dst += 12) {
        // `at` is already relative to the event: it was written from offset 0.
        const std::uint32_t t[3] = {static_cast<std::uint32_t>(d.pending[i].offset - lend.arena0),
                                    d.pending[i].length, static_cast<std::uint32_t>(d.pending[i].at)};
        std::memcpy(dst, t, sizeof t);
    }
    d.prepared_bytes = d.buf.size();
    out.json_size_ = static_cast<std::uint32_t>(json_size);
    out.values_size_ = static_cast<std::uint32_t>(values.size());
    out.holes_ = static_cast<std::uint32_t>(holes);
    out.event_time = ev.event_time;
    out.action_source = ev.action_source;
    return r;
}

namespace {
// Room for `n` more elements, growing geometrically (reserve(size() + n) alone
// would reallocate, and copy, on almost every call once the vector is full).
template <class T>
void reserve_more(std::vector<T>& v, std::size_t n) {
    if (v.capacity() - v.size() < n) v.reserve(std::max(v.capacity() * 2, v.size() + n));
}
} // namespace

EncodeResult BatchEncoder::add_prepared(const PreparedEvent& ev, std::chrono::system_clock::time_point now) {
    auto& d = *impl_;
    EncodeResult r;
    if (d.count >= d.options.max_batch_events) {
        r.status = EncodeStatus::batch_full;
        return r;
    }
    if (ev.empty()) {
        r.errors.push_back({"", "not a prepared event"});
        r.status = EncodeStatus::invalid;
        return r;
    }
    d.check_window(ev.event_time, ev.action_source, now, r);
    if (!r.errors.empty()) {
        r.status = EncodeStatus::invalid;
        return r;
    }
    // Room first, all growing geometrically: nothing below may throw once the
    // batch's state starts to change.
    reserve_more(d.pending, ev.holes_);
    reserve_more(d.starts, 1);
    const std::size_t comma = d.count != 0 ? 1 : 0;
    d.buf.resize(d.events_end);  // drop a tail left by json_body()
    const auto start = d.events_end + comma;
    const auto arena_base = d.arena.size();
    // Then the one copy that matters, the JSON (cold: prepared on another thread).
    char* dst = d.buf.extend(comma + ev.json_size_);
    std::memcpy(dst + comma, ev.data_, ev.json_size_);
    if (comma != 0) *dst = ',';
    // The buffers' own growth is geometric and kept by clear(); an exception here
    // leaves only bytes past events_end, which the next event overwrites.
    std::memcpy(d.arena.extend(ev.values_size_), ev.data_ + ev.json_size_, ev.values_size_);
    const char* t = ev.data_ + ev.json_size_ + ev.values_size_;
    for (std::uint32_t i = 0; i < ev.holes_; ++i, t += 12) {
        std::uint32_t h[3];
        std::memcpy(h, t, sizeof h);
        d.pending.push_back({static_cast<std::uint32_t>(arena_base + h[0]), h[1], start + h[2]});
    }
    d.events_end = d.buf.size();
    d.starts.push_back(start);
    ++d.count;
    return r;
}

bool BatchEncoder::add_json(std::string_view event_json) {
    auto& d = *impl_;
    if (d.count >= d.options.max_batch_events) return false;
    d.buf.resize(d.events_end);
    if (d.count != 0) d.buf += ',';
    d.starts.push_back(d.buf.size());
    d.buf += event_json;
    d.events_end = d.buf.size();
    ++d.count;
    return true;
}

std::string_view BatchEncoder::event_json(std::size_t i) {
    auto& d = *impl_;
    d.fill_hashes();
    const auto begin = d.starts[i];
    // The next event starts after a comma.
    const auto end = i + 1 < d.count ? d.starts[i + 1] - 1 : d.events_end;
    return std::string_view(d.buf).substr(begin, end - begin);
}

std::size_t BatchEncoder::size() const noexcept { return impl_->count; }
bool BatchEncoder::full() const noexcept { return impl_->count >= impl_->options.max_batch_events; }
void BatchEncoder::reserve(std::size_t bytes) { impl_->buf.reserve(bytes); }

std::size_t BatchEncoder::data_bytes() const noexcept {
    return impl_->events_end - body_prefix.size();
}

std::string_view BatchEncoder::json_body(const RequestFields& fields, std::string_view access_token) {
    auto& d = *impl_;
    d.fill_hashes();
    d.buf.resize(d.events_end);
    d.buf += ']';
    d.write_tail(d.buf, fields, access_token);
    d.buf += '}';
    return d.buf;
}

std::string_view BatchEncoder::form_body(const RequestFields& fields, std::string_view access_token) {
    auto& d = *impl_;
    d.fill_hashes();
    d.form.clear();
    d.form += "data=";
    // The JSON array starts at the '[' that ends the prefix.
    std::string_view array(d.buf.data() + body_prefix.size() - 1,
                           d.events_end - body_prefix.size() + 1);
    json::append_form_encoded(d.form, array);
    d.form += "%5D";
    auto field = [&](std::string_view k, std::string_view v) {
        d.form += '&';
        d.form += k;
        d.form += '=';
        json::append_form_encoded(d.form, v);
    };
    if (fields.test_event_code) field("test_event_code", *fields.test_event_code);
    if (fields.partner_agent) field("partner_agent", *fields.partner_agent);
    if (fields.namespace_id) field("namespace_id", *fields.namespace_id);
    if (fields.upload_id) field("upload_id", *fields.upload_id);
    if (fields.upload_tag) field("upload_tag", *fields.upload_tag);
    if (fields.upload_source) field("upload_source", *fields.upload_source);
    if (!access_token.empty()) field("access_token", access_token);
    return d.form;
}

void BatchEncoder::clear() noexcept {
    auto& d = *impl_;
    d.buf.resize(body_prefix.size());
    d.events_end = body_prefix.size();
    d.count = 0;
    d.starts.clear();
    d.pending.clear();
    d.arena.clear();
}

const EncodeOptions& BatchEncoder::options() const noexcept { return impl_->options; }

} // namespace capi
