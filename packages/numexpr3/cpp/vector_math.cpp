// Vector transcendental functions: glibc's libmvec, found at run time with dlopen and used
// at the widest width the CPU supports (SSE2, AVX2 or AVX-512). Nothing here needs a
// compiler flag for the whole module: only the loops that call a wide variant are
// compiled for that instruction set (target attributes), so the wheel runs on any
// x86-64, and systems without libmvec (musl, macOS, Windows) keep the scalar kernels.
#include "vector_math.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include "loops.hpp"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#define NE3_HAVE_LIBMVEC 1
#include <dlfcn.h>
// The generic helpers below pass wide vectors by value, which GCC flags as an ABI change;
// they are always inlined into the per-ISA kernels, so no call crosses that boundary.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace ne3 {

#ifndef NE3_HAVE_LIBMVEC

std::string register_vector_math(Registry&) { return "scalar"; }

#else

namespace {

// The functions libmvec may provide: our op name and glibc's.
struct Function {
    const char* op;
    const char* libm;
    int arity;
};
constexpr Function kFunctions[] = {
    {"sin", "sin", 1},       {"cos", "cos", 1},       {"tan", "tan", 1},       {"exp", "exp", 1},
    {"exp2", "exp2", 1},     {"expm1", "expm1", 1},   {"log", "log", 1},       {"log2", "log2", 1},
    {"log10", "log10", 1},   {"log1p", "log1p", 1},   {"arcsin", "asin", 1},   {"arccos", "acos", 1},
    {"arctan", "atan", 1},   {"sinh", "sinh", 1},     {"cosh", "cosh", 1},     {"tanh", "tanh", 1},
    {"arcsinh", "asinh", 1}, {"arccosh", "acosh", 1}, {"arctanh", "atanh", 1}, {"cbrt", "cbrt", 1},
    {"erf", "erf", 1},       {"erfc", "erfc", 1},     {"power", "pow", 2},     {"arctan2", "atan2", 2},
    {"hypot", "hypot", 2},
};
constexpr int kNumFunctions = sizeof(kFunctions) / sizeof(kFunctions[0]);

// The libmvec entry points found, per function: [isa][function][float, double].
enum Isa { kSse2, kAvx2, kAvx512, kNumIsa };
void* entry[kNumIsa][kNumFunctions][2] = {};

// n elements through a vector function of W lanes; the tail goes through one padded call.
template <class T, class V, class Call>
inline __attribute__((always_inline)) void vector_loop(std::ptrdiff_t n, T* d, Call call) {
    constexpr std::ptrdiff_t W = sizeof(V) / sizeof(T);
    std::ptrdiff_t i = 0;
    for (; i + W <= n; i += W) {
        const V y = call(i, W);
        std::memcpy(d + i, &y, sizeof(V));
    }
    if (i < n) {
        const V y = call(i, n - i);
        std::memcpy(d + i, &y, static_cast<std::size_t>(n - i) * sizeof(T));
    }
}

// Loads `count` lanes from x + i (or broadcasts x[0] when scalar), zero-filling the rest.
template <class T, class V>
inline __attribute__((always_inline)) V load(const T* x, bool scalar, std::ptrdiff_t i, std::ptrdiff_t count) {
    constexpr std::ptrdiff_t W = sizeof(V) / sizeof(T);
    V v{};
    if (scalar) {
        for (std::ptrdiff_t k = 0; k < W; ++k) v[k] = x[0];
    } else if (count == W) {
        std::memcpy(&v, x + i, sizeof(V));
    } else {
        std::memcpy(&v, x + i, static_cast<std::size_t>(count) * sizeof(T));
    }
    return v;
}

#define NE3_VECTOR_KERNELS(ISA, TARGET, BYTES)                                                                 \
    namespace ISA##_kernels {                                                                                  \
        typedef double vd __attribute__((vector_size(BYTES)));                                                 \
        typedef float vf __attribute__((vector_size(BYTES)));                                                  \
        template <class T>                                                                                     \
        using V = std::conditional_t<std::is_same_v<T, float>, vf, vd>;                                        \
        template <class T, int F>                                                                              \
        __attribute__((target(TARGET))) void unary(std::ptrdiff_t n, char* const* args, const bool* scalar) {  \
            using Fn = V<T> (*)(V<T>);                                                                         \
            const Fn fn = reinterpret_cast<Fn>(entry[ISA][F][std::is_same_v<T, double>]);                      \
            T* d = reinterpret_cast<T*>(args[0]);                                                              \
            const T* a = reinterpret_cast<const T*>(args[1]);                                                  \
            vector_loop<T, V<T>>(n, d, [&](std::ptrdiff_t i, std::ptrdiff_t count) {                           \
                return fn(load<T, V<T>>(a, scalar[1], i, count));                                              \
            });                                                                                                \
        }                                                                                                      \
        template <class T, int F>                                                                              \
        __attribute__((target(TARGET))) void binary(std::ptrdiff_t n, char* const* args, const bool* scalar) { \
            using Fn = V<T> (*)(V<T>, V<T>);                                                                   \
            const Fn fn = reinterpret_cast<Fn>(entry[ISA][F][std::is_same_v<T, double>]);                      \
            T* d = reinterpret_cast<T*>(args[0]);                                                              \
            const T* a = reinterpret_cast<const T*>(args[1]);                                                  \
            const T* b = reinterpret_cast<const T*>(args[2]);                                                  \
            vector_loop<T, V<T>>(n, d, [&](std::ptrdiff_t i, std::ptrdiff_t count) {                           \
                return fn(load<T, V<T>>(a, scalar[1], i, count), load<T, V<T>>(b, scalar[2], i, count));       \
            });                                                                                                \
        }                                                                                                      \
    }

NE3_VECTOR_KERNELS(kSse2, "sse2", 16)
NE3_VECTOR_KERNELS(kAvx2, "avx2,fma", 32)
NE3_VECTOR_KERNELS(kAvx512, "avx512f", 64)
#undef NE3_VECTOR_KERNELS

template <int F, class T>
Kernel kernel_for(Isa isa) {
    const bool unary = kFunctions[F].arity == 1;
    switch (isa) {
        case kSse2:
            return unary ? &kSse2_kernels::unary<T, F> : &kSse2_kernels::binary<T, F>;
        case kAvx2:
            return unary ? &kAvx2_kernels::unary<T, F> : &kAvx2_kernels::binary<T, F>;
        default:
            return unary ? &kAvx512_kernels::unary<T, F> : &kAvx512_kernels::binary<T, F>;
    }
}

template <int... F>
void install(Registry& r, Isa isa, std::integer_sequence<int, F...>) {
    auto one = [&](auto f_constant) {
        constexpr int f = decltype(f_constant)::value;
        for (auto& k : r[kFunctions[f].op]) {
            const bool is_f4 = k.output == TypeCode::f4 && k.inputs[0] == TypeCode::f4;
            const bool is_f8 = k.output == TypeCode::f8 && k.inputs[0] == TypeCode::f8;
            if (is_f4 && entry[isa][f][0] != nullptr) k.fn = kernel_for<f, float>(isa);
            if (is_f8 && entry[isa][f][1] != nullptr) k.fn = kernel_for<f, double>(isa);
        }
    };
    (one(std::integral_constant<int, F>{}), ...);
}

// The widest instruction set the CPU has, capped by NUMEXPR3_SIMD (scalar, sse2, avx2,
// avx512), which exists for testing and for measuring one path against another.
int choose_isa() {
    __builtin_cpu_init();
    int best = kSse2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = kAvx2;
    if (__builtin_cpu_supports("avx512f")) best = kAvx512;
    const char* cap = std::getenv("NUMEXPR3_SIMD");
    if (cap == nullptr || *cap == '\0') return best;
    const std::string want = cap;
    if (want == "scalar") return -1;
    if (want == "sse2") return kSse2;
    if (want == "avx2") return std::min(best, static_cast<int>(kAvx2));
    return best;
}

}  // namespace

std::string register_vector_math(Registry& r) {
    static const char* const kIsaNames[kNumIsa] = {"sse2", "avx2", "avx512"};
    const int isa = choose_isa();
    if (isa < 0) return "scalar";
    void* lib = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL);  // kept open for the process
    if (lib == nullptr) return "scalar";
    // glibc's vector ABI names: _ZGV<isa>N<lanes><v per argument>_<name>[f].
    const char isa_letter[kNumIsa] = {'b', 'd', 'e'};
    const int bytes[kNumIsa] = {16, 32, 64};
    bool any = false;
    for (int f = 0; f < kNumFunctions; ++f) {
        for (int is_double = 0; is_double < 2; ++is_double) {
            const int lanes = bytes[isa] / (is_double ? 8 : 4);
            const std::string name = std::string("_ZGV") + isa_letter[isa] + "N" + std::to_string(lanes) +
                                     (kFunctions[f].arity == 1 ? "v" : "vv") + "_" + kFunctions[f].libm +
                                     (is_double ? "" : "f");
            entry[isa][f][is_double] = dlsym(lib, name.c_str());
            any = any || entry[isa][f][is_double] != nullptr;
        }
    }
    if (!any) return "scalar";
    install(r, static_cast<Isa>(isa), std::make_integer_sequence<int, kNumFunctions>{});
    return std::string("libmvec-") + kIsaNames[isa];
}

#endif

}  // namespace ne3
