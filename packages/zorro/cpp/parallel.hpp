// parallel_for: spread independent items over a few std::threads.
// mrcz's cpp/parallel.hpp is a sibling copy on purpose: the packages are published separately.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace zorro {

// Calls fn(i) for every i in [0, n), items handed out one at a time to `threads`
// threads (0 = one per hardware thread; the caller's thread is one of them). The first
// exception thrown by any call is rethrown after all threads finish.
template <class Fn>
void parallel_for(std::size_t n, std::size_t threads, Fn&& fn) {
    std::size_t hw = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    std::size_t count = std::max<std::size_t>(1, std::min(threads == 0 ? hw : threads, n));
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&] {
        try {
            for (std::size_t i = next++; i < n; i = next++) fn(i);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            next = n;
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < count; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
}

}  // namespace zorro
