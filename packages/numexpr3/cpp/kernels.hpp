// The kernel registry: every (operation, input types) the VM can run.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "types.hpp"

namespace ne3 {

// A kernel computes n elements of args[0] from args[1..]. The destination is always
// contiguous; a source is contiguous, or a single value repeated when scalar[i] is set
// (stride 0). Destination and sources may be the same buffer (in-place temporaries).
using Kernel = void (*)(std::ptrdiff_t n, char* const* args, const bool* scalar);

struct KernelInfo {
    std::vector<TypeCode> inputs;
    TypeCode output;
    Kernel fn;
    int weight;  // rough cost per element, in units of one addition
};

using Registry = std::map<std::string, std::vector<KernelInfo>>;

const Registry& registry();
// nullptr when there is no kernel for these input types.
const KernelInfo* find_kernel(const std::string& op, const std::vector<TypeCode>& inputs);
Kernel cast_kernel(TypeCode from, TypeCode to);

// Set by a kernel on the running thread when an element is invalid in a way NumPy
// raises for (integer to a negative integer power); read and cleared by the VM.
extern thread_local int kernel_error;
constexpr int kErrNegativeIntPower = 1;

void register_arithmetic(Registry& r);
void register_math(Registry& r);
void register_casts(Registry& r);

}  // namespace ne3
