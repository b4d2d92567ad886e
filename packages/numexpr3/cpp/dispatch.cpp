// The cached-call path. A Dispatcher remembers, for each signature of arguments it has
// seen (every argument's VM type and rank), the compiled program and which arguments it
// reads. A call whose arguments match a remembered signature runs the program directly:
// no Python frame, no cache key, no argument objects. Anything else (keywords, arguments
// that need converting, a first call) goes to the Python front end, which compiles and
// tells the dispatcher what it ran (`remember`).
//
// Written against the CPython API rather than pybind11: the whole point is a call that
// costs about as much as a NumPy ufunc's, and pybind11's argument dispatch alone costs
// several hundred nanoseconds.
#include "dispatch.hpp"

#include <pybind11/pybind11.h>
#include <structmember.h>

#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include "arrays.hpp"
#include "program.hpp"

namespace py = pybind11;

namespace ne3 {
namespace {

// Signatures longer than this are never remembered (they go through Python).
constexpr std::size_t kMaxArguments = 32;
// Remembered signatures per dispatcher: a bound on memory, far above real use.
constexpr std::size_t kMaxRoutes = 64;

// One argument of a signature in one number: an array's VM type and rank, or the kind of
// a Python scalar (bool, int, float, complex: the program depends on the type only).
using ArgumentKey = int;
ArgumentKey argument_key(int type, int ndim) { return type * 256 + ndim; }
constexpr int kScalarKinds = 1000 * 256;  // keys of Python scalars start here

// A program input: the argument at `position`, converted to `convert` (a VM type, as
// numpy.asarray(argument, dtype) does) unless that is -1.
struct Input {
    std::size_t position;
    int convert;
};

// A remembered signature and what to run for it.
struct Route {
    std::vector<ArgumentKey> key;
    PyObject* program_object;  // strong reference
    const Program* program;
    bool reduction;
    std::vector<Input> inputs;
    std::vector<std::size_t> shape_arguments;  // argument positions
};

struct State {
    std::mutex mutex;  // guards `routes` (free-threaded builds call concurrently)
    std::vector<std::unique_ptr<Route>> routes;
    PyObject* names = nullptr;  // tuple of str: the variables `run_scope` looks up
};

struct DispatcherObject {
    PyObject_HEAD vectorcallfunc vectorcall;
    State* state;
};

State& state_of(PyObject* self) { return *reinterpret_cast<DispatcherObject*>(self)->state; }

// The key of these arguments; false when one is neither an ndarray of a VM type nor a
// Python bool, int, float or complex.
bool key_of(PyObject* const* args, std::size_t n, std::array<ArgumentKey, kMaxArguments>& key) {
    if (n > kMaxArguments) return false;
    for (std::size_t i = 0; i < n; ++i) {
        PyObject* arg = args[i];
        if (is_exact_ndarray(arg)) {
            const int type = vm_type_of(arg);
            if (type < 0) return false;
            key[i] = argument_key(type, ndim_of(arg));
        } else if (PyFloat_CheckExact(arg)) {
            key[i] = kScalarKinds + 2;
        } else if (PyLong_CheckExact(arg)) {
            key[i] = kScalarKinds + 1;
        } else if (PyBool_Check(arg)) {
            key[i] = kScalarKinds;
        } else if (PyComplex_CheckExact(arg)) {
            key[i] = kScalarKinds + 3;
        } else {
            return false;
        }
    }
    return true;
}

const Route* find_route(State& state, PyObject* const* args, std::size_t n) {
    std::array<ArgumentKey, kMaxArguments> key;
    if (!key_of(args, n, key)) return nullptr;
    std::lock_guard<std::mutex> lock(state.mutex);
    for (const auto& route : state.routes) {  // few routes: a linear search beats hashing
        if (route->key.size() == n && std::equal(route->key.begin(), route->key.end(), key.begin())) {
            return route.get();  // routes live as long as the dispatcher
        }
    }
    return nullptr;
}

// Sets the Python error for the C++ exception being handled, as pybind11 would.
void set_python_error() {
    try {
        throw;
    } catch (py::error_already_set& e) {
        e.restore();
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
    } catch (const std::domain_error& e) {
        PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const std::invalid_argument& e) {
        PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (...) {
        PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception in numexpr3");
    }
}

// The result of the route on these arguments (into `out` unless it is nullptr): a new
// reference, nullptr with an error set, or nullptr without one when `out` does not suit
// the route (the caller then takes the Python path, which says why).
PyObject* run_route(const Route& route, PyObject* const* args, PyObject* out) {
    std::array<PyObject*, kMaxArguments> inputs, shape_arrays;
    std::array<PyObject*, kMaxArguments> converted{};  // new references
    struct Release {
        std::array<PyObject*, kMaxArguments>& arrays;
        ~Release() {
            for (PyObject* a : arrays) Py_XDECREF(a);
        }
    } release{converted};
    for (std::size_t i = 0; i < route.inputs.size(); ++i) {
        const Input& input = route.inputs[i];
        inputs[i] = args[input.position];
        if (input.convert < 0) continue;
        converted[i] = convert(inputs[i], static_cast<TypeCode>(input.convert));
        if (converted[i] == nullptr) return nullptr;  // (as numpy.asarray would raise)
        inputs[i] = converted[i];
    }
    std::size_t num_shapes = 0;
    for (std::size_t position : route.shape_arguments) {
        if (is_ndarray(args[position])) shape_arrays[num_shapes++] = args[position];  // scalars have no shape
    }
    try {
        if (out != nullptr) {
            if (route.reduction || !evaluate_into(*route.program, inputs.data(), route.inputs.size(),
                                                  shape_arrays.data(), num_shapes, out)) {
                return nullptr;
            }
            return Py_NewRef(out);
        }
        if (route.reduction) {
            return reduce_new(*route.program, inputs.data(), route.inputs.size(), shape_arrays.data(), num_shapes);
        }
        return evaluate_new(*route.program, inputs.data(), route.inputs.size(), shape_arrays.data(), num_shapes, 'K');
    } catch (...) {
        set_python_error();
        return nullptr;
    }
}

// Whether the keyword names are exactly ("out",).
bool only_out(PyObject* kwnames) {
    if (PyTuple_GET_SIZE(kwnames) != 1) return false;
    static PyObject* const out_name = PyUnicode_InternFromString("out");  // never freed
    PyObject* name = PyTuple_GET_ITEM(kwnames, 0);
    return name == out_name || (out_name != nullptr && PyUnicode_Compare(name, out_name) == 0);
}

// obj(*args) or obj(*args, out=array): a remembered signature runs here; anything else calls
// obj._call(*args, **kwargs).
PyObject* dispatcher_vectorcall(PyObject* self, PyObject* const* args, std::size_t nargsf, PyObject* kwnames) {
    const auto n = static_cast<std::size_t>(PyVectorcall_NARGS(nargsf));
    const bool plain = kwnames == nullptr || PyTuple_GET_SIZE(kwnames) == 0;
    if (plain || only_out(kwnames)) {
        if (const Route* route = find_route(state_of(self), args, n)) {
            PyObject* result = run_route(*route, args, plain ? nullptr : args[n]);
            if (result != nullptr || PyErr_Occurred()) return result;
        }
    }
    PyObject* slow = PyObject_GetAttrString(self, "_call");
    if (slow == nullptr) return nullptr;
    PyObject* result = PyObject_Vectorcall(slow, args, nargsf, kwnames);
    Py_DECREF(slow);
    return result;
}

PyObject* dispatcher_new(PyTypeObject* type, PyObject*, PyObject*) {
    PyObject* self = type->tp_alloc(type, 0);
    if (self == nullptr) return nullptr;
    auto* d = reinterpret_cast<DispatcherObject*>(self);
    d->vectorcall = dispatcher_vectorcall;
    d->state = new (std::nothrow) State();
    if (d->state == nullptr) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    d->state->names = PyTuple_New(0);
    if (d->state->names == nullptr) {
        Py_DECREF(self);
        return nullptr;
    }
    return self;
}

// Dispatcher(names=()): `names` are the variables `run_scope` looks up, in argument order.
int dispatcher_init(PyObject* self, PyObject* args, PyObject* kwargs) {
    static const char* keywords[] = {"names", nullptr};
    PyObject* names = nullptr;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O!:Dispatcher", const_cast<char**>(keywords), &PyTuple_Type,
                                     &names)) {
        return -1;
    }
    if (names == nullptr) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); ++i) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(names, i))) {
            PyErr_SetString(PyExc_TypeError, "Dispatcher names must be strings");
            return -1;
        }
    }
    State& state = state_of(self);
    Py_INCREF(names);
    PyObject* old = state.names;
    state.names = names;
    Py_XDECREF(old);
    return 0;
}

void dispatcher_dealloc(PyObject* self) {
    PyTypeObject* type = Py_TYPE(self);
    auto* d = reinterpret_cast<DispatcherObject*>(self);
    if (d->state != nullptr) {
        for (const auto& route : d->state->routes) Py_DECREF(route->program_object);
        Py_XDECREF(d->state->names);
        delete d->state;
    }
    type->tp_free(self);
    Py_DECREF(type);
}

// A position below `n` from a Python int; false with an error set otherwise.
bool position_from(PyObject* item, std::size_t n, std::size_t& position, const char* what) {
    const Py_ssize_t p = PyLong_AsSsize_t(item);
    if (p == -1 && PyErr_Occurred()) return false;
    if (p < 0 || static_cast<std::size_t>(p) >= n) {
        PyErr_Format(PyExc_ValueError, "%s: position %zd is not one of the %zu arguments", what, p, n);
        return false;
    }
    position = static_cast<std::size_t>(p);
    return true;
}

// Program inputs from a sequence of (position, type code or None).
bool inputs_from(PyObject* seq, std::size_t n, std::vector<Input>& out) {
    PyObject* fast = PySequence_Fast(seq, "remember: inputs must be a sequence");
    if (fast == nullptr) return false;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast) && !PyErr_Occurred(); ++i) {
        PyObject* item = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            PyErr_SetString(PyExc_TypeError, "remember: an input is (position, type code or None)");
            break;
        }
        Input input{0, -1};
        if (!position_from(PyTuple_GET_ITEM(item, 0), n, input.position, "remember: inputs")) break;
        PyObject* code = PyTuple_GET_ITEM(item, 1);
        if (code != Py_None) {
            const char* text = PyUnicode_Check(code) ? PyUnicode_AsUTF8(code) : nullptr;
            if (text == nullptr) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "remember: a type code must be a str");
                break;
            }
            try {
                input.convert = static_cast<int>(parse_type(text));
            } catch (const std::exception& e) {
                PyErr_SetString(PyExc_ValueError, e.what());
                break;
            }
        }
        out.push_back(input);
    }
    Py_DECREF(fast);
    return !PyErr_Occurred();
}

// Positions from a sequence of ints, each below `n`.
bool positions_from(PyObject* seq, std::size_t n, std::vector<std::size_t>& out, const char* what) {
    PyObject* fast = PySequence_Fast(seq, what);
    if (fast == nullptr) return false;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); ++i) {
        std::size_t position = 0;
        if (!position_from(PySequence_Fast_GET_ITEM(fast, i), n, position, what)) break;
        out.push_back(position);
    }
    Py_DECREF(fast);
    return !PyErr_Occurred();
}

// remember(arguments, program, inputs, shape_arguments): calls with arguments of the same
// types and ranks (Python scalars: of the same type) run `program` (evaluate or reduce) on
// the inputs, each (argument position, type code to convert it to or None), over the
// broadcast shape of arguments[shape_arguments]. Returns whether such calls now run here:
// not when an argument is neither an ndarray of a VM dtype (in native order) nor a Python
// bool, int, float or complex, nor beyond 32 arguments or 64 signatures.
PyObject* dispatcher_remember(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "remember(arguments, program, inputs, shape_arguments)");
        return nullptr;
    }
    PyObject* arguments = PySequence_Fast(args[0], "remember: arguments must be a sequence");
    if (arguments == nullptr) return nullptr;
    auto route = std::make_unique<Route>();
    const auto n = static_cast<std::size_t>(PySequence_Fast_GET_SIZE(arguments));
    if (n > kMaxArguments) {
        Py_DECREF(arguments);
        Py_RETURN_FALSE;
    }
    std::array<ArgumentKey, kMaxArguments> key;
    const bool keyed = key_of(PySequence_Fast_ITEMS(arguments), n, key);
    Py_DECREF(arguments);
    if (!keyed) Py_RETURN_FALSE;
    route->key.assign(key.begin(), key.begin() + static_cast<std::ptrdiff_t>(n));
    try {
        route->program = py::handle(args[1]).cast<const Program*>();
    } catch (const py::cast_error&) {
        PyErr_SetString(PyExc_TypeError, "remember: program must be a numexpr3._core.Program");
        return nullptr;
    }
    route->reduction = route->program->is_reduction();
    if (!route->reduction && route->program->num_outputs() != 1) {
        PyErr_SetString(PyExc_ValueError, "remember: an element-wise program must have one output");
        return nullptr;
    }
    if (!inputs_from(args[2], n, route->inputs) ||
        !positions_from(args[3], n, route->shape_arguments, "remember: shape_arguments")) {
        return nullptr;
    }
    if (route->inputs.size() > kMaxArguments || route->shape_arguments.size() > kMaxArguments) {
        PyErr_SetString(PyExc_ValueError, "remember: at most 32 inputs and shape arguments");
        return nullptr;
    }
    for (const Input& input : route->inputs) {
        if (input.convert < 0 && route->key[input.position] >= kScalarKinds) {
            PyErr_SetString(PyExc_ValueError, "remember: a Python scalar input needs a type code to convert it to");
            return nullptr;
        }
    }
    State& state = state_of(self);
    std::lock_guard<std::mutex> lock(state.mutex);
    if (state.routes.size() >= kMaxRoutes) Py_RETURN_FALSE;
    for (const auto& known : state.routes) {
        if (known->key == route->key) Py_RETURN_TRUE;
    }
    Py_INCREF(args[1]);
    route->program_object = args[1];
    state.routes.push_back(std::move(route));
    Py_RETURN_TRUE;
}

#if PY_VERSION_HEX >= 0x030D0000
// A scope the C++ path reads: a dict, or (Python >= 3.13, PEP 667) a function frame's
// f_locals, a proxy whose lookups run no Python code.
bool is_scope(PyObject* scope) {
    return PyDict_CheckExact(scope) || std::strcmp(Py_TYPE(scope)->tp_name, "FrameLocalsProxy") == 0;
}

int scope_item(PyObject* scope, PyObject* name, PyObject** value) {
    return PyDict_CheckExact(scope) ? PyDict_GetItemRef(scope, name, value)
                                    : PyMapping_GetOptionalItem(scope, name, value);
}
#else
bool is_scope(PyObject* scope) { return PyDict_CheckExact(scope); }
#endif

// Looks `name` up in `first`, then `second`: a new reference, nullptr when in neither (or
// on an error, which is then set).
PyObject* lookup(PyObject* name, PyObject* first, PyObject* second) {
#if PY_VERSION_HEX >= 0x030D0000  // without the GIL a borrowed value could vanish meanwhile
    PyObject* value = nullptr;
    if (scope_item(first, name, &value) == 0) scope_item(second, name, &value);
    return value;
#else
    PyObject* value = PyDict_GetItemWithError(first, name);
    if (value == nullptr && !PyErr_Occurred()) value = PyDict_GetItemWithError(second, name);
    Py_XINCREF(value);
    return value;
#endif
}

// run_scope(local_scope, global_scope, out=None): the result for the variables `names`
// taken from two dicts or frame-locals proxies (written into `out` unless it is None), or None when their signature
// was not remembered, a name is missing, a scope is not a dict or `out` does not suit.
PyObject* dispatcher_run_scope(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "run_scope(local_scope, global_scope, out=None)");
        return nullptr;
    }
    PyObject* out = nargs == 3 && args[2] != Py_None ? args[2] : nullptr;
    if (!is_scope(args[0]) || !is_scope(args[1])) Py_RETURN_NONE;  // other mappings: Python
    State& state = state_of(self);
    const auto n = static_cast<std::size_t>(PyTuple_GET_SIZE(state.names));
    if (n > kMaxArguments) Py_RETURN_NONE;
    // Strong references: the GIL may be released while the program runs, and another
    // thread could meanwhile rebind the variables.
    std::array<PyObject*, kMaxArguments> values;
    std::size_t found = 0;
    for (; found < n; ++found) {
        values[found] = lookup(PyTuple_GET_ITEM(state.names, found), args[0], args[1]);
        if (values[found] == nullptr) break;
    }
    PyObject* result = nullptr;
    if (found == n && !PyErr_Occurred()) {
        if (const Route* route = find_route(state, values.data(), n)) result = run_route(*route, values.data(), out);
        if (result == nullptr && !PyErr_Occurred()) result = Py_NewRef(Py_None);
    } else if (!PyErr_Occurred()) {
        result = Py_NewRef(Py_None);
    }
    for (std::size_t i = 0; i < found; ++i) Py_DECREF(values[i]);
    return result;
}

PyObject* dispatcher_num_routes(PyObject* self, PyObject*) {
    State& state = state_of(self);
    std::lock_guard<std::mutex> lock(state.mutex);
    return PyLong_FromSize_t(state.routes.size());
}

PyMethodDef dispatcher_methods[] = {
    {"remember", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dispatcher_remember)), METH_FASTCALL,
     "remember(arguments, program, inputs, shape_arguments) -> bool: run `program` directly for calls whose "
     "arguments have these types and ranks; inputs are (position, type code or None)."},
    {"run_scope", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(dispatcher_run_scope)), METH_FASTCALL,
     "run_scope(local_scope, global_scope, out=None): the result for `names` looked up in two dicts, or None."},
    {"num_routes", dispatcher_num_routes, METH_NOARGS, "How many signatures are remembered."},
    {nullptr, nullptr, 0, nullptr},
};

PyMemberDef dispatcher_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, static_cast<Py_ssize_t>(offsetof(DispatcherObject, vectorcall)), READONLY,
     nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

}  // namespace

void add_dispatcher_type(PyObject* module) {
    static PyType_Slot slots[] = {
        {Py_tp_doc, const_cast<char*>("Runs remembered element-wise and reduction programs without Python.")},
        {Py_tp_new, reinterpret_cast<void*>(dispatcher_new)},
        {Py_tp_init, reinterpret_cast<void*>(dispatcher_init)},
        {Py_tp_dealloc, reinterpret_cast<void*>(dispatcher_dealloc)},
        {Py_tp_call, reinterpret_cast<void*>(PyVectorcall_Call)},
        {Py_tp_methods, dispatcher_methods},
        {Py_tp_members, dispatcher_members},
        {0, nullptr},
    };
    static PyType_Spec spec = {
        "numexpr3._core.Dispatcher",
        sizeof(DispatcherObject),
        0,
        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_VECTORCALL,
        slots,
    };
    PyObject* type = PyType_FromSpec(&spec);
    if (type == nullptr) throw py::error_already_set();
    if (PyModule_AddObject(module, "Dispatcher", type) < 0) {
        Py_DECREF(type);
        throw py::error_already_set();
    }
}

}  // namespace ne3
