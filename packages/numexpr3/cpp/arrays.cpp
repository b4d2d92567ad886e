#include "arrays.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <string>

#include "recycle.hpp"

namespace py = pybind11;

namespace ne3 {
namespace {

using py::detail::npy_api;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr char kForeign = '<';  // the byte order mark of a non-native dtype
#else
constexpr char kForeign = '>';
#endif

// NumPy's built-in numeric type numbers run from 0 (bool) to 16 (clongdouble).
constexpr int kNumBuiltins = 17;

struct Dtypes {
    std::array<int, kNumBuiltins> vm_type{};   // by NumPy type number; -1: none
    std::array<PyObject*, kNumTypes> descr{};  // by VM type; strong references, never freed
};
Dtypes dtypes;

}  // namespace

void init_arrays() {
    // A dtype is the VM's when its string without the byte order is a VM type code (int64
    // has two type numbers, long and long long: both map to i8).
    for (int num = 0; num < kNumBuiltins; ++num) {
        const auto code = py::str(py::dtype(num).attr("str")).cast<std::string>().substr(1);
        int type = -1;
        for (int t = 0; t < kNumTypes; ++t) {
            if (code == type_name(static_cast<TypeCode>(t))) type = t;
        }
        dtypes.vm_type[static_cast<std::size_t>(num)] = type;
    }
    for (int t = 0; t < kNumTypes; ++t) {
        dtypes.descr[static_cast<std::size_t>(t)] = py::dtype(type_name(static_cast<TypeCode>(t))).release().ptr();
    }
}

bool is_ndarray(PyObject* obj) { return npy_api::get().PyArray_Check_(obj); }

bool is_exact_ndarray(PyObject* obj) { return Py_TYPE(obj) == npy_api::get().PyArray_Type_; }

int vm_type_of(PyObject* array) {
    const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(array)->descr);
    if (descr->type_num < 0 || descr->type_num >= kNumBuiltins || descr->byteorder == kForeign) return -1;
    return dtypes.vm_type[static_cast<std::size_t>(descr->type_num)];
}

int ndim_of(PyObject* array) { return py::detail::array_proxy(array)->nd; }

PyObject* convert(PyObject* value, TypeCode type) {
    PyObject* descr = dtypes.descr[static_cast<std::size_t>(type)];
    Py_INCREF(descr);  // FromAny steals it
    return npy_api::get().PyArray_FromAny_(value, descr, 0, 0, 0, nullptr);
}

void view_of(PyObject* array, TypeCode type, ArrayView& view) {
    const auto* a = py::detail::array_proxy(array);
    const auto ndim = static_cast<std::size_t>(a->nd);
    view.data = a->data;
    view.type = type;
    view.shape.assign(a->dimensions, a->dimensions + ndim);
    view.strides.assign(a->strides, a->strides + ndim);
}

void broadcast_shapes(PyObject* const* arrays, std::size_t n, std::vector<std::ptrdiff_t>& shape) {
    shape.clear();
    for (std::size_t i = 0; i < n; ++i) {
        const auto* a = py::detail::array_proxy(arrays[i]);
        const auto ndim = static_cast<std::size_t>(a->nd);
        if (ndim > shape.size()) shape.insert(shape.begin(), ndim - shape.size(), 1);
        for (std::size_t k = 0; k < ndim; ++k) {
            const std::ptrdiff_t len = a->dimensions[k];
            std::ptrdiff_t& d = shape[shape.size() - ndim + k];
            if (d == 1) {
                d = len;
            } else if (len != 1 && len != d) {
                throw std::invalid_argument("operands could not be broadcast together");
            }
        }
    }
}

PyObject* new_array(TypeCode type, const std::vector<std::ptrdiff_t>& shape, bool fortran, ArrayView& view) {
    const auto& api = npy_api::get();
    PyObject* descr = dtypes.descr[static_cast<std::size_t>(type)];
    std::size_t nbytes = item_size(type);  // saturated: a size that overflows is NumPy's to report
    for (auto n : shape) {
        const auto len = static_cast<std::size_t>(n);
        nbytes = len != 0 && nbytes > std::numeric_limits<std::size_t>::max() / len
                     ? std::numeric_limits<std::size_t>::max()
                     : nbytes * len;
    }
    const RecyclingScope recycling(nbytes);
    Py_INCREF(descr);  // NewFromDescr steals it
    PyObject* result =
        api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(shape.size()), shape.data(), nullptr,
                                  nullptr, fortran ? npy_api::NPY_ARRAY_F_CONTIGUOUS_ : 0, nullptr);
    if (result != nullptr) view_of(result, type, view);
    return result;
}

// Below this much work (elements x program weight) a run is shorter than handing the GIL
// over and back.
constexpr std::ptrdiff_t kKeepGilWork = 16384;

void run_bound(const Program& program, const std::vector<ArrayView>& in, const std::vector<ArrayView>& out,
               const std::vector<std::ptrdiff_t>& shape, int nthreads) {
    std::ptrdiff_t size = 1;
    for (auto n : shape) size *= n;
    if (size * program.weight() < kKeepGilWork) {
        program.run(in, out, shape, nthreads);
    } else {
        py::gil_scoped_release release;
        program.run(in, out, shape, nthreads);
    }
}

Bindings& thread_bindings() {
    thread_local Bindings bindings;
    return bindings;
}

namespace {

// Views of the inputs; their types must be VM types (the program checks they are its own).
void bind_inputs(PyObject* const* inputs, std::size_t n, std::vector<ArrayView>& views) {
    views.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int type = vm_type_of(inputs[i]);
        if (type < 0) throw std::domain_error("input " + std::to_string(i) + ": not a dtype of the VM");
        view_of(inputs[i], static_cast<TypeCode>(type), views[i]);
    }
}

// 'K'/'A': Fortran order when every full-rank input is Fortran-ordered (and not also C).
bool fortran_result(char order, PyObject* const* inputs, std::size_t n, std::size_t ndim) {
    if (order == 'F') return true;
    if ((order != 'K' && order != 'A') || ndim < 2) return false;
    bool any_full = false;
    for (std::size_t i = 0; i < n; ++i) {
        const auto* a = py::detail::array_proxy(inputs[i]);
        if (static_cast<std::size_t>(a->nd) != ndim) continue;
        any_full = true;
        const bool f = (a->flags & npy_api::NPY_ARRAY_F_CONTIGUOUS_) != 0;
        const bool c = (a->flags & npy_api::NPY_ARRAY_C_CONTIGUOUS_) != 0;
        if (!f || c) return false;
    }
    return any_full;
}

}  // namespace

PyObject* evaluate_new(const Program& program, PyObject* const* inputs, std::size_t num_inputs,
                       PyObject* const* shape_arrays, std::size_t num_shape_arrays, char order) {
    if (program.is_reduction() || program.num_outputs() != 1) {
        throw std::invalid_argument("evaluate() runs element-wise programs with one output");
    }
    auto& [in, out, shape] = thread_bindings();
    bind_inputs(inputs, num_inputs, in);
    broadcast_shapes(shape_arrays, num_shape_arrays, shape);
    out.resize(1);
    PyObject* result =
        new_array(program.output_type(0), shape, fortran_result(order, inputs, num_inputs, shape.size()), out[0]);
    if (result == nullptr) return nullptr;
    try {
        run_bound(program, in, out, shape, 0);
    } catch (...) {
        Py_DECREF(result);
        throw;
    }
    return result;
}

bool evaluate_into(const Program& program, PyObject* const* inputs, std::size_t num_inputs,
                   PyObject* const* shape_arrays, std::size_t num_shape_arrays, PyObject* out) {
    if (program.is_reduction() || program.num_outputs() != 1) return false;
    if (!is_ndarray(out) || vm_type_of(out) != static_cast<int>(program.output_type(0))) return false;
    const auto* o = py::detail::array_proxy(out);
    if ((o->flags & npy_api::NPY_ARRAY_WRITEABLE_) == 0) return false;
    auto& [in, outputs, shape] = thread_bindings();
    broadcast_shapes(shape_arrays, num_shape_arrays, shape);
    // The result's shape is the broadcast of the inputs' and out's shapes, and must be out's.
    const auto out_ndim = static_cast<std::size_t>(o->nd);
    if (out_ndim < shape.size()) return false;
    for (std::size_t k = 0; k < shape.size(); ++k) {
        const std::ptrdiff_t n = shape[k];
        if (n != 1 && n != o->dimensions[out_ndim - shape.size() + k]) return false;
    }
    bind_inputs(inputs, num_inputs, in);
    outputs.resize(1);
    view_of(out, program.output_type(0), outputs[0]);
    shape = outputs[0].shape;
    run_bound(program, in, outputs, shape, 0);
    return true;
}

PyObject* reduce_new(const Program& program, PyObject* const* inputs, std::size_t num_inputs,
                     PyObject* const* shape_arrays, std::size_t num_shape_arrays) {
    if (!program.is_reduction()) throw std::invalid_argument("reduce() runs reduction programs");
    auto& [in, out, shape] = thread_bindings();
    bind_inputs(inputs, num_inputs, in);
    broadcast_shapes(shape_arrays, num_shape_arrays, shape);
    const auto& [op, axes] = program.reduction();
    std::vector<char> reduced(shape.size(), 0);
    for (int axis : axes) {
        if (axis < 0 || static_cast<std::size_t>(axis) >= shape.size()) {
            throw std::invalid_argument("reduction axis " + std::to_string(axis) + " out of range");
        }
        reduced[static_cast<std::size_t>(axis)] = 1;
        if (shape[static_cast<std::size_t>(axis)] == 0 && (op == "min" || op == "max")) {
            throw std::invalid_argument("zero-size array to reduction operation " +
                                        std::string(op == "min" ? "minimum" : "maximum") + " which has no identity");
        }
    }
    // The result without the reduced axes is the same memory as with them kept as 1s,
    // which is how the program sees it.
    std::vector<std::ptrdiff_t> final_shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (!reduced[d]) final_shape.push_back(shape[d]);
    }
    out.resize(1);
    PyObject* result = new_array(program.output_type(0), final_shape, false, out[0]);
    if (result == nullptr) return nullptr;
    ArrayView& view = out[0];
    view.shape.resize(shape.size());
    view.strides.resize(shape.size());
    std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(item_size(view.type));
    for (std::size_t d = shape.size(); d-- > 0;) {
        view.shape[d] = reduced[d] ? 1 : shape[d];
        view.strides[d] = stride;
        stride *= std::max<std::ptrdiff_t>(view.shape[d], 1);
    }
    try {
        std::ptrdiff_t size = 1;
        for (auto n : final_shape) size *= n;
        if (size > 0) run_bound(program, in, out, shape, 0);
    } catch (...) {
        Py_DECREF(result);
        throw;
    }
    return result;
}

}  // namespace ne3
