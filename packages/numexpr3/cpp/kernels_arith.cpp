// Arithmetic, comparison, bitwise, logical and selection kernels, with NumPy's
// semantics for every type: wrapping integers, integer division and modulo by zero
// giving 0, Python-style floor division and modulo, NaN-propagating minimum/maximum.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "loops.hpp"

namespace ne3 {
namespace {

struct Add {
    template <class T>
    static T f(T a, T b) {
        if constexpr (std::is_same_v<T, bool>) {
            return a || b;
        } else if constexpr (is_int_v<T>) {
            return wrap<T>(static_cast<Wide<T>>(a) + static_cast<Wide<T>>(b));
        } else {
            return a + b;
        }
    }
};

struct Subtract {
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_int_v<T>) {
            return wrap<T>(static_cast<Wide<T>>(a) - static_cast<Wide<T>>(b));
        } else {
            return a - b;
        }
    }
};

struct Multiply {
    template <class T>
    static T f(T a, T b) {
        if constexpr (std::is_same_v<T, bool>) {
            return a && b;
        } else if constexpr (is_int_v<T>) {
            return wrap<T>(static_cast<Wide<T>>(a) * static_cast<Wide<T>>(b));
        } else if constexpr (is_complex_v<T>) {
            // The textbook product, as NumPy computes it (std::complex's operator* adds
            // a slow NaN/inf recovery path).
            return T(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real());
        } else {
            return a * b;
        }
    }
};

struct TrueDivide {
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_complex_v<T>) {
            // Smith's algorithm, as NumPy.
            using R = typename T::value_type;
            const R br = b.real(), bi = b.imag();
            const R abs_br = std::fabs(br), abs_bi = std::fabs(bi);
            if (abs_br >= abs_bi) {
                if (abs_br == 0 && abs_bi == 0) return T(a.real() / abs_br, a.imag() / abs_bi);
                const R rat = bi / br, scl = R(1) / (br + bi * rat);
                return T((a.real() + a.imag() * rat) * scl, (a.imag() - a.real() * rat) * scl);
            }
            const R rat = br / bi, scl = R(1) / (bi + br * rat);
            return T((a.real() * rat + a.imag()) * scl, (a.imag() * rat - a.real()) * scl);
        } else {
            return a / b;
        }
    }
};

// Float floor division and remainder through one divmod, as NumPy's npy_divmod.
template <class T>
T float_divmod(T a, T b, T* mod) {
    T m = std::fmod(a, b);
    if (b == 0) {
        *mod = m;
        return a / b;
    }
    T div = (a - m) / b;
    if (m != 0) {
        if ((b < 0) != (m < 0)) {
            m += b;
            div -= T(1);
        }
    } else {
        m = std::copysign(T(0), b);
    }
    T floordiv;
    if (div != 0) {
        floordiv = std::floor(div);
        if (div - floordiv > T(0.5)) floordiv += T(1);
    } else {
        floordiv = std::copysign(T(0), a / b);
    }
    *mod = m;
    return floordiv;
}

struct FloorDivide {
    template <class T>
    static T f(T a, T b) {
        if constexpr (std::is_floating_point_v<T>) {
            T mod;
            return float_divmod(a, b, &mod);
        } else if constexpr (std::is_signed_v<T>) {
            if (b == 0) return 0;
            if (b == -1) return wrap<T>(Wide<T>(0) - static_cast<Wide<T>>(a));  // MIN // -1 wraps
            T q = static_cast<T>(a / b);
            if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
            return q;
        } else {
            return b == 0 ? T(0) : static_cast<T>(a / b);
        }
    }
};

struct Remainder {
    template <class T>
    static T f(T a, T b) {
        if constexpr (std::is_floating_point_v<T>) {
            if (b == 0) return std::fmod(a, b);
            T mod;
            float_divmod(a, b, &mod);
            return mod;
        } else if constexpr (std::is_signed_v<T>) {
            if (b == 0 || b == -1) return 0;
            T r = static_cast<T>(a % b);
            if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
            return r;
        } else {
            return b == 0 ? T(0) : static_cast<T>(a % b);
        }
    }
};

struct Fmod {
    template <class T>
    static T f(T a, T b) {
        if constexpr (std::is_floating_point_v<T>) {
            return std::fmod(a, b);
        } else if constexpr (std::is_signed_v<T>) {
            return (b == 0 || b == -1) ? T(0) : static_cast<T>(a % b);
        } else {
            return b == 0 ? T(0) : static_cast<T>(a % b);
        }
    }
};

struct Power {
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_int_v<T>) {
            if constexpr (std::is_signed_v<T>) {
                if (b < 0) {
                    kernel_error |= kErrNegativeIntPower;
                    return 0;
                }
            }
            Wide<T> result = 1, base = static_cast<Wide<T>>(a);
            for (auto e = static_cast<std::make_unsigned_t<T>>(b); e != 0; e >>= 1) {
                if (e & 1u) result = static_cast<Wide<T>>(result * base);
                base = static_cast<Wide<T>>(base * base);
            }
            return wrap<T>(result);
        } else if constexpr (is_complex_v<T>) {
            return complex_power(a, b);
        } else {
            return std::pow(a, b);
        }
    }

    // NumPy's special cases: z**0 = 1, 0**b = 0 (Re b > 0) or NaN, small integer exponents
    // by repeated multiplication; the general case through exp(b log z).
    template <class T>
    static T complex_power(T a, T b) {
        using R = typename T::value_type;
        if (b.real() == 0 && b.imag() == 0) return T(1, 0);
        if (a.real() == 0 && a.imag() == 0) {
            if (b.real() > 0) return T(0, 0);
            return T(std::numeric_limits<R>::quiet_NaN(), std::numeric_limits<R>::quiet_NaN());
        }
        if (b.imag() == 0 && b.real() == std::trunc(b.real()) && std::fabs(b.real()) < 100) {
            const auto n = static_cast<long>(b.real());
            T result(1, 0), base = a;
            for (unsigned long m = static_cast<unsigned long>(n < 0 ? -n : n); m != 0; m >>= 1) {
                if (m & 1u) result = Multiply::f(result, base);
                base = Multiply::f(base, base);
            }
            return n < 0 ? TrueDivide::f(T(1, 0), result) : result;
        }
        return std::pow(a, b);
    }
};

struct Negative {
    template <class T>
    static T f(T a) {
        if constexpr (is_int_v<T>) {
            return wrap<T>(Wide<T>(0) - static_cast<Wide<T>>(a));
        } else {
            return -a;
        }
    }
};

struct Absolute {
    template <class T>
    static auto f(T a) {
        if constexpr (std::is_same_v<T, bool> || std::is_unsigned_v<T>) {
            return a;
        } else if constexpr (is_int_v<T>) {
            return a < 0 ? Negative::f(a) : a;
        } else if constexpr (is_complex_v<T>) {
            return std::hypot(a.real(), a.imag());
        } else {
            return std::fabs(a);
        }
    }
};

struct Square {
    template <class T>
    static T f(T a) {
        return Multiply::f(a, a);
    }
};

struct Sign {
    template <class T>
    static T f(T a) {
        if constexpr (is_complex_v<T>) {
            // NumPy 2: z / |z|; 0 for 0; an infinite part dominates a NaN one.
            using R = typename T::value_type;
            constexpr R nan = std::numeric_limits<R>::quiet_NaN();
            const bool inf_re = std::isinf(a.real()), inf_im = std::isinf(a.imag());
            if (inf_re && inf_im) return T(nan, nan);
            if (inf_re || inf_im) {
                return T(inf_re ? std::copysign(R(1), a.real()) : R(0), inf_im ? std::copysign(R(1), a.imag()) : R(0));
            }
            if (is_nan(a)) return T(nan, nan);
            const R mag = std::hypot(a.real(), a.imag());
            if (mag == 0) return T(0, 0);
            return T(a.real() / mag, a.imag() / mag);
        } else if constexpr (std::is_floating_point_v<T>) {
            return a > 0 ? T(1) : (a < 0 ? T(-1) : (a == 0 ? T(0) : a));
        } else if constexpr (std::is_unsigned_v<T>) {
            return a > 0 ? T(1) : T(0);
        } else {
            return a > 0 ? T(1) : (a < 0 ? T(-1) : T(0));
        }
    }
};

struct Invert {
    template <class T>
    static T f(T a) {
        if constexpr (std::is_same_v<T, bool>) {
            return !a;
        } else {
            return static_cast<T>(~a);
        }
    }
};

struct BitAnd {
    template <class T>
    static T f(T a, T b) {
        return static_cast<T>(a & b);
    }
};
struct BitOr {
    template <class T>
    static T f(T a, T b) {
        return static_cast<T>(a | b);
    }
};
struct BitXor {
    template <class T>
    static T f(T a, T b) {
        return static_cast<T>(a ^ b);
    }
};

// Shift counts outside [0, bits) give 0 (left) or the sign fill (right), as NumPy 2.
struct LeftShift {
    template <class T>
    static T f(T a, T b) {
        if (static_cast<std::uint64_t>(b) >= sizeof(T) * 8) return 0;
        return wrap<T>(static_cast<Wide<T>>(static_cast<Wide<T>>(a) << b));
    }
};
struct RightShift {
    template <class T>
    static T f(T a, T b) {
        if (static_cast<std::uint64_t>(b) >= sizeof(T) * 8) return (std::is_signed_v<T> && a < 0) ? T(-1) : T(0);
        return static_cast<T>(a >> b);
    }
};

struct Equal {
    template <class T>
    static bool f(T a, T b) {
        return a == b;
    }
};
struct NotEqual {
    template <class T>
    static bool f(T a, T b) {
        return a != b;
    }
};
struct Less {
    template <class T>
    static bool f(T a, T b) {
        if constexpr (is_complex_v<T>) {
            return complex_less(a, b);
        } else {
            return a < b;
        }
    }
};
struct LessEqual {
    template <class T>
    static bool f(T a, T b) {
        if constexpr (is_complex_v<T>) {
            return complex_less_equal(a, b);
        } else {
            return a <= b;
        }
    }
};
struct Greater {
    template <class T>
    static bool f(T a, T b) {
        return Less::f(b, a);
    }
};
struct GreaterEqual {
    template <class T>
    static bool f(T a, T b) {
        return LessEqual::f(b, a);
    }
};

struct LogicalAnd {
    template <class T>
    static bool f(T a, T b) {
        return truthy(a) && truthy(b);
    }
};
struct LogicalOr {
    template <class T>
    static bool f(T a, T b) {
        return truthy(a) || truthy(b);
    }
};
struct LogicalXor {
    template <class T>
    static bool f(T a, T b) {
        return truthy(a) != truthy(b);
    }
};
struct LogicalNot {
    template <class T>
    static bool f(T a) {
        return !truthy(a);
    }
};

// minimum/maximum (loops.hpp) propagate NaN; fmin/fmax ignore it (both as NumPy).
struct Fmin {
    template <class T>
    static T f(T a, T b) {
        if (is_nan(b)) return a;
        if (is_nan(a)) return b;
        return Minimum::f(a, b);
    }
};
struct Fmax {
    template <class T>
    static T f(T a, T b) {
        if (is_nan(b)) return a;
        if (is_nan(a)) return b;
        return Maximum::f(a, b);
    }
};

// NumPy compares int64 with uint64 exactly rather than through a common type.
struct MixedSign {
    static bool less(std::int64_t a, std::uint64_t b) { return a < 0 || static_cast<std::uint64_t>(a) < b; }
    static bool less(std::uint64_t a, std::int64_t b) { return b >= 0 && a < static_cast<std::uint64_t>(b); }
    static bool equal(std::int64_t a, std::uint64_t b) { return a >= 0 && static_cast<std::uint64_t>(a) == b; }
    static bool equal(std::uint64_t a, std::int64_t b) { return equal(b, a); }
};
struct MixedEqual {
    template <class A, class B>
    static bool f(A a, B b) {
        return MixedSign::equal(a, b);
    }
};
struct MixedNotEqual {
    template <class A, class B>
    static bool f(A a, B b) {
        return !MixedSign::equal(a, b);
    }
};
struct MixedLess {
    template <class A, class B>
    static bool f(A a, B b) {
        return MixedSign::less(a, b);
    }
};
struct MixedLessEqual {
    template <class A, class B>
    static bool f(A a, B b) {
        return MixedSign::less(a, b) || MixedSign::equal(a, b);
    }
};
struct MixedGreater {
    template <class A, class B>
    static bool f(A a, B b) {
        return MixedSign::less(b, a);
    }
};
struct MixedGreaterEqual {
    template <class A, class B>
    static bool f(A a, B b) {
        return MixedSign::less(b, a) || MixedSign::equal(a, b);
    }
};

template <class A, class B>
void register_mixed_sign_comparisons(Registry& r) {
    add_binary<MixedEqual, bool, A, B>(r, "equal", 1);
    add_binary<MixedNotEqual, bool, A, B>(r, "not_equal", 1);
    add_binary<MixedLess, bool, A, B>(r, "less", 1);
    add_binary<MixedLessEqual, bool, A, B>(r, "less_equal", 1);
    add_binary<MixedGreater, bool, A, B>(r, "greater", 1);
    add_binary<MixedGreaterEqual, bool, A, B>(r, "greater_equal", 1);
}

// where() as a bitwise select between both values: a blend that vectorises, rather than an
// unpredictable branch per element.
template <class T>
T select(bool c, T x, T y) {
    if constexpr (std::is_arithmetic_v<T>) {
        using U =
            std::conditional_t<sizeof(T) == 1, std::uint8_t,
                               std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                                  std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
        U xb, yb;
        std::memcpy(&xb, &x, sizeof(T));
        std::memcpy(&yb, &y, sizeof(T));
        const U mask = static_cast<U>(U(0) - static_cast<U>(c));
        const U rb = static_cast<U>((xb & mask) | (yb & static_cast<U>(~mask)));
        T r;
        std::memcpy(&r, &rb, sizeof(T));
        return r;
    } else {
        return c ? x : y;
    }
}

template <class T>
NE3_CLONES void where_loop(std::ptrdiff_t n, char* const* args, const bool* scalar) {
    T* d = reinterpret_cast<T*>(args[0]);
    const bool* c = reinterpret_cast<const bool*>(args[1]);
    const T* a = reinterpret_cast<const T*>(args[2]);
    const T* b = reinterpret_cast<const T*>(args[3]);
    if (!scalar[1] && !scalar[2] && !scalar[3]) {
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = select(c[i], a[i], b[i]);
    } else if (!scalar[1] && !scalar[2]) {
        const T y = b[0];
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = select(c[i], a[i], y);
    } else if (!scalar[1] && !scalar[3]) {
        const T x = a[0];
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = select(c[i], x, b[i]);
    } else {
        const std::ptrdiff_t ic = scalar[1] ? 0 : 1, ia = scalar[2] ? 0 : 1, ib = scalar[3] ? 0 : 1;
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = select(c[i * ic], a[i * ia], b[i * ib]);
    }
}

template <class T>
void register_for_every_type(Registry& r) {
    add_binary<Equal, bool, T>(r, "equal", 1);
    add_binary<NotEqual, bool, T>(r, "not_equal", 1);
    add_binary<Less, bool, T>(r, "less", 1);
    add_binary<LessEqual, bool, T>(r, "less_equal", 1);
    add_binary<Greater, bool, T>(r, "greater", 1);
    add_binary<GreaterEqual, bool, T>(r, "greater_equal", 1);
    add_binary<LogicalAnd, bool, T>(r, "logical_and", 1);
    add_binary<LogicalOr, bool, T>(r, "logical_or", 1);
    add_binary<LogicalXor, bool, T>(r, "logical_xor", 1);
    add_unary<LogicalNot, bool, T>(r, "logical_not", 1);
    add_binary<Minimum, T, T>(r, "minimum", 1);
    add_binary<Maximum, T, T>(r, "maximum", 1);
    add_binary<Add, T, T>(r, "add", 1);
    add_unary<Identity, T, T>(r, "copy", 1);
    r["where"].push_back({{TypeCode::b1, type_code_of<T>(), type_code_of<T>()}, type_code_of<T>(), &where_loop<T>, 1});
}

template <class T>
void register_numeric(Registry& r, int cost) {
    add_binary<Subtract, T, T>(r, "subtract", cost);
    add_binary<Multiply, T, T>(r, "multiply", cost);
    add_unary<Negative, T, T>(r, "negative", cost);
    add_unary<Square, T, T>(r, "square", cost);
    add_unary<Sign, T, T>(r, "sign", cost);
    add_unary<Absolute, decltype(Absolute::f(T{})), T>(r, "absolute", cost);
}

}  // namespace

void register_arithmetic(Registry& r) {
    register_for_every_type<bool>(r);
    add_binary<Multiply, bool, bool>(r, "multiply", 1);
    add_unary<Invert, bool, bool>(r, "invert", 1);
    add_binary<BitAnd, bool, bool>(r, "bitwise_and", 1);
    add_binary<BitOr, bool, bool>(r, "bitwise_or", 1);
    add_binary<BitXor, bool, bool>(r, "bitwise_xor", 1);
    add_unary<Absolute, bool, bool>(r, "absolute", 1);
    add_binary<Minimum, bool, bool>(r, "fmin", 1);
    add_binary<Maximum, bool, bool>(r, "fmax", 1);
    register_mixed_sign_comparisons<std::int64_t, std::uint64_t>(r);
    register_mixed_sign_comparisons<std::uint64_t, std::int64_t>(r);
    for_types(IntTypes{}, [&r](auto t) {
        using T = decltype(t);
        register_for_every_type<T>(r);
        register_numeric<T>(r, 1);
        add_binary<FloorDivide, T, T>(r, "floor_divide", 8);
        add_binary<Remainder, T, T>(r, "remainder", 8);
        add_binary<Fmod, T, T>(r, "fmod", 8);
        add_binary<Power, T, T>(r, "power", 16);
        add_binary<Minimum, T, T>(r, "fmin", 1);
        add_binary<Maximum, T, T>(r, "fmax", 1);
        add_unary<Invert, T, T>(r, "invert", 1);
        add_binary<BitAnd, T, T>(r, "bitwise_and", 1);
        add_binary<BitOr, T, T>(r, "bitwise_or", 1);
        add_binary<BitXor, T, T>(r, "bitwise_xor", 1);
        add_binary<LeftShift, T, T>(r, "left_shift", 1);
        add_binary<RightShift, T, T>(r, "right_shift", 1);
    });
    for_types(FloatTypes{}, [&r](auto t) {
        using T = decltype(t);
        register_for_every_type<T>(r);
        register_numeric<T>(r, 1);
        add_binary<TrueDivide, T, T>(r, "true_divide", 2);
        add_binary<FloorDivide, T, T>(r, "floor_divide", 12);
        add_binary<Remainder, T, T>(r, "remainder", 12);
        add_binary<Fmod, T, T>(r, "fmod", 8);
        add_binary<Power, T, T>(r, "power", 24);
        add_binary<Fmin, T, T>(r, "fmin", 1);
        add_binary<Fmax, T, T>(r, "fmax", 1);
    });
    for_types(ComplexTypes{}, [&r](auto t) {
        using T = decltype(t);
        register_for_every_type<T>(r);
        register_numeric<T>(r, 3);
        add_binary<TrueDivide, T, T>(r, "true_divide", 8);
        add_binary<Power, T, T>(r, "power", 48);
        add_binary<Fmin, T, T>(r, "fmin", 2);
        add_binary<Fmax, T, T>(r, "fmax", 2);
    });
}

}  // namespace ne3
