#!/usr/bin/env python3
"""Generates lib/normalize/tables.cpp, the lookup tables of the enhanced (opt-in)
normalization rules (docs/normalization.md, "Enhanced, opt-in").

Usage: gen_normalize_tables.py [--iso-codes DIR] > lib/normalize/tables.cpp
       gen_normalize_tables.py --markdown   (the lists docs/normalization.md shows)

Inputs: Debian's iso-codes JSON (iso_3166-1.json: every alpha-2 and alpha-3 code
and the English name, common name and official name; iso_3166-2.json: the names of
the US and Canadian subdivisions), plus the hand-written lists below (variants,
abbreviations, native names, gender words, telephone numbering plans). The
generated file is committed and built; nothing reads a file at run time.

Every key is written in the shape the default rules leave a value in: lowercase,
letters only (Unicode letters kept, so "québec"), and is added as written, with its
diacritics removed ("quebec") and decomposed (NFD: the default rules do not compose). The script fails on any key that two
sources map to different values, unless the key is listed as ambiguous, and on any
variant that would shadow an ISO 3166-1 code.
"""
import argparse
import json
import pathlib
import sys
import unicodedata

# ---------------------------------------------------------------- country

# Names that name two countries: find_country says "ambiguous" for them, and the
# value stays rejected (with the reason "ambiguous country name").
AMBIGUOUS_COUNTRIES = [
    "congo", "thecongo",                  # CD (Kinshasa) or CG (Brazzaville)
    "korea",                              # KR or KP
    "virginislands", "thevirginislands",  # VG (British) or VI (US)
    "saintmartin", "stmartin",            # MF (French part) or SX (Sint Maarten)
]

# Common variants and native names, already squeezed (lowercase, letters only).
COUNTRY_VARIANTS = {
    "us": ["unitedstates", "unitedstatesofamerica", "theunitedstates",
           "theunitedstatesofamerica", "theusa", "america", "usofa",
           "estadosunidos", "étatsunis", "vereinigtestaaten"],
    "gb": ["uk", "theuk", "theunitedkingdom", "greatbritain", "britain", "england",
           "scotland", "wales", "northernireland"],
    "nl": ["holland", "thenetherlands", "nederland"],
    "de": ["deutschland", "bundesrepublikdeutschland"],
    "ru": ["russia", "россия"],
    "kr": ["republicofkorea", "한국", "대한민국"],
    "kp": ["dprk", "dprkorea"],
    "cz": ["czechrepublic", "česko", "českárepublika"],
    "ci": ["ivorycoast"],
    "tr": ["turkey"],
    "mk": ["macedonia", "fyrom", "formeryugoslavrepublicofmacedonia"],
    "mm": ["burma"],
    "sz": ["swaziland"],
    "cv": ["capeverde"],
    "va": ["vatican", "vaticancity", "vaticancitystate", "thevatican", "theholysee"],
    "ps": ["palestine", "palestinianterritories", "palestinianterritory"],
    "tw": ["台灣", "臺灣", "台湾"],
    "hk": ["hongkongsar"],
    "mo": ["macau", "macausar", "macaosar"],
    "ae": ["uae", "theuae", "emirates"],
    "cd": ["drc", "drcongo", "congokinshasa", "congodr"],
    "cg": ["republicofcongo", "congobrazzaville", "congorepublic"],
    "tl": ["easttimor"],
    "ax": ["åland", "ålandislands"],
    "bn": ["brunei"],
    "ba": ["bosnia"],
    "tt": ["trinidad"],
    "ag": ["antigua"],
    "fk": ["falklands"],
    "tc": ["turksandcaicos", "turkscaicos"],
    "fm": ["micronesia"],
    "kn": ["stkitts", "saintkitts"],
    "vc": ["stvincent", "saintvincent"],
    "st": ["saotome", "sãotomé", "sãotoméandpríncipe", "sãotomépríncipe"],
    "bs": ["thebahamas"],
    "gm": ["thegambia"],
    "ph": ["thephilippines", "pilipinas"],
    # Native names of the largest markets.
    "es": ["españa"],
    "mx": ["méxico"],
    "br": ["brasil"],
    "it": ["italia"],
    "jp": ["nippon", "nihon", "日本"],
    "ch": ["suisse", "schweiz", "svizzera", "svizra"],
    "at": ["österreich"],
    "se": ["sverige"],
    "no": ["norge", "noreg"],
    "dk": ["danmark"],
    "pl": ["polska"],
    "ie": ["éire"],
    "be": ["belgië", "belgique", "belgien"],
    "fi": ["suomi"],
    "gr": ["hellas", "ελλάδα"],
    "hu": ["magyarország"],
    "ro": ["românia"],
    "hr": ["hrvatska"],
    "ua": ["україна"],
    "cn": ["中国"],
    "pe": ["perú"],
    "vn": ["việtnam"],
}

# ---------------------------------------------------------------- states

# USPS/AP/GPO traditional abbreviations, squeezed; an abbreviation that is another
# state's 2-letter code is left out (the code wins), which the script checks.
US_ABBREVIATIONS = {
    "al": ["ala"], "az": ["ariz"], "ar": ["ark"], "ca": ["calif", "cal"],
    "co": ["colo"], "ct": ["conn"], "de": ["del"], "fl": ["fla"], "il": ["ill", "ills"],
    "in": ["ind"], "ks": ["kans", "kan"], "ma": ["mass"], "mi": ["mich"], "mn": ["minn"],
    "ms": ["miss"], "mt": ["mont"], "ne": ["nebr", "neb"], "nv": ["nev"],
    "nm": ["nmex"], "nd": ["ndak"], "ok": ["okla"], "or": ["oreg", "ore"],
    "pa": ["penn", "penna"], "sd": ["sdak"], "tn": ["tenn"], "tx": ["tex"],
    "wa": ["wash", "washingtonstate"], "wv": ["wva", "wvirginia"], "wi": ["wis", "wisc"],
    "wy": ["wyo"], "ny": ["newyorkstate"],
    "dc": ["washingtondc", "washdc", "distofcolumbia"],
    "vi": ["usvirginislands", "unitedstatesvirginislands", "virginislands"],
    "mp": ["cnmi"],
    "um": ["usminoroutlyingislands"],
}
# Canada: English and French names, common abbreviations (Canada Post's former
# PQ, NF; the Canadian Press's Alta., Ont., Que., Sask., Man., Nfld., PEI, NWT).
CA_NAMES = {
    "ab": ["alta"],
    "bc": ["colombiebritannique"],
    "mb": ["man"],
    "nb": ["nouveaubrunswick"],
    "nl": ["newfoundland", "nfld", "nf", "terreneuve", "terreneuveetlabrador"],
    "ns": ["nouvelleécosse"],
    "nt": ["territoiresdunordouest", "nwt"],
    "nu": [],
    "on": ["ont"],
    "pe": ["pei", "îleduprinceédouard"],
    "qc": ["québec", "que", "pq"],
    "sk": ["sask"],
    "yt": ["yk", "yukonterritory"],
}
US_CODES = ["al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il",
            "in", "ia", "ks", "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt",
            "ne", "nv", "nh", "nj", "nm", "ny", "nc", "nd", "oh", "ok", "or", "pa", "ri",
            "sc", "sd", "tn", "tx", "ut", "vt", "va", "wa", "wv", "wi", "wy",
            "dc", "as", "gu", "mp", "pr", "um", "vi"]

# ---------------------------------------------------------------- gender

GENDER = {
    "f": ["f", "female", "woman", "women", "w", "girl", "lady", "feminine",
          "frau", "weiblich",                      # German
          "femme", "féminin",                      # French
          "mujer", "femenino",                     # Spanish
          "mulher", "feminino",                    # Portuguese
          "donna", "femmina", "femminile",         # Italian
          "vrouw",                                 # Dutch
          "kvinna", "kvinde", "kvinne",            # Swedish, Danish, Norwegian
          "kobieta",                               # Polish
          "женщина", "женский", "ж",               # Russian
          "女", "女性",                            # Chinese, Japanese
          "여", "여자", "여성"],                   # Korean
    "m": ["m", "male", "man", "men", "boy", "gentleman", "masculine",
          "mann", "männlich", "maennlich",         # German
          "homme", "masculin",                     # French
          "hombre", "masculino",                   # Spanish, Portuguese
          "homem",                                 # Portuguese
          "uomo", "maschio", "maschile",           # Italian
          "mand",                                  # Danish ("man" also Dutch, Swedish)
          "mężczyzna",                             # Polish
          "мужчина", "мужской", "м",               # Russian
          "男", "男性",                            # Chinese, Japanese
          "남", "남자", "남성"],                   # Korean
}

# ---------------------------------------------------------------- phone

# ITU-T E.164 country calling codes of the assigned alpha-2 codes. Territories
# without a code of their own use the code they are served by (AX 358, EH 212,
# GG/IM/JE 44, GS 500, PN 64, SJ 47, VA 39, CC/CX 61). AQ, BV, HM, TF and UM have no
# calling code (uninhabited, or served by stations of other countries): no plan.
CALLING_CODES = """
ad 376 ae 971 af 93 ag 1 ai 1 al 355 am 374 ao 244 ar 54 as 1 at 43 au 61 aw 297 ax 358
az 994 ba 387 bb 1 bd 880 be 32 bf 226 bg 359 bh 973 bi 257 bj 229 bl 590 bm 1 bn 673
bo 591 bq 599 br 55 bs 1 bt 975 bw 267 by 375 bz 501 ca 1 cc 61 cd 243 cf 236 cg 242
ch 41 ci 225 ck 682 cl 56 cm 237 cn 86 co 57 cr 506 cu 53 cv 238 cw 599 cx 61 cy 357
cz 420 de 49 dj 253 dk 45 dm 1 do 1 dz 213 ec 593 ee 372 eg 20 eh 212 er 291 es 34
et 251 fi 358 fj 679 fk 500 fm 691 fo 298 fr 33 ga 241 gb 44 gd 1 ge 995 gf 594 gg 44
gh 233 gi 350 gl 299 gm 220 gn 224 gp 590 gq 240 gr 30 gs 500 gt 502 gu 1 gw 245
gy 592 hk 852 hn 504 hr 385 ht 509 hu 36 id 62 ie 353 il 972 im 44 in 91 io 246 iq 964
ir 98 is 354 it 39 je 44 jm 1 jo 962 jp 81 ke 254 kg 996 kh 855 ki 686 km 269 kn 1
kp 850 kr 82 kw 965 ky 1 kz 7 la 856 lb 961 lc 1 li 423 lk 94 lr 231 ls 266 lt 370
lu 352 lv 371 ly 218 ma 212 mc 377 md 373 me 382 mf 590 mg 261 mh 692 mk 389 ml 223
mm 95 mn 976 mo 853 mp 1 mq 596 mr 222 ms 1 mt 356 mu 230 mv 960 mw 265 mx 52 my 60
mz 258 na 264 nc 687 ne 227 nf 672 ng 234 ni 505 nl 31 no 47 np 977 nr 674 nu 683
nz 64 om 968 pa 507 pe 51 pf 689 pg 675 ph 63 pk 92 pl 48 pm 508 pn 64 pr 1 ps 970
pt 351 pw 680 py 595 qa 974 re 262 ro 40 rs 381 ru 7 rw 250 sa 966 sb 677 sc 248
sd 249 se 46 sg 65 sh 290 si 386 sj 47 sk 421 sl 232 sm 378 sn 221 so 252 sr 597
ss 211 st 239 sv 503 sx 1 sy 963 sz 268 tc 1 td 235 tg 228 th 66 tj 992 tk 690
tl 670 tm 993 tn 216 to 676 tr 90 tt 1 tv 688 tw 886 tz 255 ua 380 ug 256 us 1 uy 598
uz 998 va 39 vc 1 ve 58 vg 1 vi 1 vn 84 vu 678 wf 681 ws 685 ye 967 yt 262 za 27
zm 260 zw 263
"""
NO_CALLING_CODE = {"aq", "bv", "hm", "tf", "um"}

# The documented set: trunk prefix and national significant number length range
# (digits after the calling code, without the trunk prefix), from the national
# numbering plans as libphonenumber's metadata (8.12) summarises them (fixed-line
# and mobile lengths), except: DE capped at 13 (E.164's 15 digits less "49"); MX
# without a trunk prefix and 10 digits only (01/044/045 and the mobile "1" were
# abolished in 2019). Every NANP member: trunk 1, 10 digits.
PHONE_PLANS = """
us 1 10 10    ca 1 10 10    gb 0 9 10     gg 0 10 10    im 0 10 10    je 0 10 10
de 0 5 13     fr 0 9 9      gp 0 9 9      gf 0 9 9      mq 0 9 9      re 0 9 9
yt 0 9 9      bl 0 9 9      mf 0 9 9      it - 6 11     va - 6 11     es - 9 9
nl 0 9 11     be 0 8 9      ch 0 9 9      at 0 4 13     se 0 7 9      no - 8 8
dk - 8 8      fi 0 5 10     pl - 7 9      pt - 9 9      ie 0 7 10     au 0 9 9
nz 0 8 10     jp 0 9 10     kr 0 5 10     cn 0 7 11     in 0 10 10    br 0 10 11
mx - 10 10    ar 0 10 11    ru 8 10 10    kz 8 10 10    tr 0 10 10    za 0 5 9
il 0 8 12     ae 0 8 9      sa 0 9 9      sg - 8 8      hk - 8 8      mo - 8 8
tw 0 8 9      th 0 8 9      id 0 7 12     ph 0 6 10     my 0 8 10     vn 0 9 10
eg 0 8 10     ng 0 7 10     co 0 10 10    cl - 9 9      pe 0 8 9      cz - 9 9
gr - 10 10    hu 06 8 9     ro 0 6 9      ua 0 9 9      pk 0 9 10     bd 0 6 10
ke 0 7 9      sk 0 6 9      hr 0 8 9      bg 0 6 9      lu - 4 11     ma 0 9 9
"""


def fold(s):
    """s without its diacritics when that leaves ASCII: "québec" -> "quebec";
    other scripts as they are ("й" is a letter of its own, not "и" with a mark)."""
    f = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    return f if f.isascii() else s


def squeeze(s):
    """The default rules' shape: lowercase, letters (and combining marks) only."""
    s = unicodedata.normalize("NFC", s.lower())
    return "".join(c for c in s if c.isalpha() or unicodedata.combining(c))


def name_forms(name):
    """Word-level variants of an English name: without a parenthetical, the
    inverted form of "Korea, Republic of", without a leading "the", without "and",
    and with "Saint" as "St"."""
    forms = {name}
    if "(" in name:
        forms.add((name[:name.index("(")] + name[name.index(")") + 1:]).strip())
    for f in list(forms):
        if ", " in f:
            head, tail = f.split(", ", 1)
            if tail.endswith(" of") or tail.endswith(" of the") or " " not in tail:
                forms.add(tail + " " + head)
    for f in list(forms):
        words = f.split()
        if words and words[0].lower() == "the":
            forms.add(" ".join(words[1:]))
    for f in list(forms):
        words = f.split()
        if "and" in words or "&" in words:
            forms.add(" ".join(w for w in words if w not in ("and", "&")))
    for f in list(forms):
        words = f.split()
        if words and words[0] == "Saint":
            forms.add(" ".join(["St"] + words[1:]))
    return forms


class Table:
    def __init__(self, what):
        self.what = what
        self.rows = {}

    def add(self, key, value):
        for k in {key, fold(key)}:
            if not k:
                sys.exit(f"{self.what}: empty key for {value!r}")
            if squeeze(k) != k:
                sys.exit(f"{self.what}: key {k!r} is not squeezed")
            # The default rules do not compose: "québec" may arrive decomposed
            # (e + U+0301), and must be found all the same.
            for kk in {k, unicodedata.normalize("NFD", k)}:
                old = self.rows.get(kk)
                if old is not None and old != value:
                    sys.exit(f"{self.what}: {kk!r} maps to {old!r} and {value!r}")
                self.rows[kk] = value

    def sorted(self):
        return sorted(self.rows.items(), key=lambda kv: kv[0].encode())


def country_table(iso):
    codes = {}  # alpha-2 and alpha-3 keys, which nothing may shadow
    t = Table("country")
    for e in iso:
        a2 = e["alpha_2"].lower()
        codes[a2] = a2
        codes[e["alpha_3"].lower()] = a2
    for k, v in codes.items():
        t.add(k, v)
    ambiguous = set(AMBIGUOUS_COUNTRIES)
    for e in iso:
        a2 = e["alpha_2"].lower()
        for field in ("name", "common_name", "official_name"):
            if field not in e:
                continue
            for form in name_forms(e[field]):
                key = squeeze(form)
                if key in ambiguous or fold(key) in ambiguous:
                    continue
                t.add(key, a2)
    for a2, keys in COUNTRY_VARIANTS.items():
        if a2 not in codes:
            sys.exit(f"country: variant target {a2!r} is not an alpha-2 code")
        for k in keys:
            for kk in {k, fold(k)}:
                if kk in codes and codes[kk] != a2:
                    sys.exit(f"country: variant {kk!r} shadows the code {kk!r}")
            t.add(k, a2)
    for k in AMBIGUOUS_COUNTRIES:
        if k in t.rows:
            sys.exit(f"country: ambiguous {k!r} is also mapped")
        t.add(k, "")
    for k, v in t.rows.items():
        if k in codes and codes[k] != v:
            sys.exit(f"country: {k!r} shadows a code")
    return t, codes


def state_tables(iso2):
    us, ca = Table("state us"), Table("state ca")
    for e in iso2:
        country, code = e["code"].lower().split("-")
        if country not in ("us", "ca"):
            continue
        t = us if country == "us" else ca
        t.add(code, code)
        for form in name_forms(e["name"]):
            t.add(squeeze(form), code)
    if sorted(c for c, v in us.rows.items() if len(c) == 2 and c == v) != sorted(US_CODES):
        sys.exit("state us: iso_3166-2 codes differ from the expected list")
    for code, keys in US_ABBREVIATIONS.items():
        for k in keys:
            if k in us.rows and us.rows[k] != code:
                sys.exit(f"state us: {k!r} is {us.rows[k]!r}'s key")
            us.add(k, code)
    for code, keys in CA_NAMES.items():
        for k in keys:
            ca.add(k, code)
    for k in set(us.rows) & set(ca.rows):
        sys.exit(f"state: {k!r} is in both the US and the Canadian table")
    return us, ca


def gender_table():
    t = Table("gender")
    for g, words in GENDER.items():
        for w in words:
            t.add(w, g)
    return t


def phone_plans(iso):
    assigned = {e["alpha_2"].lower() for e in iso}
    words = CALLING_CODES.split()
    cc = dict(zip(words[0::2], words[1::2]))
    if set(cc) | NO_CALLING_CODE != assigned or set(cc) & NO_CALLING_CODE:
        sys.exit(f"phone: calling codes do not cover the assigned codes: "
                 f"{sorted(assigned ^ (set(cc) | NO_CALLING_CODE))}")
    words = PHONE_PLANS.split()
    plans = {}
    for i in range(0, len(words), 4):
        a2, trunk, lo, hi = words[i:i + 4]
        if a2 not in cc or a2 in plans or not 0 < int(lo) <= int(hi) <= 15 - len(cc[a2]):
            sys.exit(f"phone: bad plan {words[i:i + 4]}")
        plans[a2] = ("" if trunk == "-" else trunk, int(lo), int(hi))
    for a2, code in cc.items():
        if code == "1":
            plans.setdefault(a2, ("1", 10, 10))
    return [(a2, cc[a2]) + plans.get(a2, ("", 0, 0)) for a2 in sorted(cc)], plans


def cpp_str(s):
    return '"' + s + '"'


def pack(cells, indent="    ", width=100):
    lines, line = [], indent
    for c in cells:
        if len(line) + len(c) + 1 > width and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += c + " "
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def markdown(iso, iso2, plans, documented):
    """The hand-written lists as docs/normalization.md shows them."""
    names = {e["alpha_2"].lower(): e.get("common_name", e["name"]) for e in iso}
    code = lambda ks: ", ".join(f"`{k}`" for k in ks)
    out = ["country variants:", "", "| code | variants (besides the ISO names) |", "|---|---|"]
    for a2 in sorted(COUNTRY_VARIANTS):
        out.append(f"| `{a2}` {names[a2]} | {code(COUNTRY_VARIANTS[a2])} |")
    out += ["", "ambiguous: " + code(AMBIGUOUS_COUNTRIES), "", "US abbreviations:", "",
            "| code | name | abbreviations |", "|---|---|---|"]
    sub = {e["code"].lower(): e["name"] for e in iso2}
    for c in sorted(US_ABBREVIATIONS):
        out.append(f"| `{c}` | {sub['us-' + c]} | {code(US_ABBREVIATIONS[c])} |")
    out += ["", "| code | province or territory | French names and abbreviations |", "|---|---|---|"]
    for c in sorted(CA_NAMES):
        out.append(f"| `{c}` | {sub['ca-' + c]} | {code(CA_NAMES[c])} |")
    for g, words in GENDER.items():
        out += ["", f"gender {g}: " + code(words)]
    out += ["", "| country | calling code | trunk prefix | national number digits |",
            "|---|---|---|---|"]
    for a2, cc, trunk, lo, hi in plans:
        if a2 in documented and cc != "1":
            digits = str(lo) if lo == hi else f"{lo}-{hi}"
            out.append(f"| `{a2}` {names[a2]} | {cc} | {trunk or 'none'} | {digits} |")
    out += ["", "NANP: " + code(a2 for a2, cc, *_ in plans if cc == "1")]
    out += ["", "no lengths: " + code(a2 for a2, _, _, lo, _ in plans if lo == 0)]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iso-codes", default="/usr/share/iso-codes/json")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    root = pathlib.Path(args.iso_codes)
    iso = json.loads((root / "iso_3166-1.json").read_text(encoding="utf-8"))["3166-1"]
    iso2 = json.loads((root / "iso_3166-2.json").read_text(encoding="utf-8"))["3166-2"]

    countries, _ = country_table(iso)
    us, ca = state_tables(iso2)
    gender = gender_table()
    plans, documented = phone_plans(iso)
    if args.markdown:
        sys.stdout.write(markdown(iso, iso2, plans, documented))
        return

    def entries(t):
        return pack([f"{{{cpp_str(k)}, {cpp_str(v)}}}," for k, v in t.sorted()])

    out = []
    out.append(f"""// capi: the lookup tables of the enhanced (opt-in) normalization rules
// (lib/normalize/tables.hpp; docs/normalization.md, "Enhanced, opt-in").
//
// GENERATED by scripts/gen_normalize_tables.py from Debian's iso-codes
// (iso_3166-1.json, iso_3166-2.json) and the lists in that script: edit the
// script and regenerate, do not edit the tables by hand.
//
// Keys are in the shape the default rules leave a value in (lowercase, letters
// only, UTF-8), each also without its diacritics and, since those rules do not
// compose, decomposed (NFD). Sorted by bytes, as std::string_view compares, and
// checked sorted and unique at compile time.
#include "normalize/tables.hpp"

#include <algorithm>
#include <iterator>

namespace capi::detail::tables {{
namespace {{

struct Row {{
    std::string_view key;
    std::string_view value;
}};

constexpr bool row_less(const Row& a, const Row& b) noexcept {{ return a.key < b.key; }}

// Sorted and no key twice.
template <std::size_t N>
constexpr bool strictly_sorted(const Row (&rows)[N]) noexcept {{
    for (std::size_t i = 1; i < N; ++i)
        if (!(rows[i - 1].key < rows[i].key)) return false;
    return true;
}}

template <std::size_t N>
constexpr const Row* lookup(const Row (&rows)[N], std::string_view key) noexcept {{
    const Row* const it = std::lower_bound(std::begin(rows), std::end(rows), Row{{key, {{}}}}, row_less);
    return it != std::end(rows) && it->key == key ? it : nullptr;
}}

// Countries: {len(countries.rows)} keys. Alpha-2 codes map to themselves, alpha-3
// codes to their alpha-2, names and variants to their alpha-2; an empty value
// marks an ambiguous name ({", ".join(AMBIGUOUS_COUNTRIES)}).
constexpr Row countries[] = {{
{entries(countries)}
}};
static_assert(strictly_sorted(countries));

// A 2-letter key is an alpha-2 code and maps to itself; the one exception is
// "uk", which ISO reserves for the United Kingdom without assigning it.
constexpr bool codes_not_shadowed() noexcept {{
    for (const Row& r : countries)
        if (r.key.size() == 2 && r.key != r.value && r.key != "uk") return false;
    return true;
}}
static_assert(codes_not_shadowed());

// US states, the District of Columbia and the territories: {len(us.rows)} keys.
constexpr Row us_states[] = {{
{entries(us)}
}};
static_assert(strictly_sorted(us_states));

// Canadian provinces and territories: {len(ca.rows)} keys.
constexpr Row ca_provinces[] = {{
{entries(ca)}
}};
static_assert(strictly_sorted(ca_provinces));

// With no country both tables are searched, so no key may be in both.
constexpr bool disjoint(const Row* a, const Row* a_end, const Row* b, const Row* b_end) noexcept {{
    while (a != a_end && b != b_end) {{
        if (a->key == b->key) return false;
        if (a->key < b->key) ++a; else ++b;
    }}
    return true;
}}
static_assert(disjoint(std::begin(us_states), std::end(us_states),
                       std::begin(ca_provinces), std::end(ca_provinces)));

// Gender words: {len(gender.rows)} keys.
constexpr Row genders[] = {{
{entries(gender)}
}};
static_assert(strictly_sorted(genders));

// Every assigned alpha-2 code with a calling code ({len(plans)}; not {", ".join(sorted(NO_CALLING_CODE)).upper()}).
// Trunk prefix and lengths for the documented set ({len(documented)} countries, the
// NANP members included); elsewhere "" and 0/0: not known.
constexpr PhonePlan phone_plans[] = {{
{pack([f'{{{cpp_str(a)}, {cpp_str(c)}, {cpp_str(t)}, {lo}, {hi}}},' for a, c, t, lo, hi in plans])}
}};

constexpr bool plans_sorted() noexcept {{
    for (std::size_t i = 1; i < std::size(phone_plans); ++i)
        if (!(phone_plans[i - 1].country < phone_plans[i].country)) return false;
    return true;
}}
static_assert(plans_sorted());

}} // namespace

CountryLookup find_country(std::string_view letters) noexcept {{
    const Row* const r = lookup(countries, letters);
    if (r == nullptr) return {{}};
    if (r->value.empty()) return {{CountryLookup::Result::ambiguous, {{}}}};
    return {{CountryLookup::Result::found, r->value}};
}}

std::string_view find_state(std::string_view letters, std::string_view country) noexcept {{
    const bool us = country.empty() || country == "us";
    const bool ca = country.empty() || country == "ca";
    if (us)
        if (const Row* const r = lookup(us_states, letters)) return r->value;
    if (ca)
        if (const Row* const r = lookup(ca_provinces, letters)) return r->value;
    return {{}};
}}

char find_gender(std::string_view letters) noexcept {{
    const Row* const r = lookup(genders, letters);
    return r == nullptr ? '\\0' : r->value.front();
}}

const PhonePlan* find_phone_plan(std::string_view alpha2) noexcept {{
    const PhonePlan* const it = std::lower_bound(
        std::begin(phone_plans), std::end(phone_plans), alpha2,
        [](const PhonePlan& p, std::string_view k) noexcept {{ return p.country < k; }});
    return it != std::end(phone_plans) && it->country == alpha2 ? it : nullptr;
}}

}} // namespace capi::detail::tables
""")
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
