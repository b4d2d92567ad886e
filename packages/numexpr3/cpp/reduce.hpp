// Reductions: sum prod min max any all, per type.
#pragma once

#include <cstddef>
#include <string>

#include "types.hpp"

namespace ne3 {

struct Reducer {
    // *acc = op(*acc, x[0..n)); x is contiguous.
    void (*block)(std::ptrdiff_t n, const char* x, char* acc);
    // out[i * out_stride] = op(out[i * out_stride], x[i]) for i < n (stride in bytes).
    void (*elementwise)(std::ptrdiff_t n, const char* x, char* out, std::ptrdiff_t out_stride);
    // Fills n contiguous elements with the identity (min/max: the largest/smallest value).
    void (*init)(char* out, std::ptrdiff_t n);
    // out[i] = op(out[i], partial[i]) over n contiguous elements.
    void (*combine)(std::ptrdiff_t n, const char* partial, char* out);
    int weight;
};

// Throws std::invalid_argument for an unknown op or a type it does not reduce.
Reducer find_reducer(const std::string& op, TypeCode type);

}  // namespace ne3
