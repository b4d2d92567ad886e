// Large results recycled: a NumPy memory handler (NEP 49) for the arrays the VM allocates.
//
// The first write to a fresh output costs a page fault per page, in which the kernel zeroes
// it: for `a + b` at 1e7 float64 that is a third of the evaluation, although the pool's
// threads already take those faults in parallel, each in the blocks it writes. glibc keeps
// freed blocks below 32 MiB for the next allocation but unmaps larger ones, so every
// evaluation in a loop faults its output in anew. This handler keeps the last few large
// outputs freed, their pages still mapped, and hands one back to the next allocation of
// the same size: a loop of allocating evaluations then runs at the speed of `out=`.
#pragma once

#include <Python.h>

#include <cstddef>

namespace ne3 {

// From this size an output is recycled (NumPy's own threshold for a large allocation, from
// which it asks for huge pages).
constexpr std::size_t kMinRecycledBytes = std::size_t{4} << 20;
// At most this many freed outputs, and this many bytes in all, are kept: the pages stay
// resident while kept, so the bound is what numexpr3 may hold on to unseen (two float64
// outputs of 1e7 elements, or one complex128 one); a loop needs one, two alternating ones.
constexpr std::size_t kMaxRecycled = 2;
constexpr std::size_t kMaxRecycledBytes = std::size_t{256} << 20;

// Looks up NumPy's handler API and builds the handler; at import, with the GIL. Without
// that API (it is there from NumPy 1.22) nothing is recycled.
void init_recycling();

// While alive, NumPy allocates array data of `nbytes` through the recycling handler, when
// `nbytes` is worth recycling and the current handler is NumPy's default (a handler that
// someone else installed is left alone). Needs the GIL; keeps the Python error indicator.
class RecyclingScope {
   public:
    explicit RecyclingScope(std::size_t nbytes);
    ~RecyclingScope();
    RecyclingScope(const RecyclingScope&) = delete;
    RecyclingScope& operator=(const RecyclingScope&) = delete;

   private:
    PyObject* previous_ = nullptr;  // the handler to restore, owned
};

struct RecycledStats {
    std::size_t count, bytes;  // freed outputs kept now
    std::size_t reused;        // allocations served from them since import
};
RecycledStats recycled_stats();

// Gives every kept output back to the system; returns how many bytes that was.
std::size_t release_recycled();

}  // namespace ne3
