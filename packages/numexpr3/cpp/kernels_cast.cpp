// Conversions between all type codes, the registry itself, and the type-code tables.
#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "loops.hpp"
#include "vector_math.hpp"

namespace ne3 {

thread_local int kernel_error = 0;

namespace {

// Float to integer conversion without C++'s undefined behaviour for NaN and values out
// of range: those give what NumPy gives on x86-64 (the "integer indefinite" value of a
// 64-bit conversion, truncated to the target width).
template <class To, class From>
To float_to_int(From x) {
    constexpr From two63 = From(9223372036854775808.0);
    if constexpr (std::is_same_v<To, std::uint64_t>) {
        if (x >= 0 && x < 2 * two63) return static_cast<To>(x);
        if (x >= -two63 && x < 0) return static_cast<To>(static_cast<std::int64_t>(x));
        return To(1) << 63;
    } else {
        if (x >= -two63 && x < two63) return static_cast<To>(static_cast<std::int64_t>(x));
        return static_cast<To>(std::numeric_limits<std::int64_t>::min());
    }
}

template <class To, class From>
To convert(From x) {
    if constexpr (std::is_same_v<To, From>) {
        return x;
    } else if constexpr (std::is_same_v<To, bool>) {
        return truthy(x);
    } else if constexpr (is_complex_v<From>) {
        if constexpr (is_complex_v<To>) {
            using R = typename To::value_type;
            return To(static_cast<R>(x.real()), static_cast<R>(x.imag()));
        } else {
            return convert<To>(x.real());  // NumPy drops the imaginary part (ComplexWarning)
        }
    } else if constexpr (is_complex_v<To>) {
        return To(convert<typename To::value_type>(x), 0);
    } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
        return float_to_int<To>(x);
    } else {
        return static_cast<To>(x);
    }
}

template <class To, class From>
NE3_CLONES void cast_loop(std::ptrdiff_t n, char* const* args, const bool* scalar) {
    To* d = reinterpret_cast<To*>(args[0]);
    const From* a = reinterpret_cast<const From*>(args[1]);
    if (scalar[1]) {
        const To v = convert<To>(a[0]);
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = v;
    } else {
        for (std::ptrdiff_t i = 0; i < n; ++i) d[i] = convert<To>(a[i]);
    }
}

using CastTable = std::array<std::array<Kernel, kNumTypes>, kNumTypes>;

CastTable make_cast_table() {
    CastTable table{};
    for (int from = 0; from < kNumTypes; ++from) {
        for (int to = 0; to < kNumTypes; ++to) {
            table[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)] =
                visit_type(static_cast<TypeCode>(from), [to](auto f) {
                    using From = decltype(f);
                    return visit_type(static_cast<TypeCode>(to), [](auto t) -> Kernel {
                        using To = decltype(t);
                        return &cast_loop<To, From>;
                    });
                });
        }
    }
    return table;
}

constexpr std::array<const char*, kNumTypes> kTypeNames = {"b1", "i1", "i2", "i4", "i8", "u1", "u2",
                                                           "u4", "u8", "f4", "f8", "c8", "c16"};

}  // namespace

Kernel cast_kernel(TypeCode from, TypeCode to) {
    static const CastTable table = make_cast_table();
    return table[static_cast<std::size_t>(from)][static_cast<std::size_t>(to)];
}

void register_casts(Registry& r) {
    for (int from = 0; from < kNumTypes; ++from) {
        for (int to = 0; to < kNumTypes; ++to) {
            const auto f = static_cast<TypeCode>(from), t = static_cast<TypeCode>(to);
            r["cast"].push_back({{f}, t, cast_kernel(f, t), 1});
        }
    }
}

namespace {

struct BuiltRegistry {
    Registry kernels;
    std::string vector_math;
};

const BuiltRegistry& built_registry() {
    static const BuiltRegistry r = [] {
        BuiltRegistry built;
        register_arithmetic(built.kernels);
        register_math(built.kernels);
        register_casts(built.kernels);
        built.vector_math = register_vector_math(built.kernels);
        return built;
    }();
    return r;
}

}  // namespace

const Registry& registry() { return built_registry().kernels; }

const std::string& vector_math_backend() { return built_registry().vector_math; }

const KernelInfo* find_kernel(const std::string& op, const std::vector<TypeCode>& inputs) {
    const auto& r = registry();
    const auto it = r.find(op);
    if (it == r.end()) return nullptr;
    for (const auto& k : it->second) {
        if (k.inputs == inputs) return &k;
    }
    return nullptr;
}

std::size_t item_size(TypeCode t) {
    return visit_type(t, [](auto v) { return sizeof(v); });
}

const char* type_name(TypeCode t) { return kTypeNames[static_cast<std::size_t>(t)]; }

TypeCode parse_type(const std::string& s) {
    for (std::size_t i = 0; i < kTypeNames.size(); ++i) {
        if (s == kTypeNames[i]) return static_cast<TypeCode>(i);
    }
    throw std::invalid_argument("unknown type code '" + s + "'");
}

}  // namespace ne3
