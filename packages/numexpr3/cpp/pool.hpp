// A persistent pool of worker threads that spin briefly, then sleep.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ne3 {

class ThreadPool {
   public:
    explicit ThreadPool(int nthreads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int num_threads() const { return nthreads_; }

    // Runs job(t) on up to n threads, the calling thread being t = 0, and returns when
    // every call has returned. A worker that is not awake by the time the caller's own
    // job(0) returns does not run at all, so a job must share its work out dynamically
    // (each call claims pieces until none are left). Returns false without running anything
    // when another caller holds the pool: that caller then runs serially instead of waiting.
    bool try_run(int n, const std::function<void(int)>& job);

   private:
    void worker(int id);

    int nthreads_;
    std::vector<std::thread> workers_;
    std::mutex busy_;  // held by the caller that owns the pool for one job

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable done_;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<int> active_{0};  // workers inside the current job
    const std::function<void(int)>* job_ = nullptr;
    int job_threads_ = 0;
    bool open_ = false;  // workers may still join the current job
    bool stop_ = false;
};

// The process-wide pool, rebuilt after fork (the child has no worker threads) and on
// a change of the thread count.
int get_num_threads();
int set_num_threads(int n);  // returns the previous count
int max_threads();
bool run_parallel(int n, const std::function<void(int)>& job);

}  // namespace ne3
