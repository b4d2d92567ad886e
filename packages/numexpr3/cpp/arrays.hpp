// NumPy arrays as the VM sees them: type codes, views, broadcasting, new results. Works
// on raw PyObject pointers so that both the pybind11 methods of Program and the
// Dispatcher's call path (which never enters pybind11's argument machinery) use it.
#pragma once

#include <Python.h>

#include <cstddef>
#include <vector>

#include "program.hpp"

namespace ne3 {

// Builds the dtype table; called once at import, with the GIL.
void init_arrays();

bool is_ndarray(PyObject* obj);        // numpy.ndarray or a subclass
bool is_exact_ndarray(PyObject* obj);  // numpy.ndarray itself

// The VM type of an ndarray's dtype, or -1 when the VM has none for it (float16, objects,
// a non-native byte order, ...).
int vm_type_of(PyObject* array);

int ndim_of(PyObject* array);

// numpy.asarray(value, <the dtype of type>): a new reference, or nullptr with an error set.
PyObject* convert(PyObject* value, TypeCode type);

// Fills `view` from an ndarray whose VM type is `type`.
void view_of(PyObject* array, TypeCode type, ArrayView& view);

// The broadcast of the arrays' shapes, as NumPy's (std::invalid_argument when they do not
// broadcast).
void broadcast_shapes(PyObject* const* arrays, std::size_t n, std::vector<std::ptrdiff_t>& shape);

// A new array of `type` and `shape` in C or Fortran order, described by `view`; nullptr
// with a Python error set when NumPy cannot allocate it.
PyObject* new_array(TypeCode type, const std::vector<std::ptrdiff_t>& shape, bool fortran, ArrayView& view);

// Views reused by the calling thread from call to call, so that binding allocates nothing
// (one thread-local object: each costs a lookup per call).
struct Bindings {
    std::vector<ArrayView> in, out;
    std::vector<std::ptrdiff_t> shape;
};
Bindings& thread_bindings();

// Runs over views already bound, releasing the GIL when the work is worth it.
void run_bound(const Program& program, const std::vector<ArrayView>& in, const std::vector<ArrayView>& out,
               const std::vector<std::ptrdiff_t>& shape, int nthreads);

// Element-wise single-output program into a new array whose shape is the broadcast of
// `shape_arrays`; memory order 'C', 'F', or for 'K'/'A' Fortran when every full-rank input
// is. Inputs must be ndarrays of the program's input types (the program checks). Returns a
// new reference, or nullptr with a Python error set; may throw C++ exceptions.
PyObject* evaluate_new(const Program& program, PyObject* const* inputs, std::size_t num_inputs,
                       PyObject* const* shape_arrays, std::size_t num_shape_arrays, char order);

// Element-wise single-output program into `out`, whose shape must be the broadcast of
// `shape_arrays` and `out` and whose dtype the program's output type. Returns false, having
// done nothing, when `out` is not such an array (the caller then reports why).
bool evaluate_into(const Program& program, PyObject* const* inputs, std::size_t num_inputs,
                   PyObject* const* shape_arrays, std::size_t num_shape_arrays, PyObject* out);

// Reduction program into a new array without the reduced axes; same conventions.
PyObject* reduce_new(const Program& program, PyObject* const* inputs, std::size_t num_inputs,
                     PyObject* const* shape_arrays, std::size_t num_shape_arrays);

}  // namespace ne3
