// The cached-call path of the front end (see dispatch.cpp).
#pragma once

#include <Python.h>

namespace ne3 {

// Adds the type `Dispatcher` to the module; throws pybind11::error_already_set on failure.
void add_dispatcher_type(PyObject* module);

}  // namespace ne3
