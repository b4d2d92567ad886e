#include "pool.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#endif

namespace ne3 {
namespace {

// Spinning this long before sleeping lets back-to-back evaluations find their workers
// awake, without burning a core for long when idle.
constexpr std::chrono::microseconds kSpinTime{50};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#else
    std::this_thread::yield();
#endif
}

// Spins until pred() holds or kSpinTime has passed; returns pred().
template <class Pred>
bool spin_until(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (pred()) return true;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() > deadline) return pred();
    }
}

}  // namespace

ThreadPool::ThreadPool(int nthreads) : nthreads_(nthreads) {
    for (int id = 1; id < nthreads_; ++id) workers_.emplace_back([this, id] { worker(id); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int id) {
    std::uint64_t seen = 0;
    for (;;) {
        spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
        const std::function<void(int)>* job;
        {
            // The generation and its job are read together, under the lock that publishes
            // them; a job already closed by its caller is skipped, never touched.
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load() != seen; });
            if (stop_) return;
            seen = generation_.load();
            if (!open_ || id >= job_threads_) continue;
            job = job_;
            active_.fetch_add(1, std::memory_order_relaxed);
        }
        (*job)(id);
        if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mutex_);
            done_.notify_one();
        }
    }
}

bool ThreadPool::try_run(int n, const std::function<void(int)>& job) {
    n = std::min(n, nthreads_);
    if (n <= 1) {
        job(0);
        return true;
    }
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &job;
        job_threads_ = n;
        open_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    job(0);
    // The caller has claimed every piece of work it found; workers that have not started
    // by now (asleep, or preempted on a busy machine) must not start: close the job, then
    // wait only for those already inside it.
    {
        std::lock_guard<std::mutex> lock(mutex_);
        open_ = false;
    }
    if (!spin_until([&] { return active_.load(std::memory_order_acquire) == 0; })) {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return active_.load() == 0; });
    }
    return true;
}

namespace {

int read_max_threads() {
    const char* env = std::getenv("NUMEXPR_MAX_THREADS");
    if (env != nullptr && *env != '\0') {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v >= 1) return static_cast<int>(std::min(v, 4096L));
    }
    return 64;
}

struct PoolState {
    std::mutex mutex;  // guards pool replacement
    std::shared_ptr<ThreadPool> pool;
    int nthreads = 1;
};

PoolState* state = new PoolState;  // never destroyed: workers may outlive static destruction

#if defined(__unix__) || defined(__APPLE__)
void after_fork_in_child() {
    // The child has only the forking thread: forget the parent's workers (their
    // std::thread objects cannot be joined here) and start afresh on next use.
    new (&state->pool) std::shared_ptr<ThreadPool>();  // leaks the parent's pool on purpose
    new (&state->mutex) std::mutex();
}
[[maybe_unused]] const int fork_handler_installed = pthread_atfork(nullptr, nullptr, after_fork_in_child);
#endif

std::shared_ptr<ThreadPool> current_pool() {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (!state->pool || state->pool->num_threads() != state->nthreads) {
        state->pool = std::make_shared<ThreadPool>(state->nthreads);
    }
    return state->pool;
}

}  // namespace

int max_threads() {
    static const int cap = read_max_threads();
    return cap;
}

int get_num_threads() {
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->nthreads;
}

int set_num_threads(int n) {
    std::lock_guard<std::mutex> lock(state->mutex);
    const int old = state->nthreads;
    state->nthreads = std::clamp(n, 1, max_threads());
    return old;
}

bool run_parallel(int n, const std::function<void(int)>& job) {
    // Holding a reference keeps the pool alive while a concurrent set_num_threads
    // replaces it.
    const std::shared_ptr<ThreadPool> pool = current_pool();
    return pool->try_run(n, job);
}

}  // namespace ne3
