// Mathematical functions of floats and complex numbers, and the predicates.
#include <cmath>
#include <complex>
#include <limits>

#include "loops.hpp"

namespace ne3 {
namespace {

// One element function per name: the same expression for float, double and, where
// <complex> provides it, std::complex.
#define NE3_FUNCTION(Name, expr) \
    struct Name {                \
        template <class T>       \
        static T f(T x) {        \
            using std::expr;     \
            return expr(x);      \
        }                        \
    };
NE3_FUNCTION(Sqrt, sqrt)
NE3_FUNCTION(Cbrt, cbrt)
NE3_FUNCTION(Exp, exp)
NE3_FUNCTION(Log, log)
NE3_FUNCTION(Log10, log10)
NE3_FUNCTION(Sin, sin)
NE3_FUNCTION(Cos, cos)
NE3_FUNCTION(Tan, tan)
NE3_FUNCTION(Arcsin, asin)
NE3_FUNCTION(Arccos, acos)
NE3_FUNCTION(Arctan, atan)
NE3_FUNCTION(Sinh, sinh)
NE3_FUNCTION(Cosh, cosh)
NE3_FUNCTION(Tanh, tanh)
NE3_FUNCTION(Arcsinh, asinh)
NE3_FUNCTION(Arccosh, acosh)
NE3_FUNCTION(Arctanh, atanh)
NE3_FUNCTION(Erf, erf)
NE3_FUNCTION(Erfc, erfc)
#undef NE3_FUNCTION

constexpr double kLn2 = 0.693147180559945309417232121458176568;
constexpr double kLn10 = 2.30258509299404568401799145468436421;

struct Expm1 {
    template <class T>
    static T f(T x) {
        if constexpr (is_complex_v<T>) {
            // exp(x+iy) - 1 without cancellation for small x and y.
            using R = typename T::value_type;
            const R s = std::sin(x.imag() / 2);
            return T(std::expm1(x.real()) * std::cos(x.imag()) - 2 * s * s, std::exp(x.real()) * std::sin(x.imag()));
        } else {
            return std::expm1(x);
        }
    }
};

struct Log1p {
    template <class T>
    static T f(T x) {
        if constexpr (is_complex_v<T>) {
            using R = typename T::value_type;
            const R re = x.real() + R(1);
            return T(std::log(std::hypot(re, x.imag())), std::atan2(x.imag(), re));
        } else {
            return std::log1p(x);
        }
    }
};

struct Exp2 {
    template <class T>
    static T f(T x) {
        if constexpr (is_complex_v<T>) {
            using R = typename T::value_type;
            return std::exp(x * R(kLn2));
        } else {
            return std::exp2(x);
        }
    }
};

struct Log2 {
    template <class T>
    static T f(T x) {
        if constexpr (is_complex_v<T>) {
            using R = typename T::value_type;
            return std::log(x) / R(kLn2);
        } else {
            return std::log2(x);
        }
    }
};

struct ComplexLog10 {
    template <class T>
    static T f(T x) {
        using R = typename T::value_type;
        return std::log(x) / R(kLn10);
    }
};

// Rounding in plain arithmetic, exact for every float: adding and subtracting 2^52 (2^23
// for float) rounds to an integer in the current rounding mode (half to even by default,
// as NumPy's rint), and values that large are integers already. The SSE2 baseline has no
// rounding instruction, so the libm calls would not vectorise; these do.
template <class T>
T round_to_integer(T x) {
    constexpr T big = T(1) / std::numeric_limits<T>::epsilon();
    const T ax = std::fabs(x);
    const T r = std::copysign((ax + big) - big, x);
    return ax < big ? r : x;  // NaN and infinities stay themselves
}

struct Rint {
    template <class T>
    static T f(T x) {
        if constexpr (is_complex_v<T>) {
            return T(round_to_integer(x.real()), round_to_integer(x.imag()));
        } else {
            return round_to_integer(x);
        }
    }
};
struct Floor {
    template <class T>
    static T f(T x) {
        const T r = round_to_integer(x);
        return r - static_cast<T>(r > x);  // arithmetic, not a branch: it vectorises
    }
};
struct Ceil {
    template <class T>
    static T f(T x) {
        const T r = round_to_integer(x);
        return r + static_cast<T>(r < x);
    }
};
struct Trunc {
    template <class T>
    static T f(T x) {
        return std::copysign(Floor::f(std::fabs(x)), x);
    }
};

struct Reciprocal {
    template <class T>
    static T f(T x) {
        if constexpr (is_complex_v<T>) {
            // 1/z by Smith's algorithm.
            using R = typename T::value_type;
            const R br = x.real(), bi = x.imag();
            if (std::fabs(br) >= std::fabs(bi)) {
                if (br == 0 && bi == 0) return T(R(1) / std::fabs(br), R(0) / std::fabs(bi));
                const R rat = bi / br, scl = R(1) / (br + bi * rat);
                return T(scl, -rat * scl);
            }
            const R rat = br / bi, scl = R(1) / (bi + br * rat);
            return T(rat * scl, -scl);
        } else {
            return T(1) / x;
        }
    }
};

struct Conjugate {
    template <class T>
    static T f(T x) {
        return std::conj(x);
    }
};
struct Real {
    template <class T>
    static typename T::value_type f(T x) {
        return x.real();
    }
};
struct Imag {
    template <class T>
    static typename T::value_type f(T x) {
        return x.imag();
    }
};
struct MakeComplex {
    template <class R>
    static std::complex<R> f(R re, R im) {
        return std::complex<R>(re, im);
    }
};

struct IsNan {
    template <class T>
    static bool f(T x) {
        return is_nan(x);
    }
};
struct IsInf {
    template <class T>
    static bool f(T x) {
        if constexpr (is_complex_v<T>) {
            return std::isinf(x.real()) || std::isinf(x.imag());
        } else if constexpr (std::is_floating_point_v<T>) {
            return std::isinf(x);
        } else {
            return false;
        }
    }
};
struct IsFinite {
    template <class T>
    static bool f(T x) {
        if constexpr (is_complex_v<T>) {
            return std::isfinite(x.real()) && std::isfinite(x.imag());
        } else if constexpr (std::is_floating_point_v<T>) {
            return std::isfinite(x);
        } else {
            return true;
        }
    }
};
struct SignBit {
    template <class T>
    static bool f(T x) {
        return std::signbit(x);
    }
};

struct Arctan2 {
    template <class T>
    static T f(T a, T b) {
        return std::atan2(a, b);
    }
};
struct Hypot {
    template <class T>
    static T f(T a, T b) {
        return std::hypot(a, b);
    }
};
struct CopySign {
    template <class T>
    static T f(T a, T b) {
        return std::copysign(a, b);
    }
};
struct NextAfter {
    template <class T>
    static T f(T a, T b) {
        return std::nextafter(a, b);
    }
};

template <class T>
void register_predicates(Registry& r) {
    add_unary<IsNan, bool, T>(r, "isnan", 1);
    add_unary<IsInf, bool, T>(r, "isinf", 1);
    add_unary<IsFinite, bool, T>(r, "isfinite", 1);
}

// Weights: rough cost relative to an addition, for choosing the thread count.
template <class T>
void register_inexact(Registry& r, int scale) {
    add_unary<Sqrt, T, T>(r, "sqrt", 4 * scale);
    add_unary<Exp, T, T>(r, "exp", 16 * scale);
    add_unary<Expm1, T, T>(r, "expm1", 16 * scale);
    add_unary<Exp2, T, T>(r, "exp2", 16 * scale);
    add_unary<Log, T, T>(r, "log", 16 * scale);
    add_unary<Log1p, T, T>(r, "log1p", 16 * scale);
    add_unary<Log2, T, T>(r, "log2", 16 * scale);
    add_unary<Sin, T, T>(r, "sin", 16 * scale);
    add_unary<Cos, T, T>(r, "cos", 16 * scale);
    add_unary<Tan, T, T>(r, "tan", 24 * scale);
    add_unary<Arcsin, T, T>(r, "arcsin", 24 * scale);
    add_unary<Arccos, T, T>(r, "arccos", 24 * scale);
    add_unary<Arctan, T, T>(r, "arctan", 24 * scale);
    add_unary<Sinh, T, T>(r, "sinh", 24 * scale);
    add_unary<Cosh, T, T>(r, "cosh", 24 * scale);
    add_unary<Tanh, T, T>(r, "tanh", 24 * scale);
    add_unary<Arcsinh, T, T>(r, "arcsinh", 24 * scale);
    add_unary<Arccosh, T, T>(r, "arccosh", 24 * scale);
    add_unary<Arctanh, T, T>(r, "arctanh", 24 * scale);
    add_unary<Rint, T, T>(r, "rint", 2 * scale);
    add_unary<Reciprocal, T, T>(r, "reciprocal", 2 * scale);
    register_predicates<T>(r);
}

// Rounding an integer, or conjugating a real number, is the identity (NumPy 2 has these
// loops).
template <class T>
void register_real_identities(Registry& r) {
    add_unary<Identity, T, T>(r, "conjugate", 1);
    if constexpr (!std::is_floating_point_v<T>) {
        add_unary<Identity, T, T>(r, "floor", 1);
        add_unary<Identity, T, T>(r, "ceil", 1);
        add_unary<Identity, T, T>(r, "trunc", 1);
    }
}

}  // namespace

void register_math(Registry& r) {
    register_predicates<bool>(r);
    register_real_identities<bool>(r);
    for_types(IntTypes{}, [&r](auto t) {
        register_predicates<decltype(t)>(r);
        register_real_identities<decltype(t)>(r);
    });
    for_types(FloatTypes{}, [&r](auto t) {
        using T = decltype(t);
        register_inexact<T>(r, 1);
        register_real_identities<T>(r);
        add_unary<Log10, T, T>(r, "log10", 16);
        add_unary<Cbrt, T, T>(r, "cbrt", 16);
        add_unary<Floor, T, T>(r, "floor", 1);
        add_unary<Ceil, T, T>(r, "ceil", 1);
        add_unary<Trunc, T, T>(r, "trunc", 1);
        add_unary<Erf, T, T>(r, "erf", 16);
        add_unary<Erfc, T, T>(r, "erfc", 16);
        add_unary<SignBit, bool, T>(r, "signbit", 1);
        add_binary<Arctan2, T, T>(r, "arctan2", 24);
        add_binary<Hypot, T, T>(r, "hypot", 8);
        add_binary<CopySign, T, T>(r, "copysign", 1);
        add_binary<NextAfter, T, T>(r, "nextafter", 4);
        add_binary<MakeComplex, std::complex<T>, T>(r, "complex", 1);
    });
    for_types(ComplexTypes{}, [&r](auto t) {
        using T = decltype(t);
        using R = typename T::value_type;
        register_inexact<T>(r, 3);
        add_unary<ComplexLog10, T, T>(r, "log10", 48);
        add_unary<Conjugate, T, T>(r, "conjugate", 1);
        add_unary<Real, R, T>(r, "real", 1);
        add_unary<Imag, R, T>(r, "imag", 1);
    });
}

}  // namespace ne3
