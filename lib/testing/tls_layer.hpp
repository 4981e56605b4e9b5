// capi internals: a TLS stream as Beast's HTTP operations see it, for the
// mock Graph server and the tests' own HTTP clients. Each read and each write
// reaches Asio's TLS layer through one function, with the completion handler
// type-erased, so a translation unit compiles Asio's TLS operations once per
// kind (read, write), not once per HTTP operation, message and buffer sequence
// type that drives them. Those copies were most of the mock's code and compile
// time: lib/testing/mock_graph.cpp took 63 s at -O3 and 204 s in the
// ASan/UBSan build on one core, 36 s and 75 s through this layer.
//
// What TLS does is unchanged: a read fills the first non-empty buffer, as
// Asio's TLS read does; a write passes on the first max_write_buffers non-empty
// buffers of its sequence (a write may take fewer bytes than offered), which
// Asio's TLS write gathers as before.
//
// Precondition: the operations' handlers belong on the stream's executor (the
// mock's sessions run on their connection's strand, the tests' clients on the
// stream's io_context): the TLS layer completes them there.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <utility>

namespace capi::testing::detail {

template <class Next>
class TlsLayer {
public:
    using next_layer_type = boost::asio::ssl::stream<Next>;
    using executor_type = typename next_layer_type::executor_type;
    using handler_type = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

    template <class Arg>
    TlsLayer(Arg&& next, boost::asio::ssl::context& ctx) : next_(std::forward<Arg>(next), ctx) {}

    executor_type get_executor() noexcept { return next_.get_executor(); }
    /// The TLS stream: handshake and shutdown; beast::get_lowest_layer goes through it.
    next_layer_type& next_layer() noexcept { return next_; }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        boost::asio::mutable_buffer first;
        for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers);
             ++it) {
            first = *it;
            if (first.size() != 0) break;
        }
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](handler_type h, boost::asio::mutable_buffer b) { read_(b, std::move(h)); }, token, first);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        Gathered g;
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers) && g.n < g.b.size(); ++it)
            if (boost::asio::const_buffer b = *it; b.size() != 0) g.b[g.n++] = b;
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](handler_type h, const Gathered& b) { write_(b, std::move(h)); }, token, g);
    }

private:
    static constexpr std::size_t max_write_buffers = 16;
    // A write's buffers, as a buffer sequence that Asio's TLS write keeps by value.
    struct Gathered {
        std::array<boost::asio::const_buffer, max_write_buffers> b;
        std::size_t n = 0;
        const boost::asio::const_buffer* begin() const noexcept { return b.data(); }
        const boost::asio::const_buffer* end() const noexcept { return b.data() + n; }
    };

    // The handler runs on the stream's executor, where the caller's operations
    // run (a connection's strand, or the io_context of a test's client): bound
    // to it here, because Boost 1.81's any_completion_executor cannot be asked
    // for blocking.never, which Beast's TCP stream needs of its completions.
    [[gnu::noinline]] void read_(boost::asio::mutable_buffer b, handler_type h) {
        next_.async_read_some(b, boost::asio::bind_executor(next_.get_executor(), std::move(h)));
    }
    [[gnu::noinline]] void write_(const Gathered& b, handler_type h) {
        next_.async_write_some(b, boost::asio::bind_executor(next_.get_executor(), std::move(h)));
    }

    next_layer_type next_;
};

} // namespace capi::testing::detail
