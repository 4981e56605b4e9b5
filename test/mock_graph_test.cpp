// capi::testing::MockGraphServer: Meta's rules as pure functions (no network),
// then the server over real TLS on 127.0.0.1 with a small Beast client written
// here. Every network wait is bounded (run_for deadlines, tcp_stream timeouts).
#include <capi/testing/mock_graph.hpp>

#include "testing/graph_rules.hpp"
#include "testing/tls_layer.hpp"

#include <capi/transport.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
namespace rules = capi::testing::rules;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using capi::testing::CertKind;
using capi::testing::Fault;
using capi::testing::MockGraphServer;
using capi::testing::MockOptions;

namespace {

// ---- helpers for the rules -------------------------------------------------------

constexpr std::int64_t t0 = 1'761'263'694;  // the seed example's event_time
const auto now_tp = std::chrono::system_clock::time_point(std::chrono::seconds(t0 + 3600));
const std::string h64(64, 'a');  // a well-formed SHA-256 hex digest
const std::string events_path = "/v24.0/123/events";

std::string event(std::string_view extra = {}, std::int64_t time = t0, std::string_view source = "website") {
    std::string e = "{\"event_name\":\"Purchase\",\"event_time\":" + std::to_string(time) +
                    ",\"action_source\":\"" + std::string(source) + "\",\"user_data\":{\"em\":[\"" + h64 +
                    "\"]}";
    if (!extra.empty()) e += "," + std::string(extra);
    return e + "}";
}

std::string data_of(const std::vector<std::string>& events) {
    std::string d = "[";
    for (std::size_t i = 0; i < events.size(); ++i) d += (i ? "," : "") + events[i];
    return d + "]";
}

std::string json_body(const std::string& data, std::string_view token = "mock-token") {
    std::string b = "{\"data\":" + data;
    if (!token.empty()) b += ",\"access_token\":\"" + std::string(token) + "\"";
    return b + "}";
}

rules::Verdict eval(std::string_view body, std::string_view target = events_path,
                    std::string_view content_type = "application/json", std::string_view secret = {},
                    std::string_view method = "POST", std::string_view authorization = {}) {
    rules::Request r{method, target, content_type, authorization, body};
    rules::Config c{"mock-token", secret, now_tp};
    return rules::evaluate(r, c);
}

struct ParsedError {
    std::int64_t code = 0, subcode = 0;
    std::string message, type, title, fbtrace_id;
    bool has_error = false;
    std::int64_t events_received = -1;
};

ParsedError parse(const std::string& body) {
    ParsedError p;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(body).get(doc) == simdjson::SUCCESS);
    simdjson::dom::element err;
    std::string_view s;
    if (doc["error"].get(err) == simdjson::SUCCESS) {
        p.has_error = true;
        REQUIRE(err["code"].get_int64().get(p.code) == simdjson::SUCCESS);
        if (err["error_subcode"].get_int64().get(p.subcode) != simdjson::SUCCESS) p.subcode = 0;
        REQUIRE(err["message"].get_string().get(s) == simdjson::SUCCESS);
        p.message = s;
        REQUIRE(err["type"].get_string().get(s) == simdjson::SUCCESS);
        p.type = s;
        if (err["error_user_title"].get_string().get(s) == simdjson::SUCCESS) p.title = s;
        REQUIRE(err["fbtrace_id"].get_string().get(s) == simdjson::SUCCESS);
        p.fbtrace_id = s;
    } else {
        REQUIRE(doc["events_received"].get_int64().get(p.events_received) == simdjson::SUCCESS);
        simdjson::dom::array messages;
        REQUIRE(doc["messages"].get_array().get(messages) == simdjson::SUCCESS);
        REQUIRE(doc["fbtrace_id"].get_string().get(s) == simdjson::SUCCESS);
        p.fbtrace_id = s;
    }
    return p;
}

void require_error(const rules::Verdict& v, int status, std::int64_t code, std::int64_t subcode = 0) {
    INFO(v.body);
    REQUIRE(v.status == status);
    REQUIRE_FALSE(v.success);
    auto p = parse(v.body);
    REQUIRE(p.has_error);
    REQUIRE(p.code == code);
    REQUIRE(p.subcode == subcode);
    REQUIRE(p.fbtrace_id.size() == 23);
    REQUIRE(v.code == code);
    REQUIRE(v.subcode == subcode);
}

void require_success(const rules::Verdict& v, std::int64_t events) {
    INFO(v.body);
    REQUIRE(v.status == 200);
    REQUIRE(v.success);
    auto p = parse(v.body);
    REQUIRE_FALSE(p.has_error);
    REQUIRE(p.events_received == events);
    REQUIRE(p.fbtrace_id == v.fbtrace_id);
}

std::string multipart(const std::vector<std::pair<std::string, std::string>>& parts,
                      const std::string& boundary) {
    std::string b;
    for (const auto& [name, value] : parts) {
        b += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value +
             "\r\n";
    }
    return b + "--" + boundary + "--\r\n";
}

} // namespace

// ---- the rules ---------------------------------------------------------------------

TEST_CASE("rules: JSON body with the token in it", "[rules]") {
    auto v = eval(json_body(data_of({event("\"event_id\":\"e1\""), event()})));
    require_success(v, 2);
    REQUIRE(v.access_token_ok);
    REQUIRE(v.appsecret_proof_ok);
    REQUIRE(v.events == 2);
    REQUIRE(v.event_ids == std::vector<std::string>{"e1", ""});
    REQUIRE(v.api_version == "v24.0");
}

TEST_CASE("rules: numeric event_id and data as a JSON-encoded string", "[rules]") {
    auto v = eval("{\"data\":\"[" + rules::json_escape(event("\"event_id\":42")) +
                  "]\",\"access_token\":\"mock-token\"}");
    require_success(v, 1);
    REQUIRE(v.event_ids == std::vector<std::string>{"42"});
}

TEST_CASE("rules: token in the query string, body without it", "[rules]") {
    auto v = eval(json_body(data_of({event()}), ""), events_path + "?access_token=mock-token");
    require_success(v, 1);
    v = eval(json_body(data_of({event()}), ""), events_path + "?access_token=nope");
    require_error(v, 401, 190);
    REQUIRE(parse(v.body).message == "Invalid OAuth access token - Cannot parse access token");
    REQUIRE(parse(v.body).type == "OAuthException");
}

TEST_CASE("rules: token in an Authorization: Bearer header", "[rules]") {
    auto v = eval(json_body(data_of({event()}), ""), events_path, "application/json", {}, "POST",
                  "Bearer mock-token");
    require_success(v, 1);
}

TEST_CASE("rules: missing or wrong token is 401 code 190", "[rules]") {
    require_error(eval(json_body(data_of({event()}), "")), 401, 190);
    auto v = eval(json_body(data_of({event()}), "other"));
    require_error(v, 401, 190);
    REQUIRE_FALSE(v.access_token_ok);
    // The log still learns the events of a rejected request.
    REQUIRE(v.events == 1);
}

TEST_CASE("rules: form-urlencoded body", "[rules]") {
    std::string body = "data=" + rules::url_encode(data_of({event("\"event_id\":\"f 1\"")})) +
                       "&access_token=mock-token&test_event_code=TEST1";
    auto v = eval(body, events_path, "application/x-www-form-urlencoded");
    require_success(v, 1);
    REQUIRE(v.event_ids == std::vector<std::string>{"f 1"});
    // '+' means a space in form bodies.
    REQUIRE(rules::url_decode("a+b%20c%2") == "a b c%2");
}

TEST_CASE("rules: multipart/form-data body, as curl -F sends it", "[rules]") {
    const std::string boundary = "------------------------d74496d66958873e";
    std::string body = multipart({{"data", data_of({event("\"event_id\":\"m1\"")})},
                                  {"access_token", "mock-token"}},
                                 boundary);
    auto v = eval(body, events_path, "multipart/form-data; boundary=" + boundary);
    require_success(v, 1);
    REQUIRE(v.event_ids == std::vector<std::string>{"m1"});
    // A quoted boundary and a part with a filename and a type.
    std::string b2 = "--xyz\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nmock-token\r\n"
                     "--xyz\r\ncontent-disposition: form-data; name=\"data\"; filename=\"d.json\"\r\n"
                     "Content-Type: application/json\r\n\r\n" +
                     data_of({event()}) + "\r\n--xyz--";
    require_success(eval(b2, events_path, "Multipart/Form-Data; boundary=\"xyz\""), 1);
    // Malformed: no boundary parameter.
    REQUIRE_FALSE(rules::parse_multipart("multipart/form-data", body));
    REQUIRE_FALSE(rules::parse_multipart("multipart/form-data; boundary=zz", "--zz\r\nnope"));
}

TEST_CASE("rules: appsecret_proof when an app secret is configured", "[rules]") {
    const std::string secret = "s3cret";
    const std::string proof = capi::appsecret_proof("mock-token", secret);
    REQUIRE(proof.size() == 64);
    const std::string body = json_body(data_of({event()}));

    auto v = eval(body, events_path + "?appsecret_proof=" + proof, "application/json", secret);
    require_success(v, 1);
    REQUIRE(v.appsecret_proof_ok);

    // In the body (form field) too.
    std::string form = "data=" + rules::url_encode(data_of({event()})) +
                       "&access_token=mock-token&appsecret_proof=" + proof;
    require_success(eval(form, events_path, "application/x-www-form-urlencoded", secret), 1);

    v = eval(body, events_path, "application/json", secret);
    require_error(v, 400, 100);
    REQUIRE_FALSE(v.appsecret_proof_ok);
    REQUIRE(parse(v.body).message == "API calls from the server require an appsecret_proof argument");

    v = eval(body, events_path + "?appsecret_proof=" + std::string(64, '0'), "application/json", secret);
    require_error(v, 400, 100);
    REQUIRE(parse(v.body).message == "Invalid appsecret_proof provided in the API argument");

    // A bad token is reported as such first.
    require_error(eval(json_body(data_of({event()}), "x"), events_path + "?appsecret_proof=" + proof,
                       "application/json", secret),
                  401, 190);
    // Without a configured secret a proof is not checked.
    REQUIRE(eval(body, events_path + "?appsecret_proof=zz").appsecret_proof_ok);
}

TEST_CASE("rules: data missing, not an array, empty, or not JSON", "[rules]") {
    require_error(eval("{\"access_token\":\"mock-token\"}"), 400, 100);
    REQUIRE(parse(eval("{\"access_token\":\"mock-token\"}").body).message ==
            "(#100) The parameter data is required");
    require_error(eval(json_body("{\"event_name\":\"x\"}")), 400, 100);
    require_error(eval(json_body("[]")), 400, 100);
    require_error(eval("data=%5Bnot-json&access_token=mock-token", events_path,
                       "application/x-www-form-urlencoded"),
                  400, 100);
    require_error(eval("{\"data\": [", events_path + "?access_token=mock-token"), 400, 100);
    require_error(eval(json_body("[1]")), 400, 100);
}

TEST_CASE("rules: at most 1000 events", "[rules]") {
    std::vector<std::string> events(1000, event());
    require_success(eval(json_body(data_of(events))), 1000);
    events.push_back(event());
    auto v = eval(json_body(data_of(events)));
    require_error(v, 400, 100);
    REQUIRE(v.events == 1001);
    REQUIRE(v.event_ids.size() == 1001);
}

TEST_CASE("rules: event_time older than 7 days (62 for physical_store) fails the whole request",
          "[rules]") {
    const std::int64_t now = t0 + 3600;
    require_success(eval(json_body(data_of({event({}, now - 7 * 86400)}))), 1);
    auto v = eval(json_body(data_of({event(), event(), event({}, now - 7 * 86400 - 1)})));
    require_error(v, 400, 100, 2804003);
    REQUIRE(parse(v.body).title == "Event Timestamp Too Old");
    REQUIRE(v.events == 3);

    require_success(eval(json_body(data_of({event({}, now - 30 * 86400, "physical_store")}))), 1);
    require_error(eval(json_body(data_of({event({}, now - 63 * 86400, "physical_store")}))), 400, 100,
                  2804003);
    // event_time as a numeric string (form values) is read as a number.
    require_success(eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":\"" + std::to_string(t0) +
                                   "\",\"action_source\":\"email\",\"user_data\":{\"external_id\":\"u1\"}}]")),
                    1);
}

TEST_CASE("rules: missing event_name, event_time or action_source", "[rules]") {
    const std::string ud = "\"user_data\":{\"em\":\"" + h64 + "\"}";
    const std::string t = std::to_string(t0);
    require_error(eval(json_body("[{\"event_time\":" + t + ",\"action_source\":\"website\"," + ud + "}]")),
                  400, 100);
    require_error(eval(json_body("[{\"event_name\":\"Lead\",\"action_source\":\"website\"," + ud + "}]")),
                  400, 100);
    auto v = eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":" + t + "," + ud + "}]"));
    require_error(v, 400, 100);
    REQUIRE(parse(v.body).message.find("action_source") != std::string::npos);
    // Wrong types and values.
    require_error(eval(json_body("[{\"event_name\":\"\",\"event_time\":" + t +
                                 ",\"action_source\":\"website\"," + ud + "}]")),
                  400, 100);
    require_error(eval(json_body(data_of({event({}, t0, "carrier_pigeon")}))), 400, 100);
    require_error(eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":\"yesterday\","
                                 "\"action_source\":\"website\"," + ud + "}]")),
                  400, 100);
}

TEST_CASE("rules: unknown top-level event keys", "[rules]") {
    auto v = eval(json_body(data_of({event(), event("\"advertiser_tracking_enabled\":1")})));
    require_error(v, 400, 100);
    REQUIRE(parse(v.body).message ==
            "Server Side Api Parameter Error: Unexpected key \"advertiser_tracking_enabled\" on param "
            "\"$['data'][1]\"");
    // Documented keys pass.
    require_success(eval(json_body(data_of({event(
                        "\"event_id\":\"x\",\"event_source_url\":\"https://a.example\",\"opt_out\":false,"
                        "\"custom_data\":{\"value\":1,\"currency\":\"usd\"},\"data_processing_options\":[],"
                        "\"referrer_url\":\"https://b.example\",\"app_data\":{},"
                        "\"original_event_data\":{},\"attribution_data\":{}")}))),
                    1);
}

TEST_CASE("rules: hashed user_data fields must be SHA-256 hex", "[rules]") {
    auto with_ud = [](const std::string& ud) {
        return json_body("[{\"event_name\":\"Lead\",\"event_time\":" + std::to_string(t0) +
                         ",\"action_source\":\"website\",\"user_data\":{" + ud + "}}]");
    };
    require_success(eval(with_ud("\"ph\":[\"" + h64 + "\",\"" + std::string(64, '0') + "\"]")), 1);
    for (std::string_view key : {"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country",
                                 "f5first", "f5last", "fi", "dobd", "dobm", "doby"}) {
        INFO(key);
        auto v = eval(with_ud("\"" + std::string(key) + "\":\"joe@example.com\""));
        require_error(v, 400, 100);
        REQUIRE(parse(v.body).message == "(#100) Invalid parameter");
        REQUIRE(v.body.find("user_data." + std::string(key)) != std::string::npos);
        require_success(eval(with_ud("\"" + std::string(key) + "\":\"" + h64 + "\"")), 1);
    }
    // Uppercase hex, a wrong length, a bad array element, a number.
    std::string upper(64, 'A');
    require_error(eval(with_ud("\"em\":\"" + upper + "\"")), 400, 100);
    require_error(eval(with_ud("\"em\":\"" + h64.substr(1) + "\"")), 400, 100);
    require_error(eval(with_ud("\"em\":[\"" + h64 + "\",\"joe@example.com\"]")), 400, 100);
    require_error(eval(with_ud("\"zp\":12345")), 400, 100);
    // external_id and the plain keys may be anything.
    require_success(eval(with_ud("\"external_id\":\"Customer 7\",\"client_ip_address\":\"1.2.3.4\","
                                 "\"client_user_agent\":\"UA\",\"fbp\":\"fb.1.1.1\"")),
                    1);
    // Unknown user_data keys are rejected like unknown event keys.
    require_error(eval(with_ud("\"email\":\"" + h64 + "\"")), 400, 100);
}

TEST_CASE("rules: user_data without customer information is 2804050", "[rules]") {
    const std::string t = std::to_string(t0);
    auto v = eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":" + t +
                            ",\"action_source\":\"website\",\"user_data\":{}}]"));
    require_error(v, 400, 100, 2804050);
    require_error(eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":" + t +
                                 ",\"action_source\":\"website\"}]")),
                  400, 100, 2804050);
    require_error(eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":" + t +
                                 ",\"action_source\":\"website\",\"user_data\":{\"em\":[]}}]")),
                  400, 100, 2804050);
    require_error(eval(json_body("[{\"event_name\":\"Lead\",\"event_time\":" + t +
                                 ",\"action_source\":\"website\",\"user_data\":[]}]")),
                  400, 100);
}

TEST_CASE("rules: path, method and pixel id", "[rules]") {
    const std::string body = json_body(data_of({event()}));
    for (std::string_view path : {"/v24.0/123/event", "/123/events", "/v24/123/events", "/v24.0/events",
                                  "/v24.0/123/events/x", "/"}) {
        INFO(path);
        require_error(eval(body, path), 404, 2500);
    }
    require_success(eval(body, "/v24.0/123/events/"), 1);
    auto v = eval(body, events_path, "application/json", {}, "GET");
    require_error(v, 400, 100, 33);
    REQUIRE(parse(v.body).message.starts_with("Unsupported get request."));
    v = eval(body, "/v24.0/act_1/events");
    require_error(v, 400, 100, 33);
    REQUIRE(parse(v.body).type == "GraphMethodException");
}

TEST_CASE("rules: every answer has a fresh fbtrace_id", "[rules]") {
    auto a = eval(json_body(data_of({event()})));
    auto b = eval(json_body(data_of({event()})));
    REQUIRE(a.fbtrace_id != b.fbtrace_id);
    auto e1 = parse(eval(json_body("[]")).body);
    auto e2 = parse(eval(json_body("[]")).body);
    REQUIRE(e1.fbtrace_id != e2.fbtrace_id);
    REQUIRE(rules::success_body(3, "T") == "{\"events_received\":3,\"messages\":[],\"fbtrace_id\":\"T\"}");
}

TEST_CASE("rules: building blocks", "[rules]") {
    REQUIRE(rules::redact_target("/v24.0/1/events?access_token=abc&x=1") ==
            "/v24.0/1/events?access_token=REDACTED&x=1");
    REQUIRE(rules::redact_target("/v24.0/1/events?a=1&access%5Ftoken=abc") ==
            "/v24.0/1/events?a=1&access%5Ftoken=REDACTED");
    REQUIRE(rules::redact_target("/v24.0/1/events") == "/v24.0/1/events");
    auto f = rules::parse_urlencoded("a=1&b=x%26y&a=2&&c");
    REQUIRE(f.at("a") == "1");
    REQUIRE(f.at("b") == "x&y");
    REQUIRE(f.at("c").empty());
    REQUIRE(rules::url_decode(rules::url_encode("[{\"a\": \"b&c=d+e\"}]")) == "[{\"a\": \"b&c=d+e\"}]");
    REQUIRE(rules::media_type(" Application/JSON ; charset=utf-8") == "application/json");
    REQUIRE(rules::is_sha256_hex(h64));
    REQUIRE_FALSE(rules::is_sha256_hex(std::string(64, 'g')));
    rules::ErrorFields ef;
    ef.message = "quote \" and \\ and\nnewline";
    ef.code = 4;
    ef.is_transient = true;
    auto p = parse(rules::error_body(ef));
    REQUIRE(p.message == ef.message);
    REQUIRE(p.code == 4);
}

TEST_CASE("Fault::graph_error builds Meta's error object", "[rules]") {
    auto f = Fault::graph_error(400, 613, 1487742, true, "Calls to this api have exceeded the rate limit.");
    REQUIRE(f.action == Fault::Action::respond);
    REQUIRE(f.status == 400);
    simdjson::dom::parser parser;
    simdjson::dom::element err;
    REQUIRE(parser.parse(f.body)["error"].get(err) == simdjson::SUCCESS);
    REQUIRE(std::int64_t(err["code"]) == 613);
    REQUIRE(std::int64_t(err["error_subcode"]) == 1487742);
    REQUIRE(bool(err["is_transient"]));
    REQUIRE(std::string_view(err["message"]) == "Calls to this api have exceeded the rate limit.");
    REQUIRE(std::string_view(err["fbtrace_id"]).size() == 23);
}

// ---- over real TLS ---------------------------------------------------------------

namespace {

struct Reply {
    beast::error_code ec;
    unsigned status = 0;
    std::string body;  // inflated when gzip
    std::string content_encoding;
    std::string header_trace_id;
    bool keep_alive = false;
};

std::string gunzip(const std::string& in) {
    // RFC 1952: a 10-byte header (no optional fields from the mock), raw deflate,
    // CRC32 and ISIZE.
    REQUIRE(in.size() >= 18);
    REQUIRE(static_cast<unsigned char>(in[0]) == 0x1f);
    REQUIRE(static_cast<unsigned char>(in[1]) == 0x8b);
    REQUIRE(in[2] == 8);
    beast::zlib::inflate_stream is;
    std::string out(1 << 16, '\0');
    beast::zlib::z_params zs;
    zs.next_in = in.data() + 10;
    zs.avail_in = in.size() - 18;
    zs.next_out = out.data();
    zs.avail_out = out.size();
    beast::error_code ec;
    is.write(zs, beast::zlib::Flush::finish, ec);
    REQUIRE(ec == beast::zlib::error::end_of_stream);
    out.resize(zs.total_out);
    std::uint32_t isize = 0;
    for (int i = 0; i < 4; ++i)
        isize |= std::uint32_t(static_cast<unsigned char>(in[in.size() - 4 + i])) << (8 * i);
    REQUIRE(isize == out.size());
    return out;
}

// A small synchronous-looking TLS client: each call runs the io_context for at
// most its deadline.
class TlsClient {
public:
    TlsClient(std::uint16_t port, const std::string& ca_pem) : port_(port) {
        ctx_.set_verify_mode(ssl::verify_peer);
        ctx_.add_certificate_authority(net::buffer(ca_pem));
        SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_2_VERSION);
        stream_.emplace(ioc_, ctx_);
    }

    // OpenSSL's own host check: IP address or DNS name.
    beast::error_code connect(std::string_view host = "127.0.0.1", std::chrono::milliseconds timeout = 5s) {
        X509_VERIFY_PARAM* param = SSL_get0_param(stream_->next_layer().native_handle());
        const std::string h(host);
        beast::error_code not_ip;
        (void)net::ip::make_address(h, not_ip);
        if (!not_ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str());
        else
            X509_VERIFY_PARAM_set1_host(param, h.c_str(), 0);
        beast::error_code result;
        if (!run(
            [this, &result, timeout]() -> net::awaitable<void> {
                auto tok = net::redirect_error(net::use_awaitable, result);
                auto& layer = beast::get_lowest_layer(*stream_);
                layer.expires_after(timeout);
                co_await layer.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), tok);
                if (result) co_return;
                co_await stream_->next_layer().async_handshake(ssl::stream_base::client, tok);
            },
            timeout))
            result = beast::error::timeout;
        return result;
    }

    long verify_result() { return SSL_get_verify_result(stream_->next_layer().native_handle()); }

    Reply request(const std::string& target, const std::string& body,
                  const std::string& content_type = "application/json",
                  std::chrono::milliseconds timeout = 5s, bool keep_alive = true,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
        http::request<http::string_body> req{http::verb::post, target, 11};
        req.set(http::field::host, "127.0.0.1");
        req.set(http::field::user_agent, "mock-graph-test/1");
        req.set(http::field::content_type, content_type);
        for (auto& [k, v] : headers) req.set(k, v);
        req.keep_alive(keep_alive);
        req.body() = body;
        req.prepare_payload();
        Reply reply;
        const bool finished = run(
            [&]() -> net::awaitable<void> {
                auto tok = net::redirect_error(net::use_awaitable, reply.ec);
                auto& layer = beast::get_lowest_layer(*stream_);
                layer.expires_after(timeout);
                co_await http::async_write(*stream_, req, tok);
                if (reply.ec) co_return;
                for (;;) {
                    http::response_parser<http::string_body> parser;
                    parser.body_limit(64 << 20);
                    co_await http::async_read(*stream_, buffer_, parser, tok);
                    if (reply.ec) co_return;
                    auto res = parser.release();
                    if (res.result_int() == 100) continue;  // 100 Continue: the real answer follows
                    reply.status = res.result_int();
                    reply.content_encoding = std::string(res[http::field::content_encoding]);
                    reply.header_trace_id = std::string(res["x-fb-trace-id"]);
                    reply.keep_alive = res.keep_alive();
                    reply.body = std::move(res.body());
                    co_return;
                }
            },
            timeout);
        if (!finished) reply.ec = beast::error::timeout;
        if (!reply.ec && reply.content_encoding == "gzip") reply.body = gunzip(reply.body);
        return reply;
    }

private:
    // False when the coroutine did not finish even after the socket was closed.
    // (No REQUIRE here: clients also run on helper threads.)
    template <class MakeAwaitable>
    bool run(MakeAwaitable make, std::chrono::milliseconds timeout) {
        bool done = false;
        net::co_spawn(ioc_, make(), [&done](std::exception_ptr) { done = true; });
        ioc_.restart();
        ioc_.run_for(timeout + 2s);
        if (!done) {  // the tcp_stream deadline should have fired; force it
            beast::error_code ignored;
            beast::get_lowest_layer(*stream_).socket().close(ignored);
            ioc_.restart();
            ioc_.run_for(2s);
        }
        return done;
    }

    std::uint16_t port_;
    net::io_context ioc_;
    ssl::context ctx_{ssl::context::tls_client};
    std::optional<capi::testing::detail::TlsLayer<beast::tcp_stream>> stream_;
    beast::flat_buffer buffer_;
};

std::string live_body(std::string_view extra = {}) {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return json_body(data_of({event(extra, now - 60)}));
}

bool is_success(const Reply& r, std::int64_t events) {
    if (r.ec || r.status != 200) return false;
    auto p = parse(r.body);
    return !p.has_error && p.events_received == events;
}

} // namespace

TEST_CASE("server: success over TLS, keep-alive, log", "[net]") {
    MockGraphServer server;
    REQUIRE(server.port() != 0);
    REQUIRE(server.url() == "https://127.0.0.1:" + std::to_string(server.port()));
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path, live_body("\"event_id\":\"ev-1\""));
    INFO(r.ec.message() << " " << r.body);
    REQUIRE(is_success(r, 1));
    REQUIRE(r.keep_alive);
    REQUIRE(r.header_trace_id == parse(r.body).fbtrace_id);
    // Same connection, token in the query this time.
    r = client.request(events_path + "?access_token=mock-token", json_body(data_of({event()}), ""));
    REQUIRE(r.status == 400);  // the seed's fixed event_time is long past
    REQUIRE(parse(r.body).subcode == 2804003);

    REQUIRE(server.connections() == 1);
    REQUIRE(server.events_accepted() == 1);
    auto log = server.requests();
    REQUIRE(log.size() == 2);
    REQUIRE(log[0].method == "POST");
    REQUIRE(log[0].target == events_path);
    REQUIRE(log[0].content_type == "application/json");
    REQUIRE(log[0].user_agent == "mock-graph-test/1");
    REQUIRE(log[0].access_token_ok);
    REQUIRE(log[0].appsecret_proof_ok);
    REQUIRE(log[0].event_ids == std::vector<std::string>{"ev-1"});
    REQUIRE(log[0].events == 1);
    REQUIRE(log[0].status == 200);
    REQUIRE_FALSE(log[0].fault);
    REQUIRE(log[0].connection == 1);
    REQUIRE(log[1].connection == 1);
    REQUIRE(log[1].status == 400);
    // The token in the query is redacted in the log.
    REQUIRE(log[1].target == events_path + "?access_token=REDACTED");
    REQUIRE(log[0].received <= log[1].received);
}

TEST_CASE("server: bad token over the wire is 401 code 190", "[net]") {
    MockOptions o;
    o.access_token = "right";
    MockGraphServer server(o);
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path + "?access_token=wrong", live_body());
    REQUIRE(r.status == 401);
    REQUIRE(parse(r.body).code == 190);
    REQUIRE(server.events_accepted() == 0);
    auto log = server.requests();
    REQUIRE(log.size() == 1);
    REQUIRE_FALSE(log[0].access_token_ok);
    REQUIRE(log[0].target.find("wrong") == std::string::npos);
}

TEST_CASE("server: faults are played in order, then normal service", "[net]") {
    MockGraphServer server;
    server.push_fault(Fault::graph_error(503, 2, 0, true, "An unexpected error has occurred."));
    Fault slow;  // respond 200 with an empty body: the normal answer, after a delay
    slow.delay = 200ms;
    slow.headers = {{"Retry-After", "7"}};
    server.push_fault(slow);
    REQUIRE(server.pending_faults() == 2);

    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path, live_body());
    REQUIRE(r.status == 503);
    auto e = parse(r.body);
    REQUIRE(e.code == 2);

    const auto t = std::chrono::steady_clock::now();
    r = client.request(events_path, live_body());
    REQUIRE(std::chrono::steady_clock::now() - t >= 200ms);
    REQUIRE(is_success(r, 1));

    r = client.request(events_path, live_body());
    REQUIRE(is_success(r, 1));
    REQUIRE(server.pending_faults() == 0);

    auto log = server.requests();
    REQUIRE(log.size() == 3);
    REQUIRE(log[0].fault);
    REQUIRE(log[0].status == 503);
    REQUIRE(log[1].fault);
    REQUIRE(log[1].status == 200);
    REQUIRE_FALSE(log[2].fault);
    REQUIRE(server.events_accepted() == 2);

    server.push_fault(Fault{});
    server.clear_faults();
    REQUIRE(server.pending_faults() == 0);
}

TEST_CASE("server: close, reset and truncate are errors for the client", "[net]") {
    MockGraphServer server;
    const Fault::Action action =
        GENERATE(Fault::Action::close, Fault::Action::reset, Fault::Action::truncate);
    Fault f;
    f.action = action;
    server.push_fault(f);
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path, live_body("\"event_id\":\"keep-me\""));
    INFO(static_cast<int>(action) << ": " << r.ec.message());
    REQUIRE(r.ec);
    REQUIRE(r.status == 0);

    auto log = server.requests();
    REQUIRE(log.size() == 1);
    REQUIRE(log[0].fault);
    REQUIRE(log[0].event_ids == std::vector<std::string>{"keep-me"});
    // truncate sent a (partial) 200; close and reset sent nothing.
    REQUIRE(log[0].status == (action == Fault::Action::truncate ? 200 : 0));
    REQUIRE(server.events_accepted() == 0);

    // The server keeps serving new connections.
    TlsClient again(server.port(), server.ca_pem());
    REQUIRE_FALSE(again.connect());
    REQUIRE(is_success(again.request(events_path, live_body()), 1));
    REQUIRE(server.connections() == 2);
}

TEST_CASE("server: hang is bounded by the client's deadline; stop() closes it", "[net]") {
    MockGraphServer server;
    Fault f;
    f.action = Fault::Action::hang;
    server.push_fault(f);
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    const auto t = std::chrono::steady_clock::now();
    auto r = client.request(events_path, live_body("\"event_id\":\"h1\""), "application/json", 300ms);
    const auto took = std::chrono::steady_clock::now() - t;
    REQUIRE(r.ec == beast::error::timeout);
    REQUIRE(took >= 300ms);
    REQUIRE(took < 3s);
    auto log = server.requests();
    REQUIRE(log.size() == 1);
    REQUIRE(log[0].status == 0);
    REQUIRE(log[0].fault);
    REQUIRE(log[0].event_ids == std::vector<std::string>{"h1"});

    // A second client hangs on the server while stop() runs: stop must not wait
    // for it to give up.
    server.push_fault(f);
    TlsClient other(server.port(), server.ca_pem());
    REQUIRE_FALSE(other.connect());
    std::thread stopper([&server] {
        std::this_thread::sleep_for(200ms);
        server.stop();
    });
    const auto t2 = std::chrono::steady_clock::now();
    auto r2 = other.request(events_path, live_body(), "application/json", 10s);
    stopper.join();
    REQUIRE(r2.ec);
    REQUIRE(std::chrono::steady_clock::now() - t2 < 5s);
    server.stop();  // idempotent
}

TEST_CASE("server: gzip answers inflate to Meta's body", "[net]") {
    MockOptions o;
    o.gzip = true;
    MockGraphServer server(o);
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path, live_body());
    REQUIRE(r.content_encoding == "gzip");
    REQUIRE(is_success(r, 1));
    r = client.request(events_path, json_body("[]"));
    REQUIRE(r.content_encoding == "gzip");
    REQUIRE(r.status == 400);
    REQUIRE(parse(r.body).code == 100);
    // A big answer (a scripted body) crosses deflate's buffers.
    Fault big;
    big.status = 500;
    big.body = "{\"error\":{\"message\":\"" + std::string(40000, 'x') + "\",\"code\":1}}";
    server.push_fault(big);
    r = client.request(events_path, live_body());
    REQUIRE(r.status == 500);
    REQUIRE(r.body == big.body);
}

TEST_CASE("server: certificates; only the valid one verifies", "[net]") {
    SECTION("valid, by IP and by DNS name") {
        MockGraphServer server;
        TlsClient by_ip(server.port(), server.ca_pem());
        REQUIRE_FALSE(by_ip.connect("127.0.0.1"));
        REQUIRE(by_ip.verify_result() == X509_V_OK);
        TlsClient by_name(server.port(), server.ca_pem());
        REQUIRE_FALSE(by_name.connect("localhost"));
        REQUIRE(is_success(by_name.request(events_path, live_body()), 1));
    }
    const auto [kind, expected] = GENERATE(table<CertKind, std::vector<long>>({
        {CertKind::expired, {X509_V_ERR_CERT_HAS_EXPIRED}},
        {CertKind::wrong_host, {X509_V_ERR_IP_ADDRESS_MISMATCH}},
        {CertKind::untrusted,
         {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY}},
    }));
    MockOptions o;
    o.cert = kind;
    MockGraphServer server(o);
    TlsClient client(server.port(), server.ca_pem());
    auto ec = client.connect();
    INFO(static_cast<int>(kind) << ": " << ec.message() << " verify " << client.verify_result());
    REQUIRE(ec);
    REQUIRE(ec.category() == net::error::get_ssl_category());
    REQUIRE(std::find(expected.begin(), expected.end(), client.verify_result()) != expected.end());
    REQUIRE(server.requests().empty());
    REQUIRE(server.connections() == 1);
}

TEST_CASE("server: appsecret_proof and Expect: 100-continue over the wire", "[net]") {
    MockOptions o;
    o.app_secret = "shh";
    MockGraphServer server(o);
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path, live_body());
    REQUIRE(r.status == 400);
    REQUIRE(server.requests().back().appsecret_proof_ok == false);
    r = client.request(events_path + "?appsecret_proof=" + capi::appsecret_proof("mock-token", "shh"),
                       live_body(), "application/json", 5s, true, {{"Expect", "100-continue"}});
    REQUIRE(is_success(r, 1));
    REQUIRE(server.requests().back().appsecret_proof_ok);
}

TEST_CASE("server: a client asking to close gets its answer, then the connection ends", "[net]") {
    MockGraphServer server;
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    auto r = client.request(events_path, live_body(), "application/json", 5s, false);
    REQUIRE(is_success(r, 1));
    REQUIRE_FALSE(r.keep_alive);
    r = client.request(events_path, live_body(), "application/json", 2s);
    REQUIRE(r.ec);
}

TEST_CASE("server: drop_connections closes idle keep-alive connections and keeps serving", "[net]") {
    MockGraphServer server;
    TlsClient client(server.port(), server.ca_pem());
    REQUIRE_FALSE(client.connect());
    REQUIRE(is_success(client.request(events_path, live_body()), 1));
    server.drop_connections();
    REQUIRE(client.request(events_path, live_body(), "application/json", 2s).ec);
    TlsClient fresh(server.port(), server.ca_pem());
    REQUIRE_FALSE(fresh.connect());
    REQUIRE(is_success(fresh.request(events_path, live_body()), 1));
    REQUIRE(server.connections() == 2);
    REQUIRE(server.requests().size() == 2);  // the request on the dropped connection never arrived
}

TEST_CASE("server: several server threads, concurrent clients", "[net]") {
    MockOptions o;
    o.threads = 4;
    MockGraphServer server(o);
    constexpr int clients = 4, each = 10;
    std::vector<int> ok(clients, 0);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            // No REQUIRE off the main thread (Catch2 v2 is not thread-safe): count.
            try {
                TlsClient client(server.port(), server.ca_pem());
                if (client.connect()) return;
                for (int i = 0; i < each; ++i) {
                    auto r = client.request(events_path, live_body());
                    if (!r.ec && r.status == 200) ++ok[static_cast<std::size_t>(c)];
                }
            } catch (...) {
            }
        });
    }
    for (auto& t : threads) t.join();
    for (int c = 0; c < clients; ++c) REQUIRE(ok[static_cast<std::size_t>(c)] == each);
    REQUIRE(server.events_accepted() == clients * each);
    REQUIRE(server.connections() == clients);
    REQUIRE(server.requests().size() == clients * each);
}

TEST_CASE("server: the seed's curl -F example is accepted", "[net][curl]") {
    if (access("/usr/bin/curl", X_OK) != 0) {
        WARN("/usr/bin/curl not found: skipped");
        return;
    }
    MockOptions o;
    // The seed's event_time is fixed; put the mock's clock an hour after it, so
    // the example runs exactly as documented.
    o.clock = [] { return now_tp; };
    MockGraphServer server(o);

    char dir_template[] = "/tmp/capi-mock-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::filesystem::path dir(dir_template);
    {
        std::ofstream(dir / "ca.pem") << server.ca_pem();
    }
    const std::string cmd =
        "/usr/bin/curl -sS --max-time 20 --cacert " + (dir / "ca.pem").string() +
        " -X POST \\\n"
        "    -F 'data=[\n"
        "             {\n"
        "                 \"event_name\": \"Purchase\",\n"
        "                 \"event_time\": 1761263694,\n"
        "                 \"user_data\": {\n"
        "                     \"em\": [\n"
        "                         \"309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd\"\n"
        "                     ],\n"
        "                     \"ph\": [\n"
        "                         \"254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4\",\n"
        "                         \"6f4fcb9deaeadc8f9746ae76d97ce1239e98b404efe5da3ee0b7149740f89ad6\"\n"
        "                     ],\n"
        "                     \"client_ip_address\": \"123.123.123.123\",\n"
        "                     \"client_user_agent\": \"$CLIENT_USER_AGENT\",\n"
        "                     \"fbc\": \"fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890\",\n"
        "                     \"fbp\": \"fb.1.1558571054389.1098115397\"\n"
        "                 },\n"
        "                 \"custom_data\": {\n"
        "                     \"currency\": \"usd\",\n"
        "                     \"value\": 123.45,\n"
        "                     \"contents\": [\n"
        "                         {\n"
        "                             \"id\": \"product123\",\n"
        "                             \"quantity\": 1,\n"
        "                             \"delivery_category\": \"home_delivery\"\n"
        "                         }\n"
        "                     ]\n"
        "                 },\n"
        "                 \"event_source_url\": \"http://jaspers-market.com/product/123\",\n"
        "                 \"action_source\": \"website\"\n"
        "             }\n"
        "         ]' \\\n"
        "    -F 'access_token=mock-token' \\\n"
        "    " + server.url() + "/v24.0/123/events 2>&1";
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n = 0;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        pclose(p);
    }
    std::filesystem::remove_all(dir);
    INFO(out);
    auto parsed = parse(out);
    REQUIRE_FALSE(parsed.has_error);
    REQUIRE(parsed.events_received == 1);
    REQUIRE(server.events_accepted() == 1);
    auto log = server.requests();
    REQUIRE(log.size() == 1);
    REQUIRE(log[0].content_type.starts_with("multipart/form-data; boundary="));
    REQUIRE(log[0].user_agent.starts_with("curl/"));
}
