// capi: the date parser of the enhanced (opt-in) `db` rule (lib/normalize/dates.hpp,
// docs/normalization.md, "Enhanced, opt-in").
//
// One pass over the text splits it into at most four fields (runs of ASCII
// digits, an ordinal suffix allowed right after them, or runs of ASCII letters)
// and the separators between them; the shape of the fields then names the form.
// Views only: nothing is allocated, nothing depends on the locale, nothing throws.
//
// What is accepted, in order of the checks:
//  - 8 digits: always yyyymmdd (Meta's form, returned as is when it is a date);
//  - an optional leading English weekday ("wednesday, ", "wed. "), checked
//    against the date it prefixes (a contradiction is rejected: which half is
//    wrong is not ours to guess), never used to settle an ambiguous order;
//  - `yyyy-mm-dd` followed by `t` or one space and an ISO 8601 time: the date is
//    taken as written, the time (and its zone) is only checked, never applied,
//    since a date of birth is a calendar date, not an instant;
//  - three numbers: year first (4 digits) is always year-month-day; year last
//    is day-month or month-day by DateOrder (unspecified: only when exactly one
//    reading is a date, or both readings are the same date); the separators are
//    one of `-` `/` `.` or spaces, the same twice, spaces allowed around them;
//  - a month name or abbreviation with two numbers: `january 31, 1990`,
//    `31 jan 1990`, `31st of january 1990`, `31-jan-1990`, `1990-jan-31`; these
//    are unambiguous, so every DateOrder reads them.
// Any other byte (a tab, a no-break space, a non-ASCII letter or digit) is not
// a form capi reads.
#include "normalize/dates.hpp"

#include "util/ascii.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace capi::detail {
namespace {

// The reasons: static storage, and none of them quotes the value (a date of
// birth is personal data; the reason goes into logs and warnings).
constexpr std::string_view not_a_form = "date of birth is not in a form capi reads (docs/normalization.md)";
constexpr std::string_view ambiguous =
    "date of birth is ambiguous: day and month could be either way round "
    "(configure the date order: dmy or mdy)";
constexpr std::string_view no_such_day = "date of birth names a day that does not exist";
constexpr std::string_view no_such_month = "date of birth names a month that does not exist";
constexpr std::string_view against_order =
    "date of birth does not fit the configured date order (its month would be greater than 12)";
constexpr std::string_view year_last_under_ymd =
    "date of birth is written year-last, but the configured date order is ymd";
constexpr std::string_view two_digit_year = "date of birth has a two-digit year (give all four digits)";
constexpr std::string_view year_out_of_range = "date of birth year is outside 1900-2099";
constexpr std::string_view bad_time =
    "date of birth has a time part that is not ISO 8601 (hh:mm[:ss[.fff]], then z or an offset)";
constexpr std::string_view wrong_weekday =
    "date of birth names a weekday that does not fall on that date";

using ascii::all_digits;
using ascii::is_digit;
constexpr bool is_letter(char c) noexcept { return c >= 'a' && c <= 'z'; }
constexpr bool is_space(char c) noexcept { return c == ' '; }

// std::string_view::substr without its out_of_range path (every caller is in range;
// a position past the end gives an empty view).
constexpr std::string_view slice(std::string_view s, std::size_t pos,
                                 std::size_t n = std::string_view::npos) noexcept {
    if (pos > s.size()) return {};
    return {s.data() + pos, n < s.size() - pos ? n : s.size() - pos};
}

// Value of a run of at most 8 ASCII digits (the caller has checked them).
constexpr int value_of(std::string_view digits) noexcept {
    int v = 0;
    for (char c : digits) v = v * 10 + (c - '0');
    return v;
}

constexpr bool is_leap(int y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr int days_in_month(int y, int m) noexcept {
    constexpr std::array<int, 12> days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[static_cast<std::size_t>(m - 1)];
}

// 0 = Sunday (Sakamoto's method, proleptic Gregorian).
constexpr int weekday_of(int y, int m, int d) noexcept {
    constexpr std::array<int, 12> t = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    if (m < 3) --y;
    return (y + y / 4 - y / 100 + y / 400 + t[static_cast<std::size_t>(m - 1)] + d) % 7;
}
static_assert(weekday_of(1990, 1, 31) == 3);  // a Wednesday
static_assert(weekday_of(2000, 2, 29) == 2);  // a Tuesday

struct Name {
    std::string_view word;
    std::uint8_t number;  // month 1-12, or weekday 0 (Sunday) - 6
    bool abbreviation;    // may be followed by '.'
};

constexpr std::array<Name, 25> month_names = {{
    {"january", 1, false},  {"jan", 1, true},  {"february", 2, false}, {"feb", 2, true},
    {"march", 3, false},    {"mar", 3, true},  {"april", 4, false},    {"apr", 4, true},
    {"may", 5, true},       {"june", 6, false}, {"jun", 6, true},      {"july", 7, false},
    {"jul", 7, true},       {"august", 8, false}, {"aug", 8, true},    {"september", 9, false},
    {"sep", 9, true},       {"sept", 9, true}, {"october", 10, false}, {"oct", 10, true},
    {"november", 11, false}, {"nov", 11, true}, {"december", 12, false}, {"dec", 12, true},
    {"", 0, false},
}};

constexpr std::array<Name, 17> weekday_names = {{
    {"sunday", 0, false},   {"sun", 0, true},   {"monday", 1, false},  {"mon", 1, true},
    {"tuesday", 2, false},  {"tue", 2, true},   {"tues", 2, true},     {"wednesday", 3, false},
    {"wed", 3, true},       {"thursday", 4, false}, {"thu", 4, true},  {"thur", 4, true},
    {"thurs", 4, true},     {"friday", 5, false}, {"fri", 5, true},    {"saturday", 6, false},
    {"sat", 6, true},
}};

template <std::size_t N>
constexpr const Name* find_name(const std::array<Name, N>& names, std::string_view word) noexcept {
    for (const Name& n : names)
        if (!n.word.empty() && n.word == word) return &n;
    return nullptr;
}

ParsedDate reject(std::string_view why) noexcept {
    ParsedDate r;
    r.reason = why;
    return r;
}

// The date once its year, month and day are known: range checks, then the digits.
ParsedDate make(int y, int m, int d) noexcept {
    if (y < 1900 || y > 2099) return reject(year_out_of_range);
    if (m < 1 || m > 12) return reject(no_such_month);
    if (d < 1 || d > days_in_month(y, m)) return reject(no_such_day);
    ParsedDate r;
    r.ok = true;
    int digits = y * 10000 + m * 100 + d;
    for (int i = 7; i >= 0; --i, digits /= 10) r.yyyymmdd[i] = static_cast<char>('0' + digits % 10);
    return r;
}

// hh:mm[:ss[(.|,)digits]] then nothing, `z`, or an offset ±hh[[:]mm].
bool is_iso_time(std::string_view t) noexcept {
    std::size_t i = 0;
    auto two = [&](int max) noexcept {
        if (i + 2 > t.size() || !is_digit(t[i]) || !is_digit(t[i + 1])) return false;
        const int v = value_of(slice(t, i, 2));
        i += 2;
        return v <= max;
    };
    if (!two(23) || i >= t.size() || t[i++] != ':' || !two(59)) return false;
    if (i < t.size() && t[i] == ':') {
        ++i;
        if (!two(60)) return false;  // 60: a leap second
        if (i < t.size() && (t[i] == '.' || t[i] == ',')) {
            const std::size_t start = ++i;
            while (i < t.size() && is_digit(t[i])) ++i;
            if (i == start) return false;
        }
    }
    if (i == t.size()) return true;
    if (t[i] == 'z') return i + 1 == t.size();
    if (t[i] != '+' && t[i] != '-') return false;
    ++i;
    if (!two(23)) return false;
    if (i == t.size()) return true;
    if (t[i] == ':') ++i;
    return two(59) && i == t.size();
}

// A separator between two fields: spaces, at most one of `-` `/` `.` `,`, spaces.
// `key` is the punctuation, or ' ' for spaces only or a comma (which only the
// month-name forms allow).
struct Separator {
    char key = 0;  // 0: not a separator
    bool comma = false;
};

Separator read_separator(std::string_view s) noexcept {
    Separator sep;
    if (s.empty()) return sep;  // "jan31": fields must be apart
    std::size_t i = 0;
    while (i < s.size() && is_space(s[i])) ++i;
    char punct = 0;
    if (i < s.size()) punct = s[i++];
    while (i < s.size() && is_space(s[i])) ++i;
    if (i != s.size()) return sep;  // two punctuation marks, or one between spaces twice
    if (punct == ',') {
        sep.key = ' ';
        sep.comma = true;
    } else {
        sep.key = punct == 0 ? ' ' : punct;
    }
    return sep;
}

struct Field {
    std::string_view digits;  // a number, or empty
    std::string_view suffix;  // letters right after the number (an ordinal)
    std::string_view word;    // a word, or empty
    std::string_view after;   // the separator that follows (empty for the last field)
};

constexpr std::size_t max_fields = 4;  // day, "of", month, year (a weekday is gone by then)

struct Fields {
    std::array<Field, max_fields> f{};
    std::size_t n = 0;
    bool ok = false;
};

// Splits the text into fields and separators; !ok when a byte is neither a
// digit, a letter nor a separator, or when there are too many fields.
Fields split(std::string_view text) noexcept {
    Fields out;
    std::size_t i = 0;
    while (i < text.size()) {
        if (out.n == max_fields) return out;
        Field& field = out.f[out.n++];
        std::size_t start = i;
        if (is_digit(text[i])) {
            while (i < text.size() && is_digit(text[i])) ++i;
            field.digits = slice(text, start, i - start);
            start = i;
            while (i < text.size() && is_letter(text[i])) ++i;
            field.suffix = slice(text, start, i - start);
        } else if (is_letter(text[i])) {
            while (i < text.size() && is_letter(text[i])) ++i;
            field.word = slice(text, start, i - start);
        } else {
            return out;  // a separator first, or a byte capi does not read
        }
        start = i;
        while (i < text.size() && !is_digit(text[i]) && !is_letter(text[i])) {
            const char c = text[i];
            if (c != ' ' && c != '-' && c != '/' && c != '.' && c != ',') return out;
            ++i;
        }
        field.after = slice(text, start, i - start);
        if (i == text.size() && !field.after.empty()) return out;  // trailing punctuation
    }
    out.ok = out.n > 0;
    return out;
}

bool is_ordinal(std::string_view s) noexcept {
    return s == "st" || s == "nd" || s == "rd" || s == "th";
}

// Three numbers (no suffixes): year-first, year-last, or a two-digit year.
ParsedDate numeric(const Field& a, const Field& b, const Field& c, DateOrder order) noexcept {
    const Separator s1 = read_separator(a.after);
    const Separator s2 = read_separator(b.after);
    if (s1.key == 0 || s1.comma || s2.comma || s1.key != s2.key) return reject(not_a_form);
    const std::size_t la = a.digits.size(), lb = b.digits.size(), lc = c.digits.size();
    if (lb < 1 || lb > 2) return reject(not_a_form);
    if (la == 4 && lc <= 2) return make(value_of(a.digits), value_of(b.digits), value_of(c.digits));
    if (lc == 4 && la <= 2) {
        if (order == DateOrder::ymd) return reject(year_last_under_ymd);
        const int y = value_of(c.digits), p = value_of(a.digits), q = value_of(b.digits);
        if (order == DateOrder::dmy || order == DateOrder::mdy) {
            const int d = order == DateOrder::dmy ? p : q;
            const int m = order == DateOrder::dmy ? q : p;
            if (m > 12 && y >= 1900 && y <= 2099) return reject(against_order);
            return make(y, m, d);
        }
        const ParsedDate dm = make(y, q, p);
        const ParsedDate md = make(y, p, q);
        if (dm.ok && md.ok) return p == q ? dm : reject(ambiguous);
        if (dm.ok) return dm;
        if (md.ok) return md;
        // Neither reading is a date: say why of the reading that got furthest.
        if (dm.reason == no_such_day || md.reason == no_such_day) return reject(no_such_day);
        return dm;
    }
    if (la <= 2 && lc <= 2 && (la == 2 || lc == 2)) return reject(two_digit_year);
    return reject(not_a_form);
}

// A month name and two numbers, in one of three orders.
ParsedDate named(const Fields& fs, std::size_t month_at) noexcept {
    // Separators: an abbreviation's '.' is part of the word when more follows.
    Separator seps[2];
    for (std::size_t i = 0; i < 2; ++i) {
        std::string_view s = fs.f[i].after;
        if (i == month_at && s.size() > 1 && s[0] == '.' &&
            find_name(month_names, fs.f[i].word)->abbreviation)
            s.remove_prefix(1);
        seps[i] = read_separator(s);
        if (seps[i].key == 0) return reject(not_a_form);
    }
    // Spaces and commas mix freely; punctuation must be the same both times.
    if (seps[0].key != seps[1].key) return reject(not_a_form);

    const int month = find_name(month_names, fs.f[month_at].word)->number;
    const Field* day = nullptr;
    const Field* year = nullptr;
    if (month_at == 0) {  // january 31, 1990
        day = &fs.f[1];
        year = &fs.f[2];
    } else if (month_at == 1 && fs.f[0].digits.size() == 4) {  // 1990-jan-31
        year = &fs.f[0];
        day = &fs.f[2];
    } else if (month_at == 1) {  // 31 january 1990
        day = &fs.f[0];
        year = &fs.f[2];
    } else {
        return reject(not_a_form);
    }
    if (!year->suffix.empty() || year->digits.empty() || day->digits.empty())
        return reject(not_a_form);
    if (!day->suffix.empty() && !is_ordinal(day->suffix)) return reject(not_a_form);
    if (day->digits.size() > 2) return reject(not_a_form);
    if (year->digits.size() == 2) return reject(two_digit_year);
    if (year->digits.size() != 4) return reject(not_a_form);
    return make(value_of(year->digits), month, value_of(day->digits));
}

ParsedDate parse_fields(std::string_view text, DateOrder order) noexcept {
    Fields fs = split(text);
    if (!fs.ok) return reject(not_a_form);

    // "31st of january 1990": drop the "of" between the day and the month.
    for (std::size_t i = 1; i + 1 < fs.n; ++i) {
        if (fs.f[i].word != "of") continue;
        if (fs.f[i - 1].digits.empty() || fs.f[i + 1].word.empty()) return reject(not_a_form);
        if (read_separator(fs.f[i - 1].after).key != ' ' || read_separator(fs.f[i].after).key != ' ')
            return reject(not_a_form);
        for (std::size_t j = i; j + 1 < fs.n; ++j) fs.f[j] = fs.f[j + 1];
        --fs.n;
        break;
    }

    if (fs.n == 1) {
        const Field& f = fs.f[0];
        if (f.digits.size() != 8 || !f.suffix.empty()) return reject(not_a_form);
        return make(value_of(slice(f.digits, 0, 4)), value_of(slice(f.digits, 4, 2)),
                    value_of(slice(f.digits, 6, 2)));
    }
    if (fs.n != 3) return reject(not_a_form);

    std::size_t words = 0, month_at = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        if (fs.f[i].word.empty()) continue;
        if (find_name(month_names, fs.f[i].word) == nullptr) return reject(not_a_form);
        ++words;
        month_at = i;
    }
    if (words == 1) return named(fs, month_at);
    if (words != 0) return reject(not_a_form);
    for (std::size_t i = 0; i < 3; ++i)
        if (!fs.f[i].suffix.empty()) return reject(not_a_form);  // ordinals only with a month name
    return numeric(fs.f[0], fs.f[1], fs.f[2], order);
}

// The date part of `yyyy-mm-ddThh:mm...` / `yyyy-mm-dd hh:mm...`, or `text` itself.
struct DatePart {
    std::string_view date;
    bool bad_time = false;
};

DatePart strip_time(std::string_view text) noexcept {
    DatePart p{text, false};
    if (text.size() <= 10) return p;
    const bool iso_date = all_digits(slice(text, 0, 4)) && text[4] == '-' &&
                          all_digits(slice(text, 5, 2)) && text[7] == '-' &&
                          all_digits(slice(text, 8, 2));
    if (!iso_date || (text[10] != 't' && text[10] != ' ')) return p;
    // "1990-01-31 wednesday" or the like is not a time: leave it to the fields.
    if (text.size() < 12 || !is_digit(text[11])) return p;
    p.date = slice(text, 0, 10);
    p.bad_time = !is_iso_time(slice(text, 11));
    return p;
}

} // namespace

ParsedDate parse_date(std::string_view text, DateOrder order) noexcept {
    // Meta's own form first: most values that reach this rule are already in it.
    if (text.size() == 8 && all_digits(text))
        return make(value_of(slice(text, 0, 4)), value_of(slice(text, 4, 2)), value_of(slice(text, 6, 2)));

    // A leading weekday: a name, then '.', ',' or spaces; checked below.
    int weekday = -1;
    {
        std::size_t i = 0;
        while (i < text.size() && is_letter(text[i])) ++i;
        if (const Name* w = find_name(weekday_names, slice(text, 0, i))) {
            std::size_t j = i;
            if (j < text.size() && text[j] == '.' && w->abbreviation) ++j;
            const std::size_t after_dot = j;
            if (j < text.size() && text[j] == ',') ++j;
            while (j < text.size() && is_space(text[j])) ++j;
            if (j == after_dot) return reject(not_a_form);  // "wednesday1990...", "wed.31 ..."
            weekday = w->number;
            text.remove_prefix(j);
        }
    }

    const DatePart part = strip_time(text);
    ParsedDate r = parse_fields(part.date, order);
    if (!r.ok) return r;
    if (part.bad_time) return reject(bad_time);
    if (weekday >= 0) {
        const int y = value_of({r.yyyymmdd, 4});
        const int m = value_of({r.yyyymmdd + 4, 2});
        const int d = value_of({r.yyyymmdd + 6, 2});
        if (weekday_of(y, m, d) != weekday) return reject(wrong_weekday);
    }
    return r;
}

} // namespace capi::detail
