// Byte-string (NumPy 'S') comparisons and contains(), threaded on the VM's pool.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ne3 {

// A strided, n-dimensional array of fixed-width byte strings.
struct StringView {
    const char* data;
    std::ptrdiff_t itemsize;
    std::vector<std::ptrdiff_t> strides;  // bytes, one per dimension of the shape
};

// out[i] = a[i] OP b[i] over `shape` (C order into the contiguous bool array `out`), with
// NumPy's semantics: trailing NULs are padding, so values compare as their bytes without
// them, and embedded NULs count. OP: equal, not_equal, less, less_equal, greater,
// greater_equal, or contains (b[i] occurs in a[i]; the empty string occurs in any).
// std::invalid_argument for another OP. Call without the GIL.
void compare_strings(const std::string& op, const StringView& a, const StringView& b,
                     const std::vector<std::ptrdiff_t>& shape, bool* out, int nthreads);

}  // namespace ne3
