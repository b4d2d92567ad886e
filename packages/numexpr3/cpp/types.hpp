// Type codes of the VM and their C++ types.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace ne3 {

// The order is fixed: it indexes tables.
enum class TypeCode : std::uint8_t { b1, i1, i2, i4, i8, u1, u2, u4, u8, f4, f8, c8, c16 };
constexpr int kNumTypes = 13;

using c64 = std::complex<float>;
using c128 = std::complex<double>;

template <class T>
struct is_complex : std::false_type {};
template <class T>
struct is_complex<std::complex<T>> : std::true_type {};
template <class T>
constexpr bool is_complex_v = is_complex<T>::value;

template <class T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <class T>
constexpr TypeCode type_code_of();
template <>
constexpr TypeCode type_code_of<bool>() {
    return TypeCode::b1;
}
template <>
constexpr TypeCode type_code_of<std::int8_t>() {
    return TypeCode::i1;
}
template <>
constexpr TypeCode type_code_of<std::int16_t>() {
    return TypeCode::i2;
}
template <>
constexpr TypeCode type_code_of<std::int32_t>() {
    return TypeCode::i4;
}
template <>
constexpr TypeCode type_code_of<std::int64_t>() {
    return TypeCode::i8;
}
template <>
constexpr TypeCode type_code_of<std::uint8_t>() {
    return TypeCode::u1;
}
template <>
constexpr TypeCode type_code_of<std::uint16_t>() {
    return TypeCode::u2;
}
template <>
constexpr TypeCode type_code_of<std::uint32_t>() {
    return TypeCode::u4;
}
template <>
constexpr TypeCode type_code_of<std::uint64_t>() {
    return TypeCode::u8;
}
template <>
constexpr TypeCode type_code_of<float>() {
    return TypeCode::f4;
}
template <>
constexpr TypeCode type_code_of<double>() {
    return TypeCode::f8;
}
template <>
constexpr TypeCode type_code_of<c64>() {
    return TypeCode::c8;
}
template <>
constexpr TypeCode type_code_of<c128>() {
    return TypeCode::c16;
}

// Calls f(T{}) with the C++ type of a type code.
template <class F>
decltype(auto) visit_type(TypeCode t, F&& f) {
    switch (t) {
        case TypeCode::b1:
            return f(bool{});
        case TypeCode::i1:
            return f(std::int8_t{});
        case TypeCode::i2:
            return f(std::int16_t{});
        case TypeCode::i4:
            return f(std::int32_t{});
        case TypeCode::i8:
            return f(std::int64_t{});
        case TypeCode::u1:
            return f(std::uint8_t{});
        case TypeCode::u2:
            return f(std::uint16_t{});
        case TypeCode::u4:
            return f(std::uint32_t{});
        case TypeCode::u8:
            return f(std::uint64_t{});
        case TypeCode::f4:
            return f(float{});
        case TypeCode::f8:
            return f(double{});
        case TypeCode::c8:
            return f(c64{});
        case TypeCode::c16:
            break;
    }
    return f(c128{});
}

std::size_t item_size(TypeCode t);
const char* type_name(TypeCode t);
// Parses "b1", "i4", "c16", ...; throws std::invalid_argument.
TypeCode parse_type(const std::string& s);

}  // namespace ne3
