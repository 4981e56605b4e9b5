// The gateway's HTTP/1.1 request head and answer, without Beast's message types.
// Included by server.cpp only (the one Beast translation unit of the gateway).
//
// Why not http::request_parser and http::response: per request, those allocate a
// node per header field, a string for the body, and a serializer walks the fields
// through several layers of buffer views. A gateway answers the same few headers
// every time: here Beast's basic_parser does the parsing (the same limits, errors
// and chunked decoding), the fields the gateway reads are copied into strings the
// connection keeps (so once they have grown, a request allocates nothing), and an
// answer is written by hand into one reused string that goes out in one write.
#pragma once

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace capi_gateway {

/// What the gateway reads of one request. Kept by the connection and cleared
/// (not freed) for each request.
struct RequestHead {
    std::string method;
    std::string target;
    unsigned version = 11;
    // The first occurrence of each header, as Beast's fields[name] gives it.
    std::string content_type, user_agent, referer, cookie, origin, x_forwarded_for, x_forwarded_proto, forwarded, expect;
    std::string body;
    /// Names and values of every field, plus 4 per field (": " and CRLF).
    std::size_t header_bytes = 0;

    void clear() noexcept {
        method.clear();
        target.clear();
        version = 11;
        for (std::string* s : {&content_type, &user_agent, &referer, &cookie, &origin, &x_forwarded_for, &x_forwarded_proto, &forwarded,
                               &expect, &body})
            s->clear();
        seen_ = 0;
        header_bytes = 0;
    }

private:
    friend class RequestHeadParser;
    std::uint32_t seen_ = 0;  // bit i: header i already taken (the first one wins)
};

/// Beast's request parser (limits, keep-alive, chunked bodies) filling a RequestHead.
/// One per request: basic_parser cannot be reset, but it holds no allocation
/// unless a header arrives in pieces.
class RequestHeadParser final : public boost::beast::http::basic_parser<true> {
public:
    explicit RequestHeadParser(RequestHead& head) : head_(head) { head_.clear(); }

private:
    using string_view = boost::beast::string_view;
    using error_code = boost::beast::error_code;
    using field = boost::beast::http::field;

    void take(unsigned bit, std::string& to, string_view value) {
        if (head_.seen_ & (1u << bit)) return;
        head_.seen_ |= 1u << bit;
        to.assign(value.data(), value.size());
    }

    void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                         error_code&) override {
        head_.method.assign(method.data(), method.size());
        head_.target.assign(target.data(), target.size());
        head_.version = static_cast<unsigned>(version);
    }
    void on_response_impl(int, string_view, int, error_code&) override {}  // requests only
    void on_field_impl(field f, string_view name, string_view value, error_code&) override {
        head_.header_bytes += name.size() + value.size() + 4;
        switch (f) {
        case field::content_type: take(0, head_.content_type, value); break;
        case field::user_agent: take(1, head_.user_agent, value); break;
        case field::referer: take(2, head_.referer, value); break;
        case field::cookie: take(3, head_.cookie, value); break;
        case field::origin: take(4, head_.origin, value); break;
        case field::forwarded: take(5, head_.forwarded, value); break;
        case field::expect: take(6, head_.expect, value); break;
        case field::unknown:
            if (boost::beast::iequals(name, "X-Forwarded-For")) take(7, head_.x_forwarded_for, value);
            else if (boost::beast::iequals(name, "X-Forwarded-Proto")) take(8, head_.x_forwarded_proto, value);
            break;
        default: break;
        }
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    std::size_t on_body_impl(string_view body, error_code&) override {
        head_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code&) override {
        head_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    RequestHead& head_;
};

/// Writes an answer as Beast's http::response with prepare_payload() and
/// keep_alive() would: the status line, Content-Type, `headers` in order,
/// Connection when it differs from the version's default, Content-Length (none
/// for 1xx, 204 and 304, which carry no body: RFC 9110 8.6 -- Beast sent
/// "Content-Length: 0" on a 204). `out` is cleared first.
inline void serialize_answer(std::string& out, unsigned version, int status, std::string_view content_type,
                             const std::vector<std::pair<std::string, std::string>>& headers, std::string_view body,
                             bool keep_alive) {
    namespace http = boost::beast::http;
    out.clear();
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10 % 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
    out += ' ';
    const bool bodiless = (status >= 100 && status < 200) || status == 204 || status == 304;
    char code[3] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                    static_cast<char>('0' + status % 10)};
    out.append(code, 3);
    out += ' ';
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    out.append(reason.data(), reason.size());
    out += "\r\n";
    if (!content_type.empty()) {
        out += "Content-Type: ";
        out += content_type;
        out += "\r\n";
    }
    for (const auto& [name, value] : headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    if (version >= 11 && !keep_alive) out += "Connection: close\r\n";
    if (version < 11 && keep_alive) out += "Connection: keep-alive\r\n";
    if (!bodiless) {
        out += "Content-Length: ";
        out += std::to_string(body.size());
        out += "\r\n";
    }
    out += "\r\n";
    if (!bodiless) out += body;
}

} // namespace capi_gateway
