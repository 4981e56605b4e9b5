// capi: gzip reply bodies, inflated with Beast's zlib port (raw deflate) inside
// the gzip framing. No Asio.

#include "transport/gzip.hpp"

#include "transport/crc32.hpp"

#include <boost/beast/zlib/inflate_stream.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace capi::detail::transport {

namespace beast = boost::beast;

bool gunzip(std::string_view in, std::string& out, std::size_t limit) {
    out.clear();
    auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])); };
    std::size_t pos = 0;
    do {
        if (in.size() - pos < 18) return false;  // header + empty deflate + trailer
        if (byte(pos) != 0x1f || byte(pos + 1) != 0x8b || byte(pos + 2) != 8) return false;
        auto flags = byte(pos + 3);
        if (flags & 0xe0) return false;
        pos += 10;
        if (flags & 4) {  // FEXTRA
            if (in.size() - pos < 2) return false;
            std::size_t xlen = byte(pos) | (byte(pos + 1) << 8);
            pos += 2;
            if (in.size() - pos < xlen) return false;
            pos += xlen;
        }
        for (std::uint32_t f : {8u, 16u}) {  // FNAME, FCOMMENT: zero-terminated
            if (!(flags & f)) continue;
            auto z = in.find('\0', pos);
            if (z == std::string_view::npos) return false;
            pos = z + 1;
        }
        if (flags & 2) pos += 2;  // FHCRC
        if (pos > in.size()) return false;

        beast::zlib::inflate_stream inflater;
        beast::zlib::z_params zs{};
        zs.next_in = in.data() + pos;
        zs.avail_in = in.size() - pos;
        std::size_t start = out.size();
        for (;;) {
            std::size_t chunk = std::max<std::size_t>(4096, zs.avail_in * 4);
            if (out.size() + chunk > limit + 1) chunk = limit + 1 - out.size();
            std::size_t old = out.size();
            out.resize(old + chunk);
            zs.next_out = out.data() + old;
            zs.avail_out = chunk;
            beast::error_code ec;
            inflater.write(zs, beast::zlib::Flush::none, ec);
            out.resize(old + chunk - zs.avail_out);
            if (out.size() > limit) return false;
            if (ec == beast::zlib::error::end_of_stream) break;
            if (ec && ec != beast::zlib::error::need_buffers) return false;
            // Output space left over means the input ran out before the end.
            if (zs.avail_out != 0) return false;
        }
        pos = in.size() - zs.avail_in;
        if (in.size() - pos < 8) return false;
        std::uint32_t crc = byte(pos) | (byte(pos + 1) << 8) | (byte(pos + 2) << 16) | (byte(pos + 3) << 24);
        std::uint32_t isize =
            byte(pos + 4) | (byte(pos + 5) << 8) | (byte(pos + 6) << 16) | (byte(pos + 7) << 24);
        std::string_view member(out.data() + start, out.size() - start);
        if (crc != detail::crc32(member) || isize != static_cast<std::uint32_t>(member.size())) return false;
        pos += 8;
    } while (pos < in.size());
    return true;
}

} // namespace capi::detail::transport
