// Vector transcendental functions with run-time CPU dispatch.
#pragma once

#include <string>

#include "kernels.hpp"

namespace ne3 {

// Replaces the scalar float32/float64 kernels of the functions a vector library provides
// on this machine; returns what is used ("libmvec-avx512", ..., or "scalar").
std::string register_vector_math(Registry& r);

// What register_vector_math chose for the process-wide registry.
const std::string& vector_math_backend();

}  // namespace ne3
