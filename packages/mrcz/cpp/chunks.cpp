// The MRCZ data section: one blosc chunk per frame, back to back. Frames are
// compressed and decompressed on worker threads, each with its own c-blosc2 context
// (no process-wide blosc state), while the calling thread does the file I/O.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE  // sync_file_range
#endif
#include <blosc2.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>

#include "kernels.hpp"
#include "parallel.hpp"

#ifdef _WIN32
#include <io.h>
#include <windows.h>
#else
#include <fcntl.h>
#include <unistd.h>

#endif

namespace mrcz {
namespace {

// Blosc block size per codec, from measurements through this pipeline on a 2-core VM
// (16 frames of a 4096^2 Poisson(1) uint8 counting movie, bitshuffle, clevel 1, 2 threads;
// compress / decompress GB/s and ratio at 64 KiB, 256 KiB, 1 MiB blocks):
//   zstd     1.02 / 1.08 / 3.789   1.06 / 1.19 / 3.825   1.08 / 1.48 / 3.941
//   lz4      1.78 / 1.67 / 3.229   1.88 / 1.77 / 3.293   1.97 / 1.79 / 3.313
//   lz4hc    1.19 / 1.75 / 3.342   1.33 / 1.70 / 3.373   1.42 / 1.75 / 3.388
//   blosclz  0.89 / 1.57 / 3.116   0.87 / 1.50 / 3.130   0.82 / 1.28 / 3.133
//   zlib     0.52 / 0.95 / 3.256   0.41 / 0.94 / 3.266   0.38 / 0.92 / 3.272
// zstd gains from long blocks (its window spans them): on a float32 gain-normalised
// movie 1 MiB also gave 0.69 / 1.05 GB/s and ratio 1.381 against 0.66 / 0.87 / 1.307 at
// 256 KiB. lz4 on that movie was best at 256 KiB (1.24 / 1.61 against 1.20 / 1.32 at
// 1 MiB), so it keeps 256 KiB, within 5 % of the best on both. blosclz and zlib stay at
// python-mrcz's 64 KiB. The same block sizes serve both chunk formats (blosc1.cpp writes
// version 2); python-mrcz 0.6 reads either whatever the block size (see the interop samples).
std::int32_t block_size_for(int codec) {
    switch (codec) {
        case BLOSC_ZSTD:
        case BLOSC_LZ4HC:
            return 1 << 20;
        case BLOSC_LZ4:
            return 1 << 18;
        default:
            return 1 << 16;
    }
}

std::string at(std::size_t frame, std::int64_t offset) {
    return "frame " + std::to_string(frame) + " (chunk at byte " + std::to_string(offset) + ")";
}

#ifdef _WIN32
OVERLAPPED overlapped_at(std::int64_t pos) {
    OVERLAPPED ov{};
    ov.Offset = static_cast<DWORD>(pos & 0xffffffff);
    ov.OffsetHigh = static_cast<DWORD>(pos >> 32);
    return ov;
}
HANDLE handle_of(int fd) { return reinterpret_cast<HANDLE>(_get_osfhandle(fd)); }
#endif

// Reads exactly `n` bytes at `offset`; returns how many bytes the file had there.
std::size_t read_at(int fd, void* buf, std::size_t n, std::int64_t offset) {
    std::size_t done = 0;
    while (done < n) {
        std::int64_t pos = offset + static_cast<std::int64_t>(done);
#ifdef _WIN32
        OVERLAPPED ov = overlapped_at(pos);
        DWORD want = static_cast<DWORD>(std::min<std::size_t>(n - done, 1u << 30)), got = 0;
        if (!ReadFile(handle_of(fd), static_cast<char*>(buf) + done, want, &got, &ov)) {
            if (GetLastError() == ERROR_HANDLE_EOF) break;
            throw IoError(EIO, "read failed");
        }
#else
        ssize_t got = ::pread(fd, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(pos));
        if (got < 0) {
            if (errno == EINTR) continue;
            throw IoError(errno, std::string("read failed: ") + std::strerror(errno));
        }
#endif
        if (got == 0) break;
        done += static_cast<std::size_t>(got);
    }
    return done;
}

void write_at(int fd, const void* buf, std::size_t n, std::int64_t offset) {
    std::size_t done = 0;
    while (done < n) {
        std::int64_t pos = offset + static_cast<std::int64_t>(done);
#ifdef _WIN32
        OVERLAPPED ov = overlapped_at(pos);
        DWORD want = static_cast<DWORD>(std::min<std::size_t>(n - done, 1u << 30)), put = 0;
        if (!WriteFile(handle_of(fd), static_cast<const char*>(buf) + done, want, &put, &ov))
            throw IoError(EIO, "write failed");
#else
        ssize_t put = ::pwrite(fd, static_cast<const char*>(buf) + done, n - done, static_cast<off_t>(pos));
        if (put < 0) {
            if (errno == EINTR) continue;
            throw IoError(errno, std::string("write failed: ") + std::strerror(errno));
        }
#endif
        done += static_cast<std::size_t>(put);
    }
}

// Ask the kernel to start writing a finished chunk to disk now, so the fsync that
// commits the file overlaps with compressing the next frames (Linux only; a hint).
void start_writeback(int fd, std::int64_t offset, std::size_t n) {
#ifdef __linux__
    (void)::sync_file_range(fd, static_cast<off64_t>(offset), static_cast<off64_t>(n), SYNC_FILE_RANGE_WRITE);
#else
    (void)fd, (void)offset, (void)n;
#endif
}

// Forces the file's data written so far to disk (fdatasync), so that the fsync which
// commits the file later has little left to do.
void sync_data(int fd) {
#ifdef _WIN32
    if (_commit(fd) != 0) throw IoError(errno, "flushing the file to disk failed");
#else
#ifdef __linux__
    int rc = ::fdatasync(fd);
#else
    int rc = ::fsync(fd);
#endif
    if (rc != 0 && errno != EINVAL)  // EINVAL: a file that cannot be synced (a pipe, /dev/null)
        throw IoError(errno, std::string("flushing the file to disk failed: ") + std::strerror(errno));
#endif
}

std::uint32_t le32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void check_frame_size(std::size_t frame_bytes) {
    if (frame_bytes + BLOSC2_MAX_OVERHEAD > static_cast<std::size_t>(BLOSC2_MAX_BUFFERSIZE))
        throw std::invalid_argument("a frame of " + std::to_string(frame_bytes) +
                                    " bytes is larger than one blosc chunk can hold (2 GiB)");
}

struct ContextDeleter {
    void operator()(blosc2_context* c) const { blosc2_free_ctx(c); }
};
using Context = std::unique_ptr<blosc2_context, ContextDeleter>;

// Version-5 chunks, written by c-blosc2 (which may split a frame over `inner_threads`).
class Blosc2Compressor final : public FrameCompressor {
   public:
    Blosc2Compressor(const CompressParams& params, int inner_threads) {
        blosc2_cparams cp = BLOSC2_CPARAMS_DEFAULTS;
        cp.compcode = static_cast<std::uint8_t>(params.codec);
        cp.clevel = static_cast<std::uint8_t>(params.clevel);
        cp.typesize = params.typesize;
        cp.nthreads = static_cast<std::int16_t>(inner_threads);
        cp.blocksize = block_size_for(params.codec);
        for (auto& f : cp.filters) f = BLOSC_NOFILTER;
        cp.filters[BLOSC2_MAX_FILTERS - 1] = static_cast<std::uint8_t>(params.filter);
        ctx_.reset(blosc2_create_cctx(cp));
        if (!ctx_) throw std::runtime_error("could not create a blosc2 compression context");
    }
    std::size_t compress(const std::uint8_t* src, std::size_t n, std::uint8_t* dest, std::size_t capacity) override {
        int got = blosc2_compress_ctx(ctx_.get(), src, static_cast<std::int32_t>(n), dest,
                                      static_cast<std::int32_t>(capacity));
        if (got <= 0) throw std::runtime_error("blosc2 failed to compress a frame (error " + std::to_string(got) + ")");
        return static_cast<std::size_t>(got);
    }

   private:
    Context ctx_;
};

std::unique_ptr<FrameCompressor> make_compressor(const CompressParams& params, int inner_threads) {
    if (params.chunk_format == 5) return std::make_unique<Blosc2Compressor>(params, inner_threads);
    return make_blosc1_compressor(params, block_size_for(params.codec), static_cast<std::size_t>(inner_threads));
}

}  // namespace

void write_data(int fd, std::int64_t offset, const std::uint8_t* data, std::size_t n) {
    // Pieces of 16 MiB, each handed to the kernel's writeback as soon as it is in the
    // page cache: the disk starts at once instead of when the dirty-page limits force it
    // (a 671 MB write + fsync on a 2-core VM: 1.06 s against 1.46 s in one write).
    constexpr std::size_t piece = std::size_t{16} << 20;
    for (std::size_t done = 0; done < n; done += piece) {
        std::size_t size = std::min(piece, n - done);
        auto pos = offset + static_cast<std::int64_t>(done);
        write_at(fd, data + done, size, pos);
        start_writeback(fd, pos, size);
    }
}

std::vector<std::int64_t> write_compressed(int fd, std::int64_t offset, const std::uint8_t* frames, std::size_t nframes,
                                           std::size_t frame_bytes, const CompressParams& params,
                                           const Kind* stats_kind, Stats* stats) {
    check_frame_size(frame_bytes);
    std::size_t total_threads = worker_count(params.threads, SIZE_MAX);
    std::size_t workers = worker_count(total_threads, nframes);
    // Few frames: let blosc split each frame over the threads the frames leave idle.
    int inner_threads = static_cast<int>(std::max<std::size_t>(1, total_threads / workers));
    const std::size_t window = 2 * workers;  // frames compressed ahead of the writer
    const std::size_t capacity = frame_bytes + BLOSC2_MAX_OVERHEAD;

    // Chunk buffers: a ring of `window`, allocated once and never zeroed. Frame i goes to
    // buffer i % window, which the writer has finished with once frame i - window is written.
    std::vector<std::unique_ptr<std::uint8_t[]>> buffers(std::min(window, nframes));
    std::vector<std::int64_t> sizes(nframes, 0);  // 0 until the chunk is ready
    std::vector<Stats> frame_stats(stats_kind ? nframes : 0);
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t next = 0, written = 0;
    bool failed = false;

    auto compress_loop = [&]() {
        auto compressor = make_compressor(params, inner_threads);
        for (;;) {
            std::size_t i;
            std::uint8_t* chunk;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] { return failed || next >= nframes || next < written + window; });
                if (failed || next >= nframes) return;
                i = next++;
                auto& buffer = buffers[i % buffers.size()];
                if (!buffer) buffer.reset(new std::uint8_t[capacity]);
                chunk = buffer.get();
            }
            const std::uint8_t* src = frames + i * frame_bytes;
            if (stats_kind)
                frame_stats[i] = stats_of(src, frame_bytes / static_cast<std::size_t>(params.typesize), *stats_kind);
            std::size_t n = compressor->compress(src, frame_bytes, chunk, capacity);
            std::lock_guard<std::mutex> lock(mutex);
            sizes[i] = static_cast<std::int64_t>(n);
            changed.notify_all();
        }
    };
    auto guarded = [&]() {
        try {
            compress_loop();
        } catch (...) {
            std::lock_guard<std::mutex> lock(mutex);
            failed = true;
            changed.notify_all();
            throw;
        }
    };

    std::exception_ptr error;
    std::vector<std::thread> threads;
    std::mutex error_mutex;
    for (std::size_t w = 0; w < workers; ++w)
        threads.emplace_back([&] {
            try {
                guarded();
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex);
                if (!error) error = std::current_exception();
            }
        });
    // The calling thread writes finished chunks in frame order.
    try {
        std::int64_t pos = offset;
        std::size_t unsynced = 0;
        for (std::size_t i = 0; i < nframes; ++i) {
            const std::uint8_t* chunk;
            std::size_t n;
            {
                std::unique_lock<std::mutex> lock(mutex);
                changed.wait(lock, [&] { return failed || sizes[i] > 0; });
                if (failed) break;
                chunk = buffers[i % buffers.size()].get();
                n = static_cast<std::size_t>(sizes[i]);
            }
            write_at(fd, chunk, n, pos);
            start_writeback(fd, pos, n);
            pos += sizes[i];
            {
                // The buffer is free again: a worker may reuse it while this thread syncs.
                std::lock_guard<std::mutex> lock(mutex);
                written = i + 1;
                changed.notify_all();
            }
            unsynced += n;
            if (params.sync_bytes && unsynced >= params.sync_bytes && i + 1 < nframes) {
                sync_data(fd);
                unsynced = 0;
            }
        }
    } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        failed = true;
        changed.notify_all();
        std::lock_guard<std::mutex> elock(error_mutex);
        if (!error) error = std::current_exception();
    }
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
    if (stats) {
        *stats = Stats{};
        for (const auto& s : frame_stats) stats->merge(s);
    }
    return sizes;
}

void scan_chunks(int fd, std::int64_t start, std::size_t nframes, std::int64_t file_size, std::size_t frame_bytes,
                 std::vector<std::int64_t>& offsets, std::vector<std::int64_t>& sizes) {
    offsets.assign(nframes, 0);
    sizes.assign(nframes, 0);
    std::int64_t pos = start;
    for (std::size_t i = 0; i < nframes; ++i) {
        std::uint8_t head[16];
        if (pos + 16 > file_size || read_at(fd, head, 16, pos) < 16)
            throw ChunkError(at(i, pos) + ": the file ends before this chunk's header");
        int version = head[0];
        if (version < 2 || version > 5)
            throw ChunkError(at(i, pos) + ": not a blosc chunk (format version byte is " + std::to_string(version) +
                             ", expected 2 to 5)");
        std::uint32_t nbytes = le32(head + 4), cbytes = le32(head + 12);
        if (nbytes != frame_bytes)
            throw ChunkError(at(i, pos) + ": the chunk holds " + std::to_string(nbytes) + " bytes but a frame is " +
                             std::to_string(frame_bytes) + " bytes");
        std::uint32_t min_size = version >= 3 ? BLOSC_EXTENDED_HEADER_LENGTH : BLOSC_MIN_HEADER_LENGTH;
        if (cbytes < min_size)
            throw ChunkError(at(i, pos) + ": compressed size " + std::to_string(cbytes) + " is impossible");
        if (pos + static_cast<std::int64_t>(cbytes) > file_size)
            throw ChunkError(at(i, pos) + ": the chunk needs " + std::to_string(cbytes) + " bytes but the file ends " +
                             std::to_string(file_size - pos) + " bytes later");
        offsets[i] = pos;
        sizes[i] = cbytes;
        pos += cbytes;
    }
}

void read_compressed(int fd, const std::vector<std::int64_t>& offsets, const std::vector<std::int64_t>& sizes,
                     std::uint8_t* out, std::size_t frame_bytes, std::size_t threads) {
    const std::size_t nframes = offsets.size();
    check_frame_size(frame_bytes);
    std::size_t total_threads = worker_count(threads, SIZE_MAX);
    std::size_t workers = worker_count(total_threads, nframes);
    int inner_threads = static_cast<int>(std::max<std::size_t>(1, total_threads / workers));
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    run_workers(workers, [&](std::size_t) {
        blosc2_dparams dp = BLOSC2_DPARAMS_DEFAULTS;
        dp.nthreads = static_cast<std::int16_t>(inner_threads);
        Context ctx(blosc2_create_dctx(dp));
        if (!ctx) throw std::runtime_error("could not create a blosc2 decompression context");
        std::vector<std::uint8_t> chunk;
        for (std::size_t i = next++; i < nframes && !failed; i = next++) {
            try {
                auto size = static_cast<std::size_t>(sizes[i]);
                chunk.resize(size);
                if (read_at(fd, chunk.data(), size, offsets[i]) < size)
                    throw ChunkError(at(i, offsets[i]) + ": the file ends inside this chunk");
                std::int32_t nbytes = 0, cbytes = 0, blocksize = 0;
                if (blosc2_cbuffer_sizes(chunk.data(), &nbytes, &cbytes, &blocksize) < 0 ||
                    static_cast<std::size_t>(nbytes) != frame_bytes || static_cast<std::size_t>(cbytes) != size)
                    throw ChunkError(at(i, offsets[i]) + ": the chunk header is damaged");
                int n = blosc2_decompress_ctx(ctx.get(), chunk.data(), static_cast<std::int32_t>(size),
                                              out + i * frame_bytes, static_cast<std::int32_t>(frame_bytes));
                if (n < 0 || static_cast<std::size_t>(n) != frame_bytes)
                    throw ChunkError(at(i, offsets[i]) + ": the compressed data are damaged (blosc2 error " +
                                     std::to_string(n) + ")");
            } catch (...) {
                failed = true;
                throw;
            }
        }
    });
}

}  // namespace mrcz
