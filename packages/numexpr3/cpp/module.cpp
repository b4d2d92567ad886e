// Python bindings of the VM.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <stdexcept>

#include "kernels.hpp"
#include "pool.hpp"
#include "program.hpp"
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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr char kForeign = '<';  // the byte order mark of a non-native dtype
#else
constexpr char kForeign = '>';
#endif

std::string operand_name(const char* role, std::size_t index) {
    return std::string(role) + " " + std::to_string(index);
}

// The type code of an array's dtype; reads the descriptor directly (this is on the path of
// every call).
TypeCode type_of(const py::array& a, const char* role, std::size_t index) {
    const py::dtype dt = a.dtype();
    const char order = dt.byteorder();
    if (order == kForeign) throw py::value_error(operand_name(role, index) + ": non-native byte order");
    const auto size = dt.itemsize();
    switch (dt.kind()) {
        case 'b':
            return TypeCode::b1;
        case 'i':
            if (size == 1) return TypeCode::i1;
            if (size == 2) return TypeCode::i2;
            if (size == 4) return TypeCode::i4;
            if (size == 8) return TypeCode::i8;
            break;
        case 'u':
            if (size == 1) return TypeCode::u1;
            if (size == 2) return TypeCode::u2;
            if (size == 4) return TypeCode::u4;
            if (size == 8) return TypeCode::u8;
            break;
        case 'f':
            if (size == 4) return TypeCode::f4;
            if (size == 8) return TypeCode::f8;
            break;
        case 'c':
            if (size == 8) return TypeCode::c8;
            if (size == 16) return TypeCode::c16;
            break;
        default:
            break;
    }
    throw py::type_error(operand_name(role, index) + ": unsupported dtype " + std::string(py::str(dt)));
}

// Fills `views` with the arrays of a Python sequence, reusing their storage.
void bind_arrays(const py::sequence& arrays, std::vector<ArrayView>& views, const char* role, bool writable) {
    const std::size_t n = arrays.size();
    views.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const py::object obj = arrays[i];
        if (!py::isinstance<py::array>(obj)) throw py::type_error(operand_name(role, i) + " must be a numpy.ndarray");
        const auto a = py::reinterpret_borrow<py::array>(obj);
        if (writable && !a.writeable()) throw py::value_error(operand_name(role, i) + " is read-only");
        ArrayView& v = views[i];
        v.data = static_cast<char*>(const_cast<void*>(a.data()));
        v.type = type_of(a, role, i);
        const auto ndim = static_cast<std::size_t>(a.ndim());
        v.shape.assign(a.shape(), a.shape() + ndim);
        v.strides.assign(a.strides(), a.strides() + ndim);
    }
}

// Below this much work (elements x program weight) a run is shorter than handing the GIL
// over and back.
constexpr std::ptrdiff_t kKeepGilWork = 16384;

// Runs a program over views already bound, releasing the GIL when the work is worth it.
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

// The NumPy dtype of a type code, made once.
const py::dtype& dtype_of(TypeCode t) {
    static const auto* table = [] {
        auto* dtypes = new std::vector<py::dtype>();  // never freed: outlives the interpreter's teardown
        for (int i = 0; i < kNumTypes; ++i) dtypes->push_back(py::dtype(type_name(static_cast<TypeCode>(i))));
        return dtypes;
    }();
    return (*table)[static_cast<std::size_t>(t)];
}

// The broadcast of the arrays' shapes, as NumPy's.
void broadcast_shape(const py::sequence& arrays, std::vector<std::ptrdiff_t>& shape) {
    shape.clear();
    for (const auto& obj : arrays) {
        const auto a = py::reinterpret_borrow<py::array>(obj);
        const auto ndim = static_cast<std::size_t>(a.ndim());
        if (ndim > shape.size()) shape.insert(shape.begin(), ndim - shape.size(), 1);
        for (std::size_t k = 0; k < ndim; ++k) {
            const std::ptrdiff_t n = a.shape(static_cast<py::ssize_t>(k));
            std::ptrdiff_t& d = shape[shape.size() - ndim + k];
            if (d == 1) {
                d = n;
            } else if (n != 1 && n != d) {
                throw py::value_error("operands could not be broadcast together");
            }
        }
    }
}

// Reused by the calling thread from call to call, so that binding allocates nothing (one
// thread-local object: each costs a lookup per call).
struct Bindings {
    std::vector<ArrayView> in, out;
    std::vector<std::ptrdiff_t> shape;
};
Bindings& thread_bindings() {
    thread_local Bindings bindings;
    return bindings;
}

}  // namespace

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "The virtual machine of numexpr3";
    m.attr("__version__") = NUMEXPR3_VERSION;
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
                auto& [in, out, iter_shape] = thread_bindings();
                bind_arrays(inputs, in, "input", false);
                bind_arrays(outputs, out, "output", true);
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
                // The common call in one step: broadcast, allocate the result, run.
                if (self.is_reduction() || self.num_outputs() != 1) {
                    throw py::value_error("evaluate() runs element-wise programs with one output");
                }
                auto& [in, out, shape] = thread_bindings();
                bind_arrays(inputs, in, "input", false);
                broadcast_shape(shape_arrays, shape);
                // 'K'/'A': Fortran order when every full-rank input is Fortran-ordered only.
                bool fortran = order == 'F';
                if ((order == 'K' || order == 'A') && shape.size() > 1) {
                    bool any_full = false;
                    fortran = true;
                    for (const auto& obj : inputs) {
                        const auto a = py::reinterpret_borrow<py::array>(obj);
                        if (static_cast<std::size_t>(a.ndim()) != shape.size()) continue;
                        any_full = true;
                        const int flags = py::detail::array_proxy(a.ptr())->flags;
                        const bool f = (flags & py::detail::npy_api::NPY_ARRAY_F_CONTIGUOUS_) != 0;
                        const bool c = (flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_) != 0;
                        fortran = fortran && f && !c;
                    }
                    fortran = fortran && any_full;
                }
                const TypeCode type = self.output_type(0);
                std::vector<std::ptrdiff_t> strides(shape.size());
                std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(item_size(type));
                for (std::size_t k = 0; k < shape.size(); ++k) {
                    const std::size_t d = fortran ? k : shape.size() - 1 - k;
                    strides[d] = stride;
                    stride *= std::max<std::ptrdiff_t>(shape[d], 1);
                }
                py::array result(dtype_of(type), shape, strides);
                out.resize(1);
                out[0] = ArrayView{static_cast<char*>(result.mutable_data()), type, shape, strides};
                run_bound(self, in, out, shape, 0);
                return result;
            },
            py::arg("inputs"), py::arg("shape_arrays"), py::arg("order") = 'K')
        .def(
            "reduce",
            [](const Program& self, const py::sequence& inputs, const py::sequence& shape_arrays) {
                // A reduction in one step: broadcast, allocate the result without the
                // reduced axes (the same memory as with them kept as 1s), run.
                if (!self.is_reduction()) throw py::value_error("reduce() runs reduction programs");
                auto& [in, out, shape] = thread_bindings();
                bind_arrays(inputs, in, "input", false);
                broadcast_shape(shape_arrays, shape);
                const auto& [op, axes] = self.reduction();
                std::vector<char> reduced(shape.size(), 0);
                for (int axis : axes) {
                    if (axis < 0 || static_cast<std::size_t>(axis) >= shape.size()) {
                        throw py::value_error("reduction axis " + std::to_string(axis) + " out of range");
                    }
                    reduced[static_cast<std::size_t>(axis)] = 1;
                    if (shape[static_cast<std::size_t>(axis)] == 0 && (op == "min" || op == "max")) {
                        throw py::value_error("zero-size array to reduction operation " +
                                              std::string(op == "min" ? "minimum" : "maximum") +
                                              " which has no identity");
                    }
                }
                const TypeCode type = self.output_type(0);
                std::vector<std::ptrdiff_t> kept(shape.size()), kept_strides(shape.size()), final_shape;
                std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(item_size(type));
                for (std::size_t d = shape.size(); d-- > 0;) {
                    kept[d] = reduced[d] ? 1 : shape[d];
                    kept_strides[d] = stride;
                    stride *= std::max<std::ptrdiff_t>(kept[d], 1);
                }
                for (std::size_t d = 0; d < shape.size(); ++d) {
                    if (!reduced[d]) final_shape.push_back(shape[d]);
                }
                py::array result(dtype_of(type), final_shape);
                if (result.size() > 0) {
                    out.resize(1);
                    out[0] = ArrayView{static_cast<char*>(result.mutable_data()), type, kept, kept_strides};
                    run_bound(self, in, out, shape, 0);
                }
                return result;
            },
            py::arg("inputs"), py::arg("shape_arrays"))
        .def_property_readonly("weight", &Program::weight);

    m.def("vector_math", &vector_math_backend,
          "The vector math library and instruction set in use (NUMEXPR3_SIMD=scalar|sse2|avx2 caps it).");
    m.def("set_num_threads", &set_num_threads, py::arg("n"));
    m.def("get_num_threads", &get_num_threads);
    m.def("max_threads", &max_threads);
    m.def("block_size", [] { return kMaxBlock; });
}
