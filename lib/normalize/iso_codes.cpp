// capi: the ISO 3166-1 alpha-2 and ISO 4217 code lists, as compile-time bitsets.
//
// Sources: ISO 3166-1 (the 249 officially assigned alpha-2 codes) and ISO 4217
// list one (active alphabetic codes, including fund, metal and special codes such
// as XAU, XDR; not XTS "testing" or XXX "no currency", which no purchase carries),
// as published in Debian's iso-codes 4.15, plus XCG and ZWG
// (assigned 2024). Codes withdrawn only recently (HRK, SLL, CUC, ANG, ZWL) are kept:
// stored purchase data still carries them and rejecting a currency Meta knows costs
// the whole custom_data value. Update both lists when ISO amends them.
#include <capi/normalize.hpp>

#include <array>
#include <cstdint>

namespace capi {
namespace {

constexpr std::string_view alpha2_list =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ "
    "BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
    "DE DJ DK DM DO DZ "
    "EC EE EG EH ER ES ET "
    "FI FJ FK FM FO FR "
    "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY "
    "HK HM HN HR HT HU "
    "ID IE IL IM IN IO IQ IR IS IT "
    "JE JM JO JP "
    "KE KG KH KI KM KN KP KR KW KY KZ "
    "LA LB LC LI LK LR LS LT LU LV LY "
    "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ "
    "NA NC NE NF NG NI NL NO NP NR NU NZ "
    "OM "
    "PA PE PF PG PH PK PL PM PN PR PS PT PW PY "
    "QA "
    "RE RO RS RU RW "
    "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ "
    "TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ "
    "UA UG UM US UY UZ "
    "VA VC VE VG VI VN VU "
    "WF WS "
    "YE YT "
    "ZA ZM ZW ";

constexpr std::string_view currency_list =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN "
    "BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK "
    "DJF DKK DOP DZD "
    "EGP ERN ETB EUR "
    "FJD FKP "
    "GBP GEL GHS GIP GMD GNF GTQ GYD "
    "HKD HNL HRK HTG HUF "
    "IDR ILS INR IQD IRR ISK "
    "JMD JOD JPY "
    "KES KGS KHR KMF KPW KRW KWD KYD KZT "
    "LAK LBP LKR LRD LSL LYD "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN "
    "NAD NGN NIO NOK NPR NZD "
    "OMR "
    "PAB PEN PGK PHP PKR PLN PYG "
    "QAR "
    "RON RSD RUB RWF "
    "SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
    "THB TJS TMT TND TOP TRY TTD TWD TZS "
    "UAH UGX USD USN UYI UYU UYW UZS "
    "VED VES VND VUV "
    "WST "
    "XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA "
    "YER "
    "ZAR ZMW ZWG ZWL ";

constexpr int letter_index(char c) noexcept {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return c - 'A';
    return -1;
}

// Index of a code in [0, 26^N), or -1 when it is not N ASCII letters.
template <std::size_t N>
constexpr int code_index(std::string_view code) noexcept {
    if (code.size() != N) return -1;
    int index = 0;
    for (const char c : code) {
        const int l = letter_index(c);
        if (l < 0) return -1;
        index = index * 26 + l;
    }
    return index;
}

template <std::size_t N>
constexpr std::size_t table_size = (N == 2 ? 26 * 26 : 26 * 26 * 26) / 64 + 1;

template <std::size_t N>
using Table = std::array<std::uint64_t, table_size<N>>;

// Builds the bitset from a list of space-terminated codes; a malformed list fails
// to compile (the throw is not a constant expression).
template <std::size_t N>
constexpr Table<N> make_table(std::string_view list) {
    Table<N> table{};
    std::size_t count = 0;
    for (std::size_t i = 0; i < list.size(); i += N + 1) {
        const int index = code_index<N>(list.substr(i, N));
        if (index < 0 || list[i + N] != ' ') throw "malformed code list";
        table[static_cast<std::size_t>(index) / 64] |= std::uint64_t{1} << (index % 64);
        ++count;
    }
    if (N == 2 && count != 249) throw "ISO 3166-1 assigns 249 alpha-2 codes";
    return table;
}

constexpr Table<2> alpha2_table = make_table<2>(alpha2_list);
constexpr Table<3> currency_table = make_table<3>(currency_list);

template <std::size_t N>
constexpr bool contains(const Table<N>& table, std::string_view code) noexcept {
    const int index = code_index<N>(code);
    if (index < 0) return false;
    return (table[static_cast<std::size_t>(index) / 64] >> (index % 64)) & 1U;
}

static_assert(contains<2>(alpha2_table, "US") && contains<2>(alpha2_table, "zw"));
static_assert(!contains<2>(alpha2_table, "UU") && !contains<2>(alpha2_table, "UK"));
static_assert(contains<3>(currency_table, "usd") && contains<3>(currency_table, "XAU"));

} // namespace

bool is_iso3166_alpha2(std::string_view code) noexcept {
    return contains<2>(alpha2_table, code);
}

bool is_iso4217(std::string_view code) noexcept {
    return contains<3>(currency_table, code);
}

} // namespace capi
