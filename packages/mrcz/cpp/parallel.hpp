// Small helpers shared by the kernels: splitting work over a few std::threads.
// zorro's cpp/parallel.hpp is a sibling copy on purpose: the packages are published separately.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mrcz {

// Number of worker threads to use for `work_items` items when the caller asked for
// `requested` (0 = all hardware threads). Never more threads than items.
inline std::size_t worker_count(std::size_t requested, std::size_t work_items) {
    std::size_t hw = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    std::size_t n = requested == 0 ? hw : requested;
    return std::max<std::size_t>(1, std::min(n, work_items));
}

// Runs fn(worker_index) on `workers` threads (the calling thread is worker 0) and
// rethrows the first exception any of them raised.
template <class Fn>
void run_workers(std::size_t workers, Fn&& fn) {
    std::exception_ptr first_error;
    std::mutex error_mutex;
    auto guarded = [&](std::size_t w) {
        try {
            fn(w);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(workers > 0 ? workers - 1 : 0);
    for (std::size_t w = 1; w < workers; ++w) threads.emplace_back(guarded, w);
    guarded(0);
    for (auto& t : threads) t.join();
    if (first_error) std::rethrow_exception(first_error);
}

// Splits [0, n) into `parts` contiguous ranges; returns the [begin, end) of part `i`.
inline std::pair<std::size_t, std::size_t> split_range(std::size_t n, std::size_t parts, std::size_t i) {
    std::size_t base = n / parts, extra = n % parts;
    std::size_t begin = i * base + std::min(i, extra);
    return {begin, begin + base + (i < extra ? 1 : 0)};
}

}  // namespace mrcz
