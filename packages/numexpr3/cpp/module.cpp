// Python bindings of the VM.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <stdexcept>

#include "arrays.hpp"
#include "dispatch.hpp"
#include "kernels.hpp"
#include "pool.hpp"
#include "program.hpp"
#include "recycle.hpp"
#include "strings.hpp"
#include "vector_math.hpp"

namespace py = pybind11;
using namespace ne3;

namespace {

RegisterKind parse_kind(const std::string& kind) {
    if (kind == "in") return RegisterKind::input;
    if (kind == "out") return RegisterKind::output;
    if (kind == "const") return RegisterKind::constant;
    if (kind == "temp") return RegisterKind::temp;
    throw std::invalid_argument("unknown register kind '" + kind + "' (in, out, const, temp)");
}

// Stores a Python scalar exactly in the register's type.
void store_constant(RegisterSpec& reg, const py::handle& value) {
    std::memset(reg.value, 0, sizeof(reg.value));
    if (!(PyBool_Check(value.ptr()) || PyLong_Check(value.ptr()) || PyFloat_Check(value.ptr()) ||
          PyComplex_Check(value.ptr()))) {
        throw py::type_error("a constant must be a Python bool, int, float or complex, not " +
                             std::string(py::str(py::type::of(value).attr("__name__"))));
    }
    visit_type(reg.type, [&](auto zero) {
        using T = decltype(zero);
        T v{};
        if constexpr (std::is_same_v<T, bool>) {
            v = PyObject_IsTrue(value.ptr()) == 1;
        } else if constexpr (is_int_v<T>) {
            if (!PyLong_Check(value.ptr())) throw py::type_error("an integer register needs an int constant");
            int overflow = 0;
            if constexpr (std::is_signed_v<T>) {
                const long long x = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
                if (overflow != 0 || x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) {
                    throw py::value_error("constant " + std::string(py::str(value)) + " does not fit " +
                                          type_name(reg.type));
                }
                v = static_cast<T>(x);
            } else {
                const unsigned long long x = PyLong_AsUnsignedLongLong(value.ptr());
                if (PyErr_Occurred() != nullptr || x > std::numeric_limits<T>::max()) {
                    PyErr_Clear();
                    throw py::value_error("constant " + std::string(py::str(value)) + " does not fit " +
                                          type_name(reg.type));
                }
                v = static_cast<T>(x);
            }
        } else if constexpr (is_complex_v<T>) {
            const Py_complex c = PyComplex_AsCComplex(value.ptr());
            if (PyErr_Occurred() != nullptr) throw py::error_already_set();
            using R = typename T::value_type;
            v = T(static_cast<R>(c.real), static_cast<R>(c.imag));
        } else {
            if (PyComplex_Check(value.ptr())) throw py::type_error("a real register needs a real constant");
            const double d = PyFloat_AsDouble(value.ptr());
            if (PyErr_Occurred() != nullptr) throw py::error_already_set();
            v = static_cast<T>(d);
        }
        std::memcpy(reg.value, &v, sizeof(T));
    });
}

std::string operand_name(const char* role, std::size_t index) {
    return std::string(role) + " " + std::to_string(index);
}

// The items of a sequence of ndarrays (TypeError naming the first that is not one); the
// references keep them alive while the GIL is released.
std::vector<py::object> arrays_of(const py::sequence& arrays, const char* role) {
    std::vector<py::object> items;
    items.reserve(arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
        py::object obj = arrays[i];
        if (!is_ndarray(obj.ptr())) throw py::type_error(operand_name(role, i) + " must be a numpy.ndarray");
        items.push_back(std::move(obj));
    }
    return items;
}

// The VM type of an array, or an error saying why it has none.
TypeCode checked_type(const py::object& array, const char* role, std::size_t index) {
    const int type = vm_type_of(array.ptr());
    if (type >= 0) return static_cast<TypeCode>(type);
    const auto dt = py::reinterpret_borrow<py::array>(array).dtype();
    if (dt.byteorder() == '>' || dt.byteorder() == '<') {
        throw py::value_error(operand_name(role, index) + ": non-native byte order");
    }
    throw py::type_error(operand_name(role, index) + ": unsupported dtype " + std::string(py::str(dt)));
}

// Fills `views` with the arrays of a Python sequence, reusing their storage.
void bind_arrays(const std::vector<py::object>& arrays, std::vector<ArrayView>& views, const char* role,
                 bool writable) {
    views.resize(arrays.size());
    for (std::size_t i = 0; i < arrays.size(); ++i) {
        const auto& a = arrays[i];
        if (writable && !py::reinterpret_borrow<py::array>(a).writeable()) {
            throw py::value_error(operand_name(role, i) + " is read-only");
        }
        view_of(a.ptr(), checked_type(a, role, i), views[i]);
    }
}

// The operands of evaluate() and reduce(): inputs checked to have VM types (errors that
// name them), and the arrays whose shapes broadcast; `keep` holds the references.
struct Operands {
    std::vector<py::object> keep;
    std::vector<PyObject*> inputs, shape_arrays;

    Operands(const py::sequence& input_seq, const py::sequence& shape_seq) : keep(arrays_of(input_seq, "input")) {
        for (std::size_t i = 0; i < keep.size(); ++i) {
            checked_type(keep[i], "input", i);
            inputs.push_back(keep[i].ptr());
        }
        for (auto& a : arrays_of(shape_seq, "shape array")) {
            shape_arrays.push_back(a.ptr());
            keep.push_back(std::move(a));
        }
    }
};

// A NumPy 'S' array as the string kernels see it.
StringView string_view(const py::array& array, const char* role) {
    if (array.dtype().kind() != 'S') {
        throw py::type_error(std::string(role) + " must be a byte-string ('S') array, not " +
                             std::string(py::str(array.dtype())));
    }
    StringView view{static_cast<const char*>(array.data()), array.itemsize(), {}};
    view.strides.assign(array.strides(), array.strides() + array.ndim());
    return view;
}

py::object steal_result(PyObject* result) {
    if (result == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(result);
}

}  // namespace

// No py::mod_gil_not_used(): without a free-threaded build to test on, the module does not
// claim to run without the GIL (a free-threaded interpreter re-enables the GIL on import).
PYBIND11_MODULE(_core, m) {
    m.doc() = "The virtual machine of numexpr3";
    m.attr("__version__") = NUMEXPR3_VERSION;
    init_arrays();
    init_recycling();
    add_dispatcher_type(m.ptr());
    py::register_local_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const std::domain_error& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        }
    });

    m.def("kernel_signatures", [] {
        py::dict out;
        for (const auto& [op, kernels] : registry()) {
            py::list sigs;
            for (const auto& k : kernels) {
                py::tuple ins(k.inputs.size());
                for (std::size_t i = 0; i < k.inputs.size(); ++i) ins[i] = type_name(k.inputs[i]);
                sigs.append(py::make_tuple(ins, type_name(k.output)));
            }
            out[py::str(op)] = sigs;
        }
        return out;
    });

    py::class_<Program>(m, "Program")
        .def(py::init([](const py::sequence& registers, const py::sequence& instructions, const py::object& reduction) {
                 std::vector<RegisterSpec> regs;
                 for (const auto& item : registers) {
                     const auto t = item.cast<py::tuple>();
                     if (t.size() != 3) throw py::value_error("a register is (kind, typecode, value)");
                     RegisterSpec reg{};
                     reg.kind = parse_kind(t[0].cast<std::string>());
                     reg.type = parse_type(t[1].cast<std::string>());
                     if (reg.kind == RegisterKind::constant) store_constant(reg, t[2]);
                     regs.push_back(reg);
                 }
                 std::vector<InstructionSpec> ins;
                 for (const auto& item : instructions) {
                     const auto t = item.cast<py::tuple>();
                     if (t.size() != 3) throw py::value_error("an instruction is (op, dest, sources)");
                     ins.push_back({t[0].cast<std::string>(), t[1].cast<int>(), t[2].cast<std::vector<int>>()});
                 }
                 std::optional<ReductionSpec> red;
                 if (!reduction.is_none()) {
                     const auto t = reduction.cast<py::tuple>();
                     if (t.size() != 2) throw py::value_error("a reduction is (op, axes)");
                     red = ReductionSpec{t[0].cast<std::string>(), t[1].cast<std::vector<int>>()};
                 }
                 return Program(std::move(regs), ins, std::move(red));
             }),
             py::arg("registers"), py::arg("instructions"), py::arg("reduction") = py::none())
        .def(
            "run",
            [](const Program& self, const py::sequence& inputs, const py::sequence& outputs, const py::object& shape,
               int nthreads) {
                const auto input_arrays = arrays_of(inputs, "input");
                const auto output_arrays = arrays_of(outputs, "output");
                auto& [in, out, iter_shape] = thread_bindings();
                bind_arrays(input_arrays, in, "input", false);
                bind_arrays(output_arrays, out, "output", true);
                if (!shape.is_none()) {
                    iter_shape = shape.cast<std::vector<std::ptrdiff_t>>();
                } else if (!out.empty()) {
                    iter_shape = out[0].shape;
                } else {
                    iter_shape.clear();
                }
                run_bound(self, in, out, iter_shape, nthreads);
            },
            py::arg("inputs"), py::arg("outputs"), py::arg("shape") = py::none(), py::arg("nthreads") = 0)
        .def(
            "evaluate",
            [](const Program& self, const py::sequence& inputs, const py::sequence& shape_arrays, char order) {
                const Operands ops(inputs, shape_arrays);
                return steal_result(evaluate_new(self, ops.inputs.data(), ops.inputs.size(), ops.shape_arrays.data(),
                                                 ops.shape_arrays.size(), order));
            },
            py::arg("inputs"), py::arg("shape_arrays"), py::arg("order") = 'K')
        .def(
            "reduce",
            [](const Program& self, const py::sequence& inputs, const py::sequence& shape_arrays) {
                const Operands ops(inputs, shape_arrays);
                return steal_result(reduce_new(self, ops.inputs.data(), ops.inputs.size(), ops.shape_arrays.data(),
                                               ops.shape_arrays.size()));
            },
            py::arg("inputs"), py::arg("shape_arrays"))
        .def_property_readonly("weight", &Program::weight);

    m.def(
        "compare_strings",
        [](const std::string& op, const py::array& a, const py::array& b, int nthreads) {
            const StringView va = string_view(a, "the first operand"), vb = string_view(b, "the second operand");
            std::vector<std::ptrdiff_t> shape(a.shape(), a.shape() + a.ndim());
            if (b.ndim() != a.ndim() || !std::equal(shape.begin(), shape.end(), b.shape())) {
                throw py::value_error("string operands must have the same shape (broadcast them first)");
            }
            py::array_t<bool> out(shape);
            bool* data = out.mutable_data();
            {
                py::gil_scoped_release release;
                compare_strings(op, va, vb, shape, data, nthreads);
            }
            return out;
        },
        py::arg("op"), py::arg("a"), py::arg("b"), py::arg("nthreads") = 0);
    m.def("vector_math", &vector_math_backend,
          "The vector math library and instruction set in use (NUMEXPR3_SIMD=scalar|sse2|avx2 caps it).");
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &get_num_threads);
    m.def("max_threads", &max_threads);
    m.def("block_size", [] { return kMaxBlock; });
    m.def(
        "recycled_outputs",
        [] {
            const auto stats = recycled_stats();
            return py::make_tuple(stats.count, stats.bytes, stats.reused);
        },
        "(count, bytes) of the freed large outputs kept for reuse, and how many allocations have reused one.");
    m.def("release_recycled_outputs", &release_recycled,
          "Gives the freed large outputs kept for reuse back to the system; returns their bytes.");
    m.attr("RECYCLING") = py::make_tuple(kMinRecycledBytes, kMaxRecycled, kMaxRecycledBytes);
}
