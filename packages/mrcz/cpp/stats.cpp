// One-pass header statistics (min, max, mean, rms) and in-place byte swapping.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

#include "kernels.hpp"
#include "parallel.hpp"

namespace mrcz {

void Stats::merge(const Stats& other) {
    if (other.count == 0) return;
    if (count == 0) {
        *this = other;
        return;
    }
    // Re-centre the other block's sums on this block's shift before adding them.
    double d = other.shift - shift;
    double n = static_cast<double>(other.count);
    sumsq += other.sumsq + 2.0 * d * other.sum + d * d * n;
    sum += other.sum + d * n;
    count += other.count;
    min = std::min(min, other.min);
    max = std::max(max, other.max);
    has_nan = has_nan || other.has_nan;
}

namespace {

// Small integers: exact integer sums per block (these loops vectorise).
template <class T>
Stats integer_stats(const T* data, std::size_t count) {
    using Acc = std::conditional_t<sizeof(T) == 1, std::int32_t, std::int64_t>;
    constexpr std::size_t block = 4096;  // 255^2 * 4096 still fits the 32-bit accumulator
    Stats s;
    T lo = data[0], hi = data[0];
    for (std::size_t begin = 0; begin < count; begin += block) {
        std::size_t end = std::min(count, begin + block);
        Acc bsum = 0;
        std::int64_t bsq = 0;
        Acc bsq_small = 0;
        for (std::size_t i = begin; i < end; ++i) {
            T v = data[i];
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            bsum += static_cast<Acc>(v);
            if constexpr (sizeof(T) == 1)
                bsq_small += static_cast<Acc>(v) * static_cast<Acc>(v);
            else
                bsq += static_cast<std::int64_t>(v) * static_cast<std::int64_t>(v);
        }
        s.sum += static_cast<double>(bsum);
        s.sumsq += static_cast<double>(sizeof(T) == 1 ? static_cast<std::int64_t>(bsq_small) : bsq);
    }
    s.min = static_cast<double>(lo);
    s.max = static_cast<double>(hi);
    s.count = count;
    return s;
}

// Bytes (counting movies, the common case): SSE2 keeps min/max in byte lanes, sums
// with psadbw and squares with pmaddwd, about 3x the compiler's vectorisation of
// integer_stats (which needs 32-bit multiplies SSE2 lacks). For int8, the bytes are
// flipped to x + 128 and the shift records the offset, so the sums stay exact.
template <class T>
Stats byte_stats(const T* data, std::size_t count) {
#if defined(__SSE2__) || defined(_M_X64)
    const auto* p = reinterpret_cast<const std::uint8_t*>(data);
    const std::uint8_t flip = std::is_signed_v<T> ? 0x80 : 0;
    const __m128i flip_v = _mm_set1_epi8(static_cast<char>(flip)), zero = _mm_setzero_si128();
    __m128i lo = _mm_set1_epi8(static_cast<char>(0xff)), hi = zero, sum = zero;
    std::uint64_t sumsq = 0;
    std::size_t i = 0;
    // Up to 4 * 255^2 per pmaddwd lane and step: flush the 32-bit lanes every 4096 steps.
    constexpr std::size_t steps = 4096;
    while (i + 16 <= count) {
        std::size_t end = std::min(count - (count - i) % 16, i + 16 * steps);
        __m128i sq = zero;
        for (; i < end; i += 16) {
            __m128i v = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), flip_v);
            lo = _mm_min_epu8(lo, v);
            hi = _mm_max_epu8(hi, v);
            sum = _mm_add_epi64(sum, _mm_sad_epu8(v, zero));
            __m128i a = _mm_unpacklo_epi8(v, zero), b = _mm_unpackhi_epi8(v, zero);
            sq = _mm_add_epi32(sq, _mm_add_epi32(_mm_madd_epi16(a, a), _mm_madd_epi16(b, b)));
        }
        alignas(16) std::uint32_t q[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(q), sq);
        sumsq += std::uint64_t{q[0]} + q[1] + q[2] + q[3];
    }
    alignas(16) std::uint8_t lo_b[16], hi_b[16];
    alignas(16) std::uint64_t sum_q[2];
    _mm_store_si128(reinterpret_cast<__m128i*>(lo_b), lo);
    _mm_store_si128(reinterpret_cast<__m128i*>(hi_b), hi);
    _mm_store_si128(reinterpret_cast<__m128i*>(sum_q), sum);
    std::uint8_t mn = 0xff, mx = 0;
    for (int k = 0; k < 16; ++k) {
        mn = std::min(mn, lo_b[k]);
        mx = std::max(mx, hi_b[k]);
    }
    std::uint64_t total = sum_q[0] + sum_q[1];
    for (; i < count; ++i) {
        std::uint8_t v = static_cast<std::uint8_t>(p[i] ^ flip);
        mn = std::min(mn, v);
        mx = std::max(mx, v);
        total += v;
        sumsq += std::uint64_t{v} * v;
    }
    Stats s;
    s.shift = -static_cast<double>(flip);  // stored value x = v - flip, so x - shift = v
    s.sum = static_cast<double>(total);
    s.sumsq = static_cast<double>(sumsq);
    s.min = static_cast<double>(mn) - flip;
    s.max = static_cast<double>(mx) - flip;
    s.count = count;
    return s;
#else
    return integer_stats(data, count);
#endif
}

// Everything else: sums of (x - shift) in double over independent lanes, so the
// compiler can keep several additions in flight without reassociating one chain.
template <class T>
Stats general_stats(const T* data, std::size_t count) {
    constexpr std::size_t lanes = 8;
    Stats s;
    s.shift = static_cast<double>(data[0]);
    if (!std::isfinite(s.shift)) s.shift = 0;
    T lo = data[0], hi = data[0];
    double sum[lanes] = {}, sq[lanes] = {};
    std::size_t i = 0;
    for (; i + lanes <= count; i += lanes) {
        for (std::size_t k = 0; k < lanes; ++k) {
            T v = data[i + k];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            double x = static_cast<double>(v) - s.shift;
            sum[k] += x;
            sq[k] += x * x;
        }
    }
    for (; i < count; ++i) {
        T v = data[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        double x = static_cast<double>(v) - s.shift;
        sum[0] += x;
        sq[0] += x * x;
    }
    for (std::size_t k = 0; k < lanes; ++k) {
        s.sum += sum[k];
        s.sumsq += sq[k];
    }
    if constexpr (std::is_floating_point_v<T>) {
        // NaN loses every comparison above, so look for it where the sum says.
        if (std::isnan(s.sum))
            for (std::size_t j = 0; j < count && !s.has_nan; ++j) s.has_nan = std::isnan(data[j]);
    }
    s.min = static_cast<double>(lo);
    s.max = static_cast<double>(hi);
    s.count = count;
    return s;
}

template <class T>
Stats stats_typed(const T* data, std::size_t count) {
    if (count == 0) return Stats{};
    if constexpr (std::is_integral_v<T> && sizeof(T) == 1)
        return byte_stats(data, count);
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 2)
        return integer_stats(data, count);
    else
        return general_stats(data, count);
}

template <class Fn>
auto dispatch(Kind kind, Fn&& fn) {
    switch (kind) {
        case Kind::i8:
            return fn(std::int8_t{});
        case Kind::u8:
            return fn(std::uint8_t{});
        case Kind::i16:
            return fn(std::int16_t{});
        case Kind::u16:
            return fn(std::uint16_t{});
        case Kind::i32:
            return fn(std::int32_t{});
        case Kind::u32:
            return fn(std::uint32_t{});
        case Kind::f32:
            return fn(float{});
        case Kind::f64:
            return fn(double{});
    }
    throw std::invalid_argument("unknown element kind");
}

std::size_t item_size(Kind kind) {
    return dispatch(kind, [](auto tag) { return sizeof(tag); });
}

}  // namespace

Stats stats_of(const void* data, std::size_t count, Kind kind) {
    return dispatch(kind, [&](auto tag) {
        using T = decltype(tag);
        return stats_typed(static_cast<const T*>(data), count);
    });
}

Stats parallel_stats(const void* data, std::size_t count, Kind kind, std::size_t threads) {
    constexpr std::size_t min_per_thread = 1 << 18;
    std::size_t workers = worker_count(threads, std::max<std::size_t>(1, count / min_per_thread));
    std::vector<Stats> parts(workers);
    std::size_t isz = item_size(kind);
    run_workers(workers, [&](std::size_t w) {
        auto [b, e] = split_range(count, workers, w);
        parts[w] = stats_of(static_cast<const std::uint8_t*>(data) + b * isz, e - b, kind);
    });
    Stats total;
    for (const auto& p : parts) total.merge(p);
    return total;
}

void byteswap_inplace(void* data, std::size_t count, std::size_t itemsize, std::size_t threads) {
    if (itemsize != 2 && itemsize != 4 && itemsize != 8)
        throw std::invalid_argument("byteswap: item size must be 2, 4 or 8");
    std::size_t workers = worker_count(threads, std::max<std::size_t>(1, count / (1 << 18)));
    auto* bytes = static_cast<std::uint8_t*>(data);
    run_workers(workers, [&](std::size_t w) {
        auto [b, e] = split_range(count, workers, w);
        for (std::size_t i = b; i < e; ++i) {
            std::uint8_t* p = bytes + i * itemsize;
            if (itemsize == 2) {
                std::uint16_t v;
                std::memcpy(&v, p, 2);
                v = static_cast<std::uint16_t>((v >> 8) | (v << 8));
                std::memcpy(p, &v, 2);
            } else if (itemsize == 4) {
                std::uint32_t v;
                std::memcpy(&v, p, 4);
                v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
                std::memcpy(p, &v, 4);
            } else {
                std::uint64_t v;
                std::memcpy(&v, p, 8);
                std::uint64_t r = 0;
                for (int k = 0; k < 8; ++k) r = (r << 8) | ((v >> (8 * k)) & 0xffu);
                v = r;
                std::memcpy(p, &v, 8);
            }
        }
    });
}

}  // namespace mrcz
