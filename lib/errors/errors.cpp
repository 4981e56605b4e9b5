// capi: the error category. Messages are fixed English text for logs; callers
// branch on the enumerator, never on the message.
#include "errors/invalid_option.hpp"

#include <capi/errors.hpp>

#include <system_error>

namespace capi {

namespace {

class capi_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "capi"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_event: return "event failed validation and was not sent";
        case errc::queue_full: return "queue full: the overflow policy refused the event";
        case errc::graph_error: return "the Graph API answered with an error object";
        case errc::http_error: return "HTTP error reply without a Graph error object";
        case errc::bad_response: return "malformed reply (not the JSON the Graph API sends)";
        case errc::resolve_failed: return "host name resolution failed";
        case errc::connect_failed: return "TCP connect failed";
        case errc::tls_handshake_failed: return "TLS handshake failed";
        case errc::certificate_verify_failed: return "server certificate verification failed";
        case errc::connect_timeout: return "connect timed out";
        case errc::handshake_timeout: return "TLS handshake timed out";
        case errc::request_timeout: return "request timed out";
        case errc::connection_lost: return "connection lost during the request";
        case errc::retries_exhausted: return "retries exhausted";
        case errc::expired: return "event expired before delivery";
        case errc::shutdown: return "client shut down";
        case errc::cancelled: return "operation cancelled";
        case errc::invalid_option: return "invalid option";
        case errc::auth_error: return "access token refused (Graph code 190); not retried";
        }
        return ev == 0 ? "success" : "unknown capi error";
    }
};

} // namespace

const std::error_category& category() noexcept {
    static const capi_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), category()};
}

[[noreturn]] void detail::invalid_option(const std::string& what) {
    throw std::system_error(make_error_code(errc::invalid_option), what);
}

} // namespace capi
