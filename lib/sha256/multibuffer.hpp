// capi: the lane-independent half of the multi-buffer SHA-256 paths (private).
//
// avx2.cpp and avx512.cpp each supply an engine that runs the 64 rounds on N
// messages at once (one message per 32-bit lane). This header owns what is the
// same for both: deciding which messages share a group, building their padded
// blocks, and sending a nearly empty group to the scalar code instead.
//
// The driver is plain code with no target attribute; it only *calls* the
// engine's target-attributed functions, so nothing here needs AVX.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "sha256/impl.hpp"

namespace capi::sha256::detail::multibuffer {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

using detail::round_constants;
using detail::initial_state;

/// Longest message whose padding still fits one 64-byte block.
inline constexpr std::size_t one_block_max = 55;

/// Longer messages skip the lanes: a group runs for its longest member, so one
/// huge message would keep every other lane idle for its whole length.
inline constexpr std::size_t lane_max = 1024;

inline void store_be64(unsigned char* p, u64 v) noexcept {
    v = __builtin_bswap64(v);  // x86 only: these paths are never built elsewhere
    std::memcpy(p, &v, 8);
}


/// Writes the single padded block of a message of at most 55 bytes; `block`
/// must already be zero.
inline void build_one_block(unsigned char* block, std::string_view m) noexcept {
    detail::copy_short(block, reinterpret_cast<const unsigned char*>(m.data()), m.size());
    block[m.size()] = 0x80;
    store_be64(block + 56, static_cast<u64>(m.size()) * 8);
}

/// The driver. `Engine` provides, for N = Engine::lanes:
///   one_block(const unsigned char* blocks /* N x 64 bytes */, digest* const* out)
///       hashes N single-block messages from scratch;
///   init(u32* state /* 8 x N, word-major */)
///   compress(u32* state, const unsigned char* const* blocks, u32 active)
///       one block per lane; lanes whose bit in `active` is clear keep their state;
///   finish(const u32* state, digest* const* out)
/// and two thresholds: a leftover group with fewer messages than
/// `shani_below` (when the CPU has SHA extensions) or `scalar_below` (when it
/// has not) is hashed by that path instead, which is cheaper than running a
/// mostly empty group. A group costs the same whether 1 or N lanes are used.
template <class Engine>
class hasher {
public:
    static constexpr std::size_t lanes = Engine::lanes;

    hasher() noexcept
        : shani_(shani_impl.supported()),
          few_below_(shani_ ? Engine::shani_below : Engine::scalar_below) {}

    void run(const std::string_view* in, digest* out, std::size_t n) noexcept {
        if (n < few_below_) {  // capi::sha256::hash() lands here
            if (shani_) {
                shani_impl.hash_many(in, out, n);
            } else {
                for (std::size_t i = 0; i < n; ++i) out[i] = scalar_hash(in[i]);
            }
            return;
        }
        // Messages are partitioned as they come: one-block messages (nearly all
        // PII) fill groups that need a single pass and no masks; longer ones fill
        // groups that run for their longest member with per-lane masks.
        for (std::size_t i = 0; i < n; ++i) {
            if (in[i].size() <= one_block_max) {
                short_in_[short_n_] = &in[i];
                short_out_[short_n_] = &out[i];
                if (++short_n_ == lanes) flush_short();
            } else if (in[i].size() > lane_max) {
                const std::string_view* one = &in[i];
                digest* one_out = &out[i];
                one_by_one(&one, &one_out, 1);
            } else {
                long_in_[long_n_] = &in[i];
                long_out_[long_n_] = &out[i];
                if (++long_n_ == lanes) flush_long();
            }
        }
        if (short_n_ != 0) flush_short();
        if (long_n_ != 0) flush_long();
    }

private:
    /// Hashes a few messages without the lanes (count < lanes).
    void one_by_one(const std::string_view* const* in, digest* const* out, std::size_t count) noexcept {
        if (shani_) {
            // SHA-NI interleaves neighbouring messages, so give it one array.
            std::string_view batch_in[lanes];
            digest batch_out[lanes];
            for (std::size_t i = 0; i < count; ++i) batch_in[i] = *in[i];
            shani_impl.hash_many(batch_in, batch_out, count);
            for (std::size_t i = 0; i < count; ++i) *out[i] = batch_out[i];
        } else {
            for (std::size_t i = 0; i < count; ++i) *out[i] = scalar_hash(*in[i]);
        }
    }

    void flush_short() noexcept {
        const std::size_t count = short_n_;
        short_n_ = 0;
        if (count < few_below_) {
            one_by_one(short_in_, short_out_, count);
            return;
        }
        std::memset(blocks_, 0, sizeof blocks_);
        for (std::size_t i = 0; i < count; ++i) build_one_block(blocks_ + 64 * i, *short_in_[i]);
        // Unused lanes hash a zero block into a scratch digest.
        for (std::size_t i = count; i < lanes; ++i) short_out_[i] = &scratch_;
        Engine::one_block(blocks_, short_out_);
    }

    void flush_long() noexcept {
        const std::size_t count = long_n_;
        long_n_ = 0;
        if (count < few_below_) {
            one_by_one(long_in_, long_out_, count);
            return;
        }
        std::size_t full[lanes];    // whole 64-byte blocks read in place
        std::size_t total[lanes];   // full + 1 or 2 padding blocks
        std::size_t most = 0;
        std::memset(tails_, 0, sizeof tails_);
        for (std::size_t i = 0; i < lanes; ++i) {
            if (i >= count) {
                full[i] = total[i] = 0;
                long_out_[i] = &scratch_;
                continue;
            }
            const std::string_view m = *long_in_[i];
            const std::size_t len = m.size();
            full[i] = len / 64;
            const std::size_t rem = len % 64;
            unsigned char* tail = tails_ + 128 * i;
            if (rem != 0) std::memcpy(tail, m.data() + 64 * full[i], rem);
            tail[rem] = 0x80;
            const std::size_t tail_blocks = rem <= one_block_max ? 1 : 2;
            store_be64(tail + 64 * tail_blocks - 8, static_cast<u64>(len) * 8);
            total[i] = full[i] + tail_blocks;
            if (total[i] > most) most = total[i];
        }

        alignas(64) u32 state[8 * lanes];
        Engine::init(state);
        const unsigned char* ptr[lanes];
        for (std::size_t b = 0; b < most; ++b) {
            u32 active = 0;
            for (std::size_t i = 0; i < lanes; ++i) {
                if (b < full[i]) {
                    ptr[i] = reinterpret_cast<const unsigned char*>(long_in_[i]->data()) + 64 * b;
                } else if (b < total[i]) {
                    ptr[i] = tails_ + 128 * i + 64 * (b - full[i]);
                } else {
                    ptr[i] = tails_;  // any readable block; the lane's state is kept
                    continue;
                }
                active |= u32{1} << i;
            }
            Engine::compress(state, ptr, active);
        }
        Engine::finish(state, long_out_);
    }

    alignas(64) unsigned char blocks_[64 * lanes];
    alignas(64) unsigned char tails_[128 * lanes];
    // Pointers rather than string_view copies: an array of string_view would be
    // zeroed by its constructors on every call (a measurable 20 ns for n = 1).
    const std::string_view* short_in_[lanes];
    digest* short_out_[lanes];
    const std::string_view* long_in_[lanes];
    digest* long_out_[lanes];
    bool shani_;
    std::size_t few_below_;
    std::size_t short_n_ = 0;
    std::size_t long_n_ = 0;
    digest scratch_;
};

} // namespace capi::sha256::detail::multibuffer
