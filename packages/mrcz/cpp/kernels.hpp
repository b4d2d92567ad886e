// Declarations of the C++ kernels bound in module.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace mrcz {

// Element types the kernels understand; the codes are chosen by the Python side.
enum class Kind { i8, u8, i16, u16, i32, u32, f32, f64 };

// Running statistics of a block of data, with a shift that keeps the sum of squares
// accurate when the mean is far from zero.
struct Stats {
    double min = 0, max = 0;
    double shift = 0, sum = 0, sumsq = 0;  // sums of (x - shift) and (x - shift)^2
    std::uint64_t count = 0;
    bool has_nan = false;
    void merge(const Stats& other);
};

Stats stats_of(const void* data, std::size_t count, Kind kind);
Stats parallel_stats(const void* data, std::size_t count, Kind kind, std::size_t threads);

// A problem with one compressed frame of a file (raised to Python as ChunkError).
struct ChunkError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A failed read or write of the file, with its errno (raised to Python as OSError).
struct IoError : std::runtime_error {
    int code;
    IoError(int error_code, const std::string& message) : std::runtime_error(message), code(error_code) {}
};

struct CompressParams {
    int codec = 5;  // BLOSC_ZSTD
    int clevel = 1;
    int filter = 2;  // BLOSC_BITSHUFFLE
    int typesize = 1;
    std::size_t threads = 0;
    std::size_t sync_bytes = 0;  // fdatasync after each this many bytes written (0: never)
    int chunk_format = 2;        // 2: c-blosc 1's chunks (every MRCZ reader); 5: c-blosc2's
};

// Compresses one frame into one blosc chunk. Each worker thread has its own, with its
// own codec state.
class FrameCompressor {
   public:
    virtual ~FrameCompressor() = default;
    // Writes the chunk to `dest` (at least n + BLOSC2_MAX_OVERHEAD bytes); returns its size.
    virtual std::size_t compress(const std::uint8_t* src, std::size_t n, std::uint8_t* dest, std::size_t capacity) = 0;
};

// Version-2 chunks (blosc1.cpp) in blocks of `blocksize` bytes, a frame's blocks coded on
// up to `threads` threads.
std::unique_ptr<FrameCompressor> make_blosc1_compressor(const CompressParams& params, std::int32_t blocksize,
                                                        std::size_t threads);

// Writes `n` bytes at `offset`, starting the disk write of each piece as it goes.
void write_data(int fd, std::int64_t offset, const std::uint8_t* data, std::size_t n);

// Compresses `nframes` frames of `frame_bytes` each and writes the chunks back to back
// to `fd` from byte `offset` while later frames are still being compressed. Returns each
// chunk's size. When `stats_kind` is given, `stats` receives the data's statistics,
// computed in the same pass. With `params.sync_bytes`, the writing thread flushes the
// data to disk every so often while the workers go on compressing, so that a caller's
// final fsync has only the last chunks left to flush.
std::vector<std::int64_t> write_compressed(int fd, std::int64_t offset, const std::uint8_t* frames, std::size_t nframes,
                                           std::size_t frame_bytes, const CompressParams& params,
                                           const Kind* stats_kind, Stats* stats);

// Walks the chunk headers of `nframes` chunks from byte `start`, checking each against
// the file size and the expected frame size; returns the chunk offsets and sizes.
void scan_chunks(int fd, std::int64_t start, std::size_t nframes, std::int64_t file_size, std::size_t frame_bytes,
                 std::vector<std::int64_t>& offsets, std::vector<std::int64_t>& sizes);

// Reads and decompresses the given chunks into consecutive frames of `out`.
void read_compressed(int fd, const std::vector<std::int64_t>& offsets, const std::vector<std::int64_t>& sizes,
                     std::uint8_t* out, std::size_t frame_bytes, std::size_t threads);

// 4-bit data: `rows` rows of `nx` values, each row padded to whole bytes.
void pack_nibbles(const std::uint8_t* values, std::uint8_t* packed, std::size_t rows, std::size_t nx, bool high_first,
                  std::size_t threads);
void unpack_nibbles(const std::uint8_t* packed, std::uint8_t* values, std::size_t rows, std::size_t nx, bool high_first,
                    std::size_t threads);

void byteswap_inplace(void* data, std::size_t count, std::size_t itemsize, std::size_t threads);

}  // namespace mrcz
