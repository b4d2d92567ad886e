#include "recycle.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <mutex>

namespace py = pybind11;

namespace ne3 {
namespace {

// NumPy's memory handler as numpy/ndarraytypes.h declares it (version 1, a stable ABI),
// carried in a capsule of this name.
struct Allocator {
    void* ctx;
    void* (*malloc)(void* ctx, std::size_t size);
    void* (*calloc)(void* ctx, std::size_t nelem, std::size_t elsize);
    void* (*realloc)(void* ctx, void* ptr, std::size_t new_size);
    void (*free)(void* ctx, void* ptr, std::size_t size);
};
struct Handler {
    char name[127];
    std::uint8_t version;
    Allocator allocator;
};
constexpr const char* kCapsuleName = "mem_handler";
// Slots of NumPy's C API table (numpy/__multiarray_api.h), there from NumPy 1.22 (C API
// version 0xf) and fixed since.
constexpr std::size_t kSetHandlerSlot = 304, kGetHandlerSlot = 305, kDefaultHandlerSlot = 306;
constexpr unsigned kHandlerApiVersion = 0xf;

struct Block {
    void* data;
    std::size_t bytes;
};

struct State {
    PyObject* (*set_handler)(PyObject*) = nullptr;
    PyObject* (*get_handler)() = nullptr;
    PyObject* default_handler = nullptr;  // NumPy's, which lives as long as NumPy
    Allocator system{};                   // NumPy's default allocator, which ours wraps
    PyObject* capsule = nullptr;          // ours; nullptr: nothing is recycled
    // The handler is only called with the GIL held (NumPy allocates and frees array data
    // with it); the mutex is for an interpreter without one.
    std::mutex mutex;
    std::array<Block, kMaxRecycled> kept{};  // oldest first
    std::size_t count = 0, bytes = 0, reused = 0;
};
// Never destroyed: arrays that hold the handler may be freed while the interpreter exits.
State* const state = new State;

// The kept block of exactly `bytes`, the most recent first, taken out; nullptr when none.
void* take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(state->mutex);
    for (std::size_t i = state->count; i-- > 0;) {
        if (state->kept[i].bytes != bytes) continue;
        void* data = state->kept[i].data;
        for (std::size_t j = i; j + 1 < state->count; ++j) state->kept[j] = state->kept[j + 1];
        --state->count;
        state->bytes -= bytes;
        ++state->reused;
        return data;
    }
    return nullptr;
}

void* recycling_malloc(void* /*ctx*/, std::size_t size) {
    if (size >= kMinRecycledBytes) {
        if (void* data = take(size)) return data;
    }
    return state->system.malloc(state->system.ctx, size);
}

void* recycling_calloc(void* /*ctx*/, std::size_t nelem, std::size_t elsize) {
    return state->system.calloc(state->system.ctx, nelem, elsize);
}

void* recycling_realloc(void* /*ctx*/, void* ptr, std::size_t new_size) {
    return state->system.realloc(state->system.ctx, ptr, new_size);
}

// Keeps a large block, giving the oldest kept ones back to make room for it.
void recycling_free(void* /*ctx*/, void* ptr, std::size_t size) {
    std::array<Block, kMaxRecycled> evicted{};
    std::size_t num_evicted = 0;
    if (ptr != nullptr && size >= kMinRecycledBytes && size <= kMaxRecycledBytes) {
        std::lock_guard<std::mutex> lock(state->mutex);
        while (state->count == kMaxRecycled || state->bytes + size > kMaxRecycledBytes) {
            evicted[num_evicted++] = state->kept[0];
            state->bytes -= state->kept[0].bytes;
            for (std::size_t j = 1; j < state->count; ++j) state->kept[j - 1] = state->kept[j];
            --state->count;
        }
        state->kept[state->count++] = {ptr, size};
        state->bytes += size;
        ptr = nullptr;
    }
    for (std::size_t i = 0; i < num_evicted; ++i) {
        state->system.free(state->system.ctx, evicted[i].data, evicted[i].bytes);
    }
    if (ptr != nullptr) state->system.free(state->system.ctx, ptr, size);
}

Handler recycling_handler = {
    "numexpr3_recycling",
    1,
    {nullptr, recycling_malloc, recycling_calloc, recycling_realloc, recycling_free},
};

// Keeps the Python error indicator across a few calls of the C API.
class KeptError {
   public:
#if PY_VERSION_HEX >= 0x030C0000
    KeptError() : error_(PyErr_GetRaisedException()) {}
    ~KeptError() { PyErr_SetRaisedException(error_); }

   private:
    PyObject* error_;
#else
    KeptError() { PyErr_Fetch(&type_, &value_, &traceback_); }
    ~KeptError() { PyErr_Restore(type_, value_, traceback_); }

   private:
    PyObject *type_ = nullptr, *value_ = nullptr, *traceback_ = nullptr;
#endif
    KeptError(const KeptError&) = delete;
    KeptError& operator=(const KeptError&) = delete;
};

}  // namespace

void init_recycling() {
    if (py::detail::npy_api::get().PyArray_RUNTIME_VERSION_ < kHandlerApiVersion) return;
    const py::module_ multiarray = py::detail::import_numpy_core_submodule("multiarray");
    auto** api = static_cast<void**>(PyCapsule_GetPointer(multiarray.attr("_ARRAY_API").ptr(), nullptr));
    if (api == nullptr) throw py::error_already_set();
    state->set_handler = reinterpret_cast<PyObject* (*)(PyObject*)>(api[kSetHandlerSlot]);
    state->get_handler = reinterpret_cast<PyObject* (*)()>(api[kGetHandlerSlot]);
    state->default_handler = *static_cast<PyObject**>(api[kDefaultHandlerSlot]);
    const auto* numpy_handler = static_cast<const Handler*>(PyCapsule_GetPointer(state->default_handler, kCapsuleName));
    if (numpy_handler == nullptr) throw py::error_already_set();
    state->system = numpy_handler->allocator;
    state->capsule = PyCapsule_New(&recycling_handler, kCapsuleName, nullptr);
    if (state->capsule == nullptr) throw py::error_already_set();
}

RecyclingScope::RecyclingScope(std::size_t nbytes) {
    if (state->capsule == nullptr || nbytes < kMinRecycledBytes || nbytes > kMaxRecycledBytes) return;
    PyObject* current = state->get_handler();
    if (current == nullptr) {
        PyErr_Clear();
        return;
    }
    const bool numpy_default = current == state->default_handler;
    Py_DECREF(current);
    if (!numpy_default) return;
    previous_ = state->set_handler(state->capsule);
    if (previous_ == nullptr) PyErr_Clear();
}

RecyclingScope::~RecyclingScope() {
    if (previous_ == nullptr) return;
    const KeptError kept;  // NumPy's MemoryError, when the allocation failed
    PyObject* ours = state->set_handler(previous_);
    if (ours == nullptr) {
        PyErr_Clear();
    } else {
        Py_DECREF(ours);
    }
    Py_DECREF(previous_);
}

RecycledStats recycled_stats() {
    std::lock_guard<std::mutex> lock(state->mutex);
    return {state->count, state->bytes, state->reused};
}

std::size_t release_recycled() {
    std::array<Block, kMaxRecycled> released{};
    std::size_t count = 0, bytes = 0;
    {
        std::lock_guard<std::mutex> lock(state->mutex);
        released = state->kept;
        count = state->count;
        bytes = state->bytes;
        state->count = 0;
        state->bytes = 0;
    }
    for (std::size_t i = 0; i < count; ++i) state->system.free(state->system.ctx, released[i].data, released[i].bytes);
    return bytes;
}

}  // namespace ne3
