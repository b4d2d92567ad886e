// One-pass header statistics (min, max, mean, rms) and in-place byte swapping.
#include <cmath>
#include <cstring>
#include <limits>

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

template <class T>
Stats stats_typed(const T* data, std::size_t count) {
    Stats s;
    if (count == 0) return s;
    constexpr std::size_t block = 4096;  // short blocks keep the float sums accurate
    s.shift = static_cast<double>(data[0]);
    if (!std::isfinite(s.shift)) s.shift = 0;
    T lo = data[0], hi = data[0];
    for (std::size_t begin = 0; begin < count; begin += block) {
        std::size_t end = std::min(count, begin + block);
        double bsum = 0, bsq = 0;
        for (std::size_t i = begin; i < end; ++i) {
            T v = data[i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            double x = static_cast<double>(v) - s.shift;
            bsum += x;
            bsq += x * x;
        }
        if constexpr (std::is_floating_point_v<T>) {
            // NaN loses every comparison above, so look for it where the block sum says.
            if (std::isnan(bsum))
                for (std::size_t i = begin; i < end && !s.has_nan; ++i) s.has_nan = std::isnan(data[i]);
        }
        s.sum += bsum;
        s.sumsq += bsq;
    }
    s.min = static_cast<double>(lo);
    s.max = static_cast<double>(hi);
    s.count = count;
    return s;
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
