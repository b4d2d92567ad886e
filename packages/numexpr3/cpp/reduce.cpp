#include "reduce.hpp"

#include <limits>
#include <stdexcept>

#include "loops.hpp"

namespace ne3 {
namespace {

struct SumOp {
    template <class T>
    static T identity() {
        return T(0);
    }
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_int_v<T>) {
            return wrap<T>(static_cast<Wide<T>>(a) + static_cast<Wide<T>>(b));
        } else {
            return a + b;
        }
    }
};

struct ProdOp {
    template <class T>
    static T identity() {
        return T(1);
    }
    template <class T>
    static T f(T a, T b) {
        if constexpr (is_int_v<T>) {
            return wrap<T>(static_cast<Wide<T>>(a) * static_cast<Wide<T>>(b));
        } else if constexpr (is_complex_v<T>) {
            return T(a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real());
        } else {
            return a * b;
        }
    }
};

template <class T>
T largest() {
    if constexpr (is_complex_v<T>) {
        using R = typename T::value_type;
        return T(std::numeric_limits<R>::infinity(), std::numeric_limits<R>::infinity());
    } else if constexpr (std::is_floating_point_v<T>) {
        return std::numeric_limits<T>::infinity();
    } else {
        return std::numeric_limits<T>::max();
    }
}

template <class T>
T smallest() {
    if constexpr (is_complex_v<T>) {
        using R = typename T::value_type;
        return T(-std::numeric_limits<R>::infinity(), -std::numeric_limits<R>::infinity());
    } else if constexpr (std::is_floating_point_v<T>) {
        return -std::numeric_limits<T>::infinity();
    } else {
        return std::numeric_limits<T>::lowest();
    }
}

// NaN propagates: once the accumulator is NaN it stays NaN.
struct MinOp : Minimum {
    template <class T>
    static T identity() {
        return largest<T>();
    }
};

struct MaxOp : Maximum {
    template <class T>
    static T identity() {
        return smallest<T>();
    }
};

struct AnyOp {
    template <class T>
    static T identity() {
        return false;
    }
    template <class T>
    static T f(T a, T b) {
        return a || b;
    }
};

struct AllOp {
    template <class T>
    static T identity() {
        return true;
    }
    template <class T>
    static T f(T a, T b) {
        return a && b;
    }
};

// Eight independent partial results per block: the additions vectorise without
// reassociation flags, and float sums carry a smaller rounding error than one chain.
template <class T, class Op>
NE3_CLONES void block_loop(std::ptrdiff_t n, const char* x_bytes, char* acc_bytes) {
    const T* x = reinterpret_cast<const T*>(x_bytes);
    T* acc = reinterpret_cast<T*>(acc_bytes);
    constexpr int kLanes = 8;
    T lanes[kLanes];
    for (auto& lane : lanes) lane = Op::template identity<T>();
    std::ptrdiff_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        for (int k = 0; k < kLanes; ++k) lanes[k] = Op::f(lanes[k], x[i + k]);
    }
    for (int k = 0; i < n; ++i, ++k) lanes[k] = Op::f(lanes[k], x[i]);
    for (int width = kLanes / 2; width > 0; width /= 2) {
        for (int k = 0; k < width; ++k) lanes[k] = Op::f(lanes[k], lanes[k + width]);
    }
    *acc = Op::f(*acc, lanes[0]);
}

template <class T, class Op>
NE3_CLONES void elementwise_loop(std::ptrdiff_t n, const char* x_bytes, char* out, std::ptrdiff_t out_stride) {
    const T* x = reinterpret_cast<const T*>(x_bytes);
    if (out_stride == static_cast<std::ptrdiff_t>(sizeof(T))) {
        T* o = reinterpret_cast<T*>(out);
        for (std::ptrdiff_t i = 0; i < n; ++i) o[i] = Op::f(o[i], x[i]);
    } else {
        for (std::ptrdiff_t i = 0; i < n; ++i) {
            T* o = reinterpret_cast<T*>(out + i * out_stride);
            *o = Op::f(*o, x[i]);
        }
    }
}

template <class T, class Op>
void init_loop(char* out, std::ptrdiff_t n) {
    T* o = reinterpret_cast<T*>(out);
    for (std::ptrdiff_t i = 0; i < n; ++i) o[i] = Op::template identity<T>();
}

template <class T, class Op>
void combine_loop(std::ptrdiff_t n, const char* partial, char* out) {
    elementwise_loop<T, Op>(n, partial, out, sizeof(T));
}

template <class T, class Op>
Reducer make_reducer(int weight) {
    return {&block_loop<T, Op>, &elementwise_loop<T, Op>, &init_loop<T, Op>, &combine_loop<T, Op>, weight};
}

template <class Op, bool kWithBool>
bool make_for_type(TypeCode type, Reducer* out) {
    return visit_type(type, [&](auto v) {
        using T = decltype(v);
        if constexpr (std::is_same_v<T, bool>) {
            if constexpr (kWithBool) *out = make_reducer<T, Op>(1);
            return kWithBool;
        } else {
            *out = make_reducer<T, Op>(is_complex_v<T> ? 2 : 1);
            return true;
        }
    });
}

bool lookup(const std::string& op, TypeCode type, Reducer* out) {
    if (op == "sum") return make_for_type<SumOp, false>(type, out);
    if (op == "prod") return make_for_type<ProdOp, false>(type, out);
    if (op == "min") return make_for_type<MinOp, true>(type, out);
    if (op == "max") return make_for_type<MaxOp, true>(type, out);
    if (type != TypeCode::b1) return false;
    if (op == "any") {
        *out = make_reducer<bool, AnyOp>(1);
        return true;
    }
    if (op == "all") {
        *out = make_reducer<bool, AllOp>(1);
        return true;
    }
    return false;
}

}  // namespace

Reducer find_reducer(const std::string& op, TypeCode type) {
    Reducer r{};
    if (!lookup(op, type, &r)) {
        throw std::invalid_argument("no reduction '" + op + "' for type " + type_name(type) +
                                    " (sum/prod: numbers; min/max: any type; any/all: b1)");
    }
    return r;
}

}  // namespace ne3
