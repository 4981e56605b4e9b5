// The lookup tables of the enhanced (opt-in) normalization rules
// (lib/normalize/tables.hpp; docs/normalization.md, "Enhanced, opt-in"):
// countries, US states and Canadian provinces, gender words, telephone plans.
//
// Sources of the vectors: ISO 3166-1 as published in Debian's iso-codes 4.15
// (every alpha-2 and alpha-3 code, copied below), ISO 3166-2:US and :CA, the
// USPS / GPO Style Manual state abbreviations, the Canadian Press provincial
// abbreviations, ITU-T E.164 country calling codes and the national numbering
// plans (as libphonenumber's metadata summarises them).
#include "normalize/tables.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tables = capi::detail::tables;
using Result = tables::CountryLookup::Result;

namespace {

// Every officially assigned ISO 3166-1 code, as "alpha-2 alpha-3" pairs.
constexpr std::string_view iso_3166_1 =
    "ad and ae are af afg ag atg ai aia al alb am arm ao ago aq ata ar arg as asm at aut au aus "
    "aw abw ax ala az aze ba bih bb brb bd bgd be bel bf bfa bg bgr bh bhr bi bdi bj ben bl blm "
    "bm bmu bn brn bo bol bq bes br bra bs bhs bt btn bv bvt bw bwa by blr bz blz ca can cc cck "
    "cd cod cf caf cg cog ch che ci civ ck cok cl chl cm cmr cn chn co col cr cri cu cub cv cpv "
    "cw cuw cx cxr cy cyp cz cze de deu dj dji dk dnk dm dma do dom dz dza ec ecu ee est eg egy "
    "eh esh er eri es esp et eth fi fin fj fji fk flk fm fsm fo fro fr fra ga gab gb gbr gd grd "
    "ge geo gf guf gg ggy gh gha gi gib gl grl gm gmb gn gin gp glp gq gnq gr grc gs sgs gt gtm "
    "gu gum gw gnb gy guy hk hkg hm hmd hn hnd hr hrv ht hti hu hun id idn ie irl il isr im imn "
    "in ind io iot iq irq ir irn is isl it ita je jey jm jam jo jor jp jpn ke ken kg kgz kh khm "
    "ki kir km com kn kna kp prk kr kor kw kwt ky cym kz kaz la lao lb lbn lc lca li lie lk lka "
    "lr lbr ls lso lt ltu lu lux lv lva ly lby ma mar mc mco md mda me mne mf maf mg mdg mh mhl "
    "mk mkd ml mli mm mmr mn mng mo mac mp mnp mq mtq mr mrt ms msr mt mlt mu mus mv mdv mw mwi "
    "mx mex my mys mz moz na nam nc ncl ne ner nf nfk ng nga ni nic nl nld no nor np npl nr nru "
    "nu niu nz nzl om omn pa pan pe per pf pyf pg png ph phl pk pak pl pol pm spm pn pcn pr pri "
    "ps pse pt prt pw plw py pry qa qat re reu ro rou rs srb ru rus rw rwa sa sau sb slb sc syc "
    "sd sdn se swe sg sgp sh shn si svn sj sjm sk svk sl sle sm smr sn sen so som sr sur ss ssd "
    "st stp sv slv sx sxm sy syr sz swz tc tca td tcd tf atf tg tgo th tha tj tjk tk tkl tl tls "
    "tm tkm tn tun to ton tr tur tt tto tv tuv tw twn tz tza ua ukr ug uga um umi us usa uy ury "
    "uz uzb va vat vc vct ve ven vg vgb vi vir vn vnm vu vut wf wlf ws wsm ye yem yt myt za zaf "
    "zm zmb zw zwe ";

std::vector<std::pair<std::string, std::string>> iso_pairs() {
    std::vector<std::pair<std::string, std::string>> out;
    std::vector<std::string> words;
    std::string w;
    for (const char c : iso_3166_1) {
        if (c == ' ') {
            if (!w.empty()) words.push_back(std::move(w));
            w.clear();
        } else {
            w += c;
        }
    }
    if (!w.empty()) words.push_back(w);
    for (std::size_t i = 0; i + 1 < words.size(); i += 2) out.emplace_back(words[i], words[i + 1]);
    return out;
}

std::string country(std::string_view letters) {
    const auto r = tables::find_country(letters);
    switch (r.result) {
    case Result::found: return std::string(r.alpha2);
    case Result::ambiguous: return "<ambiguous>";
    case Result::unknown: return "<unknown>";
    }
    return "<bad result>";
}

} // namespace

TEST_CASE("every ISO 3166-1 alpha-2 code is itself and every alpha-3 its alpha-2", "[enhanced][tables]") {
    const auto pairs = iso_pairs();
    REQUIRE(pairs.size() == 249);
    for (const auto& [a2, a3] : pairs) {
        INFO(a2 << " " << a3);
        REQUIRE(a2.size() == 2);
        REQUIRE(a3.size() == 3);
        // A variant that shadowed a code would make one of these fail.
        CHECK(country(a2) == a2);
        CHECK(country(a3) == a2);
    }
}

TEST_CASE("country names and variants map to their alpha-2 code", "[enhanced][tables]") {
    const std::vector<std::pair<std::string_view, std::string_view>> vectors = {
        // iso-codes names, common names and official names, squeezed
        {"germany", "de"}, {"federalrepublicofgermany", "de"}, {"france", "fr"},
        {"unitedkingdom", "gb"}, {"unitedkingdomofgreatbritainandnorthernireland", "gb"},
        {"unitedstates", "us"}, {"unitedstatesofamerica", "us"}, {"canada", "ca"},
        {"bolivia", "bo"}, {"boliviaplurinationalstateof", "bo"}, {"plurinationalstateofbolivia", "bo"},
        {"iran", "ir"}, {"islamicrepublicofiran", "ir"}, {"laos", "la"},
        {"laopeoplesdemocraticrepublic", "la"}, {"moldova", "md"}, {"republicofmoldova", "md"},
        {"syria", "sy"}, {"syrianarabrepublic", "sy"}, {"tanzania", "tz"},
        {"unitedrepublicoftanzania", "tz"}, {"venezuela", "ve"}, {"vietnam", "vn"},
        {"russianfederation", "ru"}, {"taiwan", "tw"}, {"taiwanprovinceofchina", "tw"},
        {"hongkong", "hk"}, {"macao", "mo"}, {"unitedarabemirates", "ae"},
        {"czechia", "cz"}, {"northmacedonia", "mk"}, {"myanmar", "mm"}, {"eswatini", "sz"},
        {"caboverde", "cv"}, {"holysee", "va"}, {"stateofpalestine", "ps"},
        {"southkorea", "kr"}, {"northkorea", "kp"}, {"democraticpeoplesrepublicofkorea", "kp"},
        {"democraticrepublicofthecongo", "cd"}, {"republicofthecongo", "cg"},
        {"britishvirginislands", "vg"}, {"usvirginislands", "vi"}, {"virginislandsus", "vi"},
        {"guinea", "gn"}, {"guineabissau", "gw"}, {"equatorialguinea", "gq"},
        {"samoa", "ws"}, {"americansamoa", "as"}, {"sudan", "sd"}, {"southsudan", "ss"},
        {"georgia", "ge"}, {"niger", "ne"}, {"nigeria", "ng"}, {"dominica", "dm"},
        {"dominicanrepublic", "do"}, {"sintmaarten", "sx"}, {"saintmartinfrenchpart", "mf"},
        {"cocoskeelingislands", "cc"}, {"cocosislands", "cc"}, {"falklandislands", "fk"},
        {"trinidadandtobago", "tt"}, {"trinidadtobago", "tt"}, {"bosniaandherzegovina", "ba"},
        {"saintlucia", "lc"}, {"stlucia", "lc"}, {"stkittsandnevis", "kn"},
        {"saotomeandprincipe", "st"}, {"sãotoméandpríncipe", "st"},
        // Non-ASCII names, as written and without diacritics
        {"côtedivoire", "ci"}, {"cotedivoire", "ci"}, {"türkiye", "tr"}, {"turkiye", "tr"},
        {"curaçao", "cw"}, {"curacao", "cw"}, {"réunion", "re"}, {"reunion", "re"},
        {"åland", "ax"}, {"aland", "ax"}, {"ålandislands", "ax"}, {"alandislands", "ax"},
        {"saintbarthélemy", "bl"}, {"saintbarthelemy", "bl"},
        // Decomposed (NFD), as a value may arrive: the default rules do not compose
        {"co\u0302tedivoire", "ci"}, {"tu\u0308rkiye", "tr"}, {"e\u0301ire", "ie"},
        {"a\u030Aland", "ax"}, {"me\u0301xico", "mx"},
        // Common variants
        {"us", "us"}, {"usa", "us"}, {"america", "us"}, {"usofa", "us"}, {"theunitedstates", "us"},
        {"uk", "gb"}, {"greatbritain", "gb"}, {"britain", "gb"}, {"england", "gb"},
        {"scotland", "gb"}, {"wales", "gb"}, {"northernireland", "gb"}, {"theuk", "gb"},
        {"holland", "nl"}, {"thenetherlands", "nl"}, {"netherlands", "nl"},
        {"russia", "ru"}, {"republicofkorea", "kr"}, {"dprk", "kp"},
        {"czechrepublic", "cz"}, {"ivorycoast", "ci"}, {"turkey", "tr"}, {"macedonia", "mk"},
        {"burma", "mm"}, {"swaziland", "sz"}, {"capeverde", "cv"}, {"vatican", "va"},
        {"vaticancity", "va"}, {"palestine", "ps"}, {"macau", "mo"}, {"uae", "ae"},
        {"drc", "cd"}, {"drcongo", "cd"}, {"congokinshasa", "cd"}, {"congobrazzaville", "cg"},
        {"republicofcongo", "cg"}, {"easttimor", "tl"}, {"timorleste", "tl"}, {"brunei", "bn"},
        {"thebahamas", "bs"}, {"thegambia", "gm"}, {"micronesia", "fm"},
        // Native names of large markets
        {"deutschland", "de"}, {"españa", "es"}, {"espana", "es"}, {"méxico", "mx"},
        {"mexico", "mx"}, {"brasil", "br"}, {"italia", "it"}, {"nippon", "jp"}, {"nihon", "jp"},
        {"日本", "jp"}, {"suisse", "ch"}, {"schweiz", "ch"}, {"svizzera", "ch"},
        {"österreich", "at"}, {"osterreich", "at"}, {"sverige", "se"}, {"norge", "no"},
        {"danmark", "dk"}, {"polska", "pl"}, {"éire", "ie"}, {"eire", "ie"}, {"belgië", "be"},
        {"belgie", "be"}, {"belgique", "be"}, {"nederland", "nl"}, {"suomi", "fi"},
        {"magyarország", "hu"}, {"românia", "ro"}, {"česko", "cz"}, {"россия", "ru"},
        {"україна", "ua"}, {"中国", "cn"}, {"대한민국", "kr"}, {"ελλάδα", "gr"},
    };
    for (const auto& [in, want] : vectors) {
        INFO(in);
        CHECK(country(in) == want);
    }
}

TEST_CASE("names of two countries are ambiguous", "[enhanced][tables]") {
    for (const std::string_view name : {"congo", "thecongo", "korea", "virginislands",
                                        "thevirginislands", "saintmartin", "stmartin"}) {
        INFO(name);
        const auto r = tables::find_country(name);
        CHECK(r.result == Result::ambiguous);
        CHECK(r.alpha2.empty());
    }
}

TEST_CASE("unknown country keys", "[enhanced][tables]") {
    // Unassigned or reserved codes, misspellings, keys not in the squeezed shape
    // (uppercase, punctuation, spaces): the lookup does not normalize.
    for (const std::string_view key : {"", "u", "uu", "zz", "xk", "aaa", "xxx", "ussr", "germanyy",
                                       "unitedstate", "US", "USA", "Germany", "u.s.", "united states",
                                       "europe", "eu", "africa", "korean", "congos"}) {
        INFO(key);
        CHECK(tables::find_country(key).result == Result::unknown);
        CHECK(tables::find_country(key).alpha2.empty());
    }
}

TEST_CASE("no 2- or 3-letter variant takes an assigned code's place", "[enhanced][tables]") {
    // The variants of 2 or 3 letters are not ISO codes themselves ...
    const auto pairs = iso_pairs();
    for (const std::string_view v : {"uk", "uae", "drc"}) {
        INFO(v);
        for (const auto& [a2, a3] : pairs) {
            CHECK(v != a2);
            CHECK(v != a3);
        }
    }
    // ... and codes that read like words are still the codes.
    CHECK(country("and") == "ad");  // Andorra, not a word to skip
    CHECK(country("can") == "ca");
    CHECK(country("per") == "pe");
    CHECK(country("ind") == "in");  // India here; Indiana only as a state
    CHECK(country("gb") == "gb");
    CHECK(country("gbr") == "gb");
}

TEST_CASE("US states, DC and territories", "[enhanced][tables]") {
    const std::vector<std::pair<std::string_view, std::string_view>> vectors = {
        // every code is itself
        {"al", "al"}, {"ak", "ak"}, {"az", "az"}, {"ar", "ar"}, {"ca", "ca"}, {"co", "co"},
        {"ct", "ct"}, {"de", "de"}, {"fl", "fl"}, {"ga", "ga"}, {"hi", "hi"}, {"id", "id"},
        {"il", "il"}, {"in", "in"}, {"ia", "ia"}, {"ks", "ks"}, {"ky", "ky"}, {"la", "la"},
        {"me", "me"}, {"md", "md"}, {"ma", "ma"}, {"mi", "mi"}, {"mn", "mn"}, {"ms", "ms"},
        {"mo", "mo"}, {"mt", "mt"}, {"ne", "ne"}, {"nv", "nv"}, {"nh", "nh"}, {"nj", "nj"},
        {"nm", "nm"}, {"ny", "ny"}, {"nc", "nc"}, {"nd", "nd"}, {"oh", "oh"}, {"ok", "ok"},
        {"or", "or"}, {"pa", "pa"}, {"ri", "ri"}, {"sc", "sc"}, {"sd", "sd"}, {"tn", "tn"},
        {"tx", "tx"}, {"ut", "ut"}, {"vt", "vt"}, {"va", "va"}, {"wa", "wa"}, {"wv", "wv"},
        {"wi", "wi"}, {"wy", "wy"}, {"dc", "dc"}, {"pr", "pr"}, {"gu", "gu"}, {"vi", "vi"},
        {"as", "as"}, {"mp", "mp"}, {"um", "um"},
        // full names
        {"alabama", "al"}, {"california", "ca"}, {"newyork", "ny"}, {"northcarolina", "nc"},
        {"westvirginia", "wv"}, {"virginia", "va"}, {"washington", "wa"},
        {"districtofcolumbia", "dc"}, {"washingtondc", "dc"}, {"puertorico", "pr"},
        {"guam", "gu"}, {"usvirginislands", "vi"}, {"virginislands", "vi"},
        {"americansamoa", "as"}, {"northernmarianaislands", "mp"},
        {"unitedstatesminoroutlyingislands", "um"}, {"georgia", "ga"}, {"rhodeisland", "ri"},
        // traditional abbreviations
        {"ala", "al"}, {"ariz", "az"}, {"ark", "ar"}, {"calif", "ca"}, {"cal", "ca"},
        {"colo", "co"}, {"conn", "ct"}, {"del", "de"}, {"fla", "fl"}, {"ill", "il"},
        {"ills", "il"}, {"ind", "in"}, {"kans", "ks"}, {"kan", "ks"}, {"mass", "ma"},
        {"mich", "mi"}, {"minn", "mn"}, {"miss", "ms"}, {"mont", "mt"}, {"nebr", "ne"},
        {"neb", "ne"}, {"nev", "nv"}, {"nmex", "nm"}, {"ndak", "nd"}, {"sdak", "sd"},
        {"okla", "ok"}, {"ore", "or"}, {"oreg", "or"}, {"penn", "pa"}, {"penna", "pa"},
        {"tenn", "tn"}, {"tex", "tx"}, {"wash", "wa"}, {"wva", "wv"}, {"wis", "wi"},
        {"wisc", "wi"}, {"wyo", "wy"},
    };
    for (const auto& [in, want] : vectors) {
        INFO(in);
        CHECK(tables::find_state(in, "us") == want);
        CHECK(tables::find_state(in, "") == want);  // no key is also Canadian
        CHECK(tables::find_state(in, "ca") != want);
        CHECK(tables::find_state(in, "de").empty());
        CHECK(tables::find_state(in, "gb").empty());
    }
}

TEST_CASE("Canadian provinces and territories, English and French", "[enhanced][tables]") {
    const std::vector<std::pair<std::string_view, std::string_view>> vectors = {
        {"ab", "ab"}, {"bc", "bc"}, {"mb", "mb"}, {"nb", "nb"}, {"nl", "nl"}, {"ns", "ns"},
        {"nt", "nt"}, {"nu", "nu"}, {"on", "on"}, {"pe", "pe"}, {"qc", "qc"}, {"sk", "sk"},
        {"yt", "yt"},
        {"alberta", "ab"}, {"britishcolumbia", "bc"}, {"colombiebritannique", "bc"},
        {"manitoba", "mb"}, {"newbrunswick", "nb"}, {"nouveaubrunswick", "nb"},
        {"newfoundlandandlabrador", "nl"}, {"newfoundland", "nl"}, {"terreneuveetlabrador", "nl"},
        {"novascotia", "ns"}, {"nouvelleécosse", "ns"}, {"nouvelleecosse", "ns"},
        {"northwestterritories", "nt"}, {"territoiresdunordouest", "nt"}, {"nunavut", "nu"},
        {"ontario", "on"}, {"princeedwardisland", "pe"}, {"îleduprinceédouard", "pe"},
        {"ileduprinceedouard", "pe"}, {"quebec", "qc"}, {"québec", "qc"}, {"que\u0301bec", "qc"},
        {"i\u0302leduprincee\u0301douard", "pe"},
        {"saskatchewan", "sk"}, {"yukon", "yt"},
        {"alta", "ab"}, {"man", "mb"}, {"nfld", "nl"}, {"nf", "nl"}, {"nwt", "nt"},
        {"ont", "on"}, {"pei", "pe"}, {"que", "qc"}, {"pq", "qc"}, {"sask", "sk"}, {"yk", "yt"},
    };
    for (const auto& [in, want] : vectors) {
        INFO(in);
        CHECK(tables::find_state(in, "ca") == want);
        CHECK(tables::find_state(in, "") == want);
        CHECK(tables::find_state(in, "us").empty());
        CHECK(tables::find_state(in, "fr").empty());
    }
}

TEST_CASE("state lookups that find nothing", "[enhanced][tables]") {
    for (const std::string_view key : {"", "x", "zz", "bayern", "bavaria", "iledefrance",
                                       "california!", "California", "CA", "newyorkcity", "calif."}) {
        INFO(key);
        CHECK(tables::find_state(key, "us").empty());
        CHECK(tables::find_state(key, "ca").empty());
        CHECK(tables::find_state(key, "").empty());
    }
    // A country other than us/ca finds nothing, even for keys both tables hold.
    CHECK(tables::find_state("california", "mx").empty());
    CHECK(tables::find_state("ontario", "gb").empty());
    CHECK(tables::find_state("by", "de").empty());
}

TEST_CASE("gender words", "[enhanced][tables]") {
    for (const std::string_view w :
         {"f", "female", "woman", "women", "w", "girl", "lady", "feminine", "frau", "weiblich",
          "femme", "féminin", "feminin", "mujer", "femenino", "mulher", "feminino", "donna",
          "femmina", "femminile", "vrouw", "kvinna", "kvinde", "kvinne", "kobieta", "женщина",
          "женский", "ж", "女", "女性", "여", "여자", "여성"}) {
        INFO(w);
        CHECK(tables::find_gender(w) == 'f');
    }
    for (const std::string_view w :
         {"m", "male", "man", "men", "boy", "gentleman", "masculine", "mann", "männlich",
          "mannlich", "maennlich", "homme", "masculin", "hombre", "masculino", "homem", "uomo",
          "maschio", "maschile", "mand", "mężczyzna", "mezczyzna", "ma\u0308nnlich", "мужчина", "мужской", "м",
          "男", "男性", "남", "남자", "남성"}) {
        INFO(w);
        CHECK(tables::find_gender(w) == 'm');
    }
    // Not listed: neither f nor m, titles, unknowns, keys not in the squeezed shape.
    for (const std::string_view w : {"", "x", "u", "n", "o", "d", "other", "unknown", "divers",
                                     "nonbinary", "mx", "mr", "mrs", "ms", "miss", "Female", "M",
                                     "fem", "ma", "females"}) {
        INFO(w);
        CHECK(tables::find_gender(w) == 0);
    }
}

TEST_CASE("phone plans of the documented set", "[enhanced][tables]") {
    struct Plan {
        std::string_view country, code, trunk;
        int min, max;
    };
    // docs/normalization.md, "ph" of "Enhanced, opt-in".
    const std::vector<Plan> documented = {
        {"us", "1", "1", 10, 10}, {"ca", "1", "1", 10, 10}, {"pr", "1", "1", 10, 10},
        {"gu", "1", "1", 10, 10}, {"vi", "1", "1", 10, 10}, {"as", "1", "1", 10, 10},
        {"mp", "1", "1", 10, 10}, {"jm", "1", "1", 10, 10}, {"do", "1", "1", 10, 10},
        {"bs", "1", "1", 10, 10}, {"tt", "1", "1", 10, 10}, {"sx", "1", "1", 10, 10},
        {"gb", "44", "0", 9, 10}, {"gg", "44", "0", 10, 10}, {"im", "44", "0", 10, 10},
        {"je", "44", "0", 10, 10}, {"de", "49", "0", 5, 13}, {"fr", "33", "0", 9, 9},
        {"re", "262", "0", 9, 9}, {"gp", "590", "0", 9, 9}, {"it", "39", "", 6, 11},
        {"va", "39", "", 6, 11}, {"es", "34", "", 9, 9}, {"nl", "31", "0", 9, 11},
        {"be", "32", "0", 8, 9}, {"ch", "41", "0", 9, 9}, {"at", "43", "0", 4, 13},
        {"se", "46", "0", 7, 9}, {"no", "47", "", 8, 8}, {"dk", "45", "", 8, 8},
        {"fi", "358", "0", 5, 10}, {"pl", "48", "", 7, 9}, {"pt", "351", "", 9, 9},
        {"ie", "353", "0", 7, 10}, {"au", "61", "0", 9, 9}, {"nz", "64", "0", 8, 10},
        {"jp", "81", "0", 9, 10}, {"kr", "82", "0", 5, 10}, {"cn", "86", "0", 7, 11},
        {"in", "91", "0", 10, 10}, {"br", "55", "0", 10, 11}, {"mx", "52", "", 10, 10},
        {"ar", "54", "0", 10, 11}, {"ru", "7", "8", 10, 10}, {"kz", "7", "8", 10, 10},
        {"tr", "90", "0", 10, 10}, {"za", "27", "0", 5, 9}, {"il", "972", "0", 8, 12},
        {"ae", "971", "0", 8, 9}, {"sa", "966", "0", 9, 9}, {"sg", "65", "", 8, 8},
        {"hk", "852", "", 8, 8}, {"mo", "853", "", 8, 8}, {"tw", "886", "0", 8, 9},
        {"th", "66", "0", 8, 9}, {"id", "62", "0", 7, 12}, {"ph", "63", "0", 6, 10},
        {"my", "60", "0", 8, 10}, {"vn", "84", "0", 9, 10}, {"eg", "20", "0", 8, 10},
        {"ng", "234", "0", 7, 10}, {"co", "57", "0", 10, 10}, {"cl", "56", "", 9, 9},
        {"pe", "51", "0", 8, 9}, {"cz", "420", "", 9, 9}, {"gr", "30", "", 10, 10},
        {"hu", "36", "06", 8, 9}, {"ro", "40", "0", 6, 9}, {"ua", "380", "0", 9, 9},
        {"pk", "92", "0", 9, 10}, {"bd", "880", "0", 6, 10}, {"ke", "254", "0", 7, 9},
        {"sk", "421", "0", 6, 9}, {"hr", "385", "0", 8, 9}, {"bg", "359", "0", 6, 9},
        {"lu", "352", "", 4, 11}, {"ma", "212", "0", 9, 9},
    };
    for (const auto& want : documented) {
        INFO(want.country);
        const tables::PhonePlan* const p = tables::find_phone_plan(want.country);
        REQUIRE(p != nullptr);
        CHECK(p->country == want.country);
        CHECK(p->calling_code == want.code);
        CHECK(p->trunk_prefix == want.trunk);
        CHECK(int{p->min_length} == want.min);
        CHECK(int{p->max_length} == want.max);
    }
}

TEST_CASE("every assigned code with a calling code has a plan", "[enhanced][tables]") {
    const auto digits = [](std::string_view s) {
        for (const char c : s)
            if (c < '0' || c > '9') return false;
        return true;
    };
    int plans = 0;
    int with_lengths = 0;
    for (const auto& [a2, a3] : iso_pairs()) {
        INFO(a2);
        const tables::PhonePlan* const p = tables::find_phone_plan(a2);
        // Uninhabited or without a calling code of their own.
        if (a2 == "aq" || a2 == "bv" || a2 == "hm" || a2 == "tf" || a2 == "um") {
            CHECK(p == nullptr);
            continue;
        }
        REQUIRE(p != nullptr);
        ++plans;
        CHECK(p->country == a2);
        CHECK(!p->calling_code.empty());
        CHECK(p->calling_code.size() <= 3);
        CHECK(p->calling_code.front() != '0');
        CHECK(digits(p->calling_code));
        CHECK(digits(p->trunk_prefix));
        CHECK(p->min_length <= p->max_length);
        if (p->max_length != 0) {
            ++with_lengths;
            CHECK(p->min_length > 0);
            // E.164: at most 15 digits with the calling code.
            CHECK(p->calling_code.size() + p->max_length <= 15);
        } else {
            CHECK(p->trunk_prefix.empty());
        }
        // Every NANP member dials 1 and ten digits.
        if (p->calling_code == "1") {
            CHECK(p->trunk_prefix == "1");
            CHECK(p->min_length == 10);
            CHECK(p->max_length == 10);
        }
    }
    CHECK(plans == 244);
    CHECK(with_lengths == 95);
}

TEST_CASE("calling codes shared by several countries", "[enhanced][tables]") {
    const std::vector<std::pair<std::string_view, std::string_view>> vectors = {
        {"us", "1"}, {"ca", "1"}, {"pr", "1"}, {"bm", "1"}, {"ru", "7"}, {"kz", "7"},
        {"gb", "44"}, {"je", "44"}, {"fi", "358"}, {"ax", "358"}, {"no", "47"}, {"sj", "47"},
        {"it", "39"}, {"va", "39"}, {"au", "61"}, {"cx", "61"}, {"ma", "212"}, {"eh", "212"},
        {"nz", "64"}, {"pn", "64"}, {"fk", "500"}, {"gs", "500"}, {"re", "262"}, {"yt", "262"},
        {"cw", "599"}, {"bq", "599"}, {"nf", "672"}, {"cn", "86"}, {"hk", "852"}, {"tw", "886"},
    };
    for (const auto& [a2, code] : vectors) {
        INFO(a2);
        const tables::PhonePlan* const p = tables::find_phone_plan(a2);
        REQUIRE(p != nullptr);
        CHECK(p->calling_code == code);
    }
    for (const std::string_view key : {"", "u", "xk", "uk", "usa", "US", "zz", "aq"}) {
        INFO(key);
        CHECK(tables::find_phone_plan(key) == nullptr);
    }
}
