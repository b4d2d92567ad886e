// Loop templates turning an element function into a kernel, and the helpers for
// registering kernels. Each loop has a unit-stride path and scalar-operand paths
// written as plain indexed loops so that the compiler vectorises them.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels.hpp"

// Kernel loops are compiled twice on Linux x86-64, for the x86-64 baseline and for AVX2,
// and the dynamic loader picks one per machine (GCC's target_clones, an ifunc): wider
// vectors for cache-resident data, same results (no FMA contraction either way).
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define NE3_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NE3_CLONES
#endif

namespace ne3 {

template <class Out, class A, class Op>
NE3_CLONES void unary_loop(std::ptrdiff_t n, char* const* args, const bool* scalar) {
    Out* d = reinterpret_cast<Out*>(args[0]);
    const A* a = reinterpret_cast<const A*>(args[1]);
    if (scalar[1]) {
        const Out v = Op::f(a[0]);
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = v;
    } else {
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = Op::f(a[i]);
    }
}

template <class Out, class A, class B, class Op>
NE3_CLONES void binary_loop(std::ptrdiff_t n, char* const* args, const bool* scalar) {
    Out* d = reinterpret_cast<Out*>(args[0]);
    const A* a = reinterpret_cast<const A*>(args[1]);
    const B* b = reinterpret_cast<const B*>(args[2]);
    if (!scalar[1] && !scalar[2]) {
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = Op::f(a[i], b[i]);
    } else if (!scalar[1]) {
        const B bv = b[0];
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = Op::f(a[i], bv);
    } else if (!scalar[2]) {
        const A av = a[0];
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = Op::f(av, b[i]);
    } else {
        const Out v = Op::f(a[0], b[0]);
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = v;
    }
}

template <class Op, class Out, class A>
void add_unary(Registry& r, const char* name, int weight) {
    r[name].push_back({{type_code_of<A>()}, type_code_of<Out>(), &unary_loop<Out, A, Op>, weight});
}

template <class Op, class Out, class A, class B = A>
void add_binary(Registry& r, const char* name, int weight) {
    r[name].push_back(
        {{type_code_of<A>(), type_code_of<B>()}, type_code_of<Out>(), &binary_loop<Out, A, B, Op>, weight});
}

// Type lists for registration.
template <class... T>
struct Types {};
using IntTypes = Types<std::int8_t, std::int16_t, std::int32_t, std::int64_t, std::uint8_t, std::uint16_t,
                       std::uint32_t, std::uint64_t>;
using FloatTypes = Types<float, double>;
using ComplexTypes = Types<c64, c128>;

template <class... T, class F>
void for_types(Types<T...>, F&& f) {
    (f(T{}), ...);
}

// Integer arithmetic wraps like NumPy's: compute in an unsigned type at least as wide
// as int (no undefined overflow, no promotion to signed int), then convert back.
template <class T>
using Wide = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class T>
T wrap(Wide<T> v) {
    return static_cast<T>(v);
}

template <class T>
bool is_nan(T x) {
    if constexpr (std::is_floating_point_v<T>) {
        return std::isnan(x);
    } else if constexpr (is_complex_v<T>) {
        return std::isnan(x.real()) || std::isnan(x.imag());
    } else {
        return false;
    }
}

template <class T>
bool truthy(T x) {
    if constexpr (is_complex_v<T>) {
        return x.real() != 0 || x.imag() != 0;
    } else {
        return x != T(0);
    }
}

// NumPy orders complex numbers lexicographically, with NaN comparing false.
template <class T>
bool complex_less(T a, T b) {
    return (a.real() < b.real() && a.imag() == a.imag() && b.imag() == b.imag()) ||
           (a.real() == b.real() && a.imag() < b.imag());
}
template <class T>
bool complex_less_equal(T a, T b) {
    return (a.real() < b.real() && a.imag() == a.imag() && b.imag() == b.imag()) ||
           (a.real() == b.real() && a.imag() <= b.imag());
}

struct Identity {
    template <class T>
    static T f(T a) {
        return a;
    }
};

// NaN-propagating minimum and maximum, as NumPy's ufuncs and reductions.
struct Minimum {
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_complex_v<T>) {
            if (is_nan(a)) return a;
            if (is_nan(b)) return b;
            return complex_less_equal(a, b) ? a : b;
        } else if constexpr (std::is_floating_point_v<T>) {
            return (a <= b || std::isnan(a)) ? a : b;
        } else {
            return a <= b ? a : b;
        }
    }
};
struct Maximum {
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_complex_v<T>) {
            if (is_nan(a)) return a;
            if (is_nan(b)) return b;
            return complex_less_equal(b, a) ? a : b;
        } else if constexpr (std::is_floating_point_v<T>) {
            return (a >= b || std::isnan(a)) ? a : b;
        } else {
            return a >= b ? a : b;
        }
    }
};

}  // namespace ne3
