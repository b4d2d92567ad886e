// Chunks in c-blosc 1's format (version 2), the only one python-mrcz <= 0.6 with the
// `blosc` package (and every c-blosc 1 reader) can open. c-blosc2 reads this format but
// only writes version 5, so the layout is written here, over the shuffles and codecs
// the static c-blosc2 library already links (no second blosc library in the wheel):
//
//   16-byte header: version 2, codec format version 1, flags, typesize,
//                   nbytes, blocksize, cbytes (little-endian int32)
//   one int32 per block: the block's offset in the chunk
//   per block, one stream (or typesize streams when split): int32 size + codec output,
//   or the stream's bytes as they are when the size equals the stream's length.
//
// Unlike version 5 there are no run-length streams, and bitshuffle leaves a block whose
// element count is not a multiple of 8 as it is (the version-2 rule both readers follow).
#include <blosc2.h>

#include <climits>
#include <cstdint>
#include <cstring>

#include "kernels.hpp"
#include "parallel.hpp"

// The codec entry points c-blosc2 links statically (stable public APIs of lz4, zstd
// and zlib-ng; blosclz's compressor ignores its context argument).
extern "C" {
int LZ4_sizeofState(void);
int LZ4_compress_fast_extState(void* state, const char* src, char* dst, int src_size, int capacity, int acceleration);
int LZ4_sizeofStateHC(void);
int LZ4_compress_HC_extStateHC(void* state, const char* src, char* dst, int src_size, int capacity, int level);
struct ZSTD_CCtx_s;
ZSTD_CCtx_s* ZSTD_createCCtx(void);
std::size_t ZSTD_freeCCtx(ZSTD_CCtx_s* cctx);
std::size_t ZSTD_compressCCtx(ZSTD_CCtx_s* cctx, void* dst, std::size_t capacity, const void* src, std::size_t size,
                              int level);
unsigned ZSTD_isError(std::size_t code);
int ZSTD_maxCLevel(void);
std::int32_t zng_compress2(std::uint8_t* dst, std::size_t* dst_len, const std::uint8_t* src, std::size_t src_len,
                           std::int32_t level);
int blosclz_compress(int clevel, const void* input, int length, void* output, int maxout, void* ctx);
}

namespace mrcz {
namespace {

constexpr std::size_t header_bytes = BLOSC_MIN_HEADER_LENGTH;  // 16

void put32(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// c-blosc's codec number in bits 5-7 of the flags.
std::uint8_t codec_format(int codec) {
    switch (codec) {
        case BLOSC_BLOSCLZ:
            return BLOSC_BLOSCLZ_FORMAT;
        case BLOSC_LZ4:
        case BLOSC_LZ4HC:
            return BLOSC_LZ4_FORMAT;
        case BLOSC_ZLIB:
            return BLOSC_ZLIB_FORMAT;
        case BLOSC_ZSTD:
            return BLOSC_ZSTD_FORMAT;
        default:
            throw std::invalid_argument("codec " + std::to_string(codec) + " has no c-blosc 1 format");
    }
}

// Codes blocks into their streams: int32 size + codec output, or the bytes as they are.
// Holds one thread's codec state and filter buffer.
class BlockCoder {
   public:
    BlockCoder(const CompressParams& params, std::size_t blocksize)
        : p_(params), filtered_(new std::uint8_t[blocksize]) {  // never zeroed: always written first
        if (p_.codec == BLOSC_LZ4) state_.resize(static_cast<std::size_t>(LZ4_sizeofState()));
        if (p_.codec == BLOSC_LZ4HC) state_.resize(static_cast<std::size_t>(LZ4_sizeofStateHC()));
        if (p_.codec == BLOSC_ZSTD && !(zstd_ = ZSTD_createCCtx()))
            throw std::runtime_error("could not create a zstd context");
    }
    ~BlockCoder() {
        if (zstd_) ZSTD_freeCCtx(zstd_);
    }
    BlockCoder(const BlockCoder&) = delete;
    BlockCoder& operator=(const BlockCoder&) = delete;

    // Writes the block's `streams` streams to `out` (room for size + 4 * streams bytes);
    // returns the bytes written.
    std::size_t code(const std::uint8_t* block, std::size_t size, std::size_t streams, std::uint8_t flags,
                     std::uint8_t* out) {
        const std::uint8_t* in = filter(block, size, flags);
        std::size_t stream = size / streams, pos = 0;
        for (std::size_t s = 0; s < streams; ++s, in += stream) {
            // Compressed output must be shorter than the stream; a size equal to the
            // stream's length says its bytes follow as they are.
            std::size_t got = stream > 1 ? encode(in, stream, out + pos + 4, stream - 1) : 0;
            if (got == 0) {
                std::memcpy(out + pos + 4, in, stream);
                got = stream;
            }
            put32(out + pos, static_cast<std::uint32_t>(got));
            pos += 4 + got;
        }
        return pos;
    }

   private:
    const std::uint8_t* filter(const std::uint8_t* block, std::size_t size, std::uint8_t flags) {
        auto typesize = p_.typesize;
        auto n = static_cast<std::int32_t>(size);
        std::int32_t rc = 0;
        if (flags & BLOSC_DOSHUFFLE) {
            rc = blosc2_shuffle(typesize, n, block, filtered_.get());
        } else if (flags & BLOSC_DOBITSHUFFLE) {
            if ((size / static_cast<std::size_t>(typesize)) % 8) return block;  // version 2: left as it is
            rc = blosc2_bitshuffle(typesize, n, block, filtered_.get());
        } else {
            return block;
        }
        if (rc < 0) throw std::runtime_error("blosc shuffle failed (error " + std::to_string(rc) + ")");
        return filtered_.get();
    }

    // The codec's output size, or 0 when it does not fit in `room` bytes. Levels as
    // c-blosc maps its 1-9 onto each codec.
    std::size_t encode(const std::uint8_t* in, std::size_t size, std::uint8_t* out, std::size_t room) {
        auto src = reinterpret_cast<const char*>(in);
        auto dst = reinterpret_cast<char*>(out);
        int isize = static_cast<int>(size), iroom = static_cast<int>(room);
        int clevel = p_.clevel;
        switch (p_.codec) {
            case BLOSC_LZ4:
                return static_cast<std::size_t>(
                    std::max(0, LZ4_compress_fast_extState(state_.data(), src, dst, isize, iroom, 10 - clevel)));
            case BLOSC_LZ4HC:
                return static_cast<std::size_t>(
                    std::max(0, LZ4_compress_HC_extStateHC(state_.data(), src, dst, isize, iroom, clevel)));
            case BLOSC_BLOSCLZ:
                return static_cast<std::size_t>(std::max(0, blosclz_compress(clevel, in, isize, out, iroom, nullptr)));
            case BLOSC_ZLIB: {
                std::size_t len = room;
                return zng_compress2(out, &len, in, size, clevel) == 0 ? len : 0;
            }
            default: {  // zstd
                int level = clevel < 9 ? clevel * 2 - 1 : ZSTD_maxCLevel();
                if (clevel == 8) level = ZSTD_maxCLevel() - 2;
                std::size_t code = ZSTD_compressCCtx(zstd_, out, room, in, size, level);
                return ZSTD_isError(code) ? 0 : code;
            }
        }
    }

    CompressParams p_;
    std::unique_ptr<std::uint8_t[]> filtered_;
    std::vector<std::uint64_t> state_;  // lz4's, 8-byte aligned
    ZSTD_CCtx_s* zstd_ = nullptr;
};

class Blosc1Compressor final : public FrameCompressor {
   public:
    Blosc1Compressor(const CompressParams& params, std::int32_t blocksize, std::size_t threads)
        : p_(params), blocksize_(static_cast<std::size_t>(blocksize)) {
        codec_format(p_.codec);  // rejects a codec c-blosc 1 does not have
        for (std::size_t t = 0; t < std::max<std::size_t>(1, threads); ++t)
            coders_.push_back(std::make_unique<BlockCoder>(p_, blocksize_));
    }

    std::size_t compress(const std::uint8_t* src, std::size_t n, std::uint8_t* dest, std::size_t capacity) override {
        if (capacity < n + header_bytes) throw std::invalid_argument("chunk buffer too small");
        const auto typesize = static_cast<std::size_t>(p_.typesize);
        // Blocks hold whole elements; a frame smaller than one block is one block.
        std::size_t blocksize = std::min(n, std::max(typesize, blocksize_ / typesize * typesize));
        std::size_t nblocks = n ? (n + blocksize - 1) / blocksize : 0;
        // As c-blosc 1 decides it ("forward compatible"): streams per byte of the type,
        // except for zstd, which came with the flag that says so.
        bool split = p_.codec != BLOSC_ZSTD && typesize <= 16 && blocksize / typesize >= 128;
        std::uint8_t flags = static_cast<std::uint8_t>(codec_format(p_.codec) << 5);
        if (!split) flags |= 0x10;
        if (p_.filter == BLOSC_SHUFFLE && typesize > 1) flags |= BLOSC_DOSHUFFLE;
        if (p_.filter == BLOSC_BITSHUFFLE) flags |= BLOSC_DOBITSHUFFLE;
        auto block_size = [&](std::size_t b) { return std::min(blocksize, n - b * blocksize); };
        // The last, shorter block is never split (as in both c-blosc versions).
        auto streams = [&](std::size_t b) { return split && block_size(b) == blocksize ? typesize : 1; };

        std::size_t pos = p_.clevel > 0 && n
                              ? code_blocks(src, blocksize, nblocks, block_size, streams, flags, dest, capacity)
                              : SIZE_MAX;
        if (pos >= n + header_bytes) {  // incompressible (or clevel 0): the frame as it is
            flags |= BLOSC_MEMCPYED;
            std::memcpy(dest + header_bytes, src, n);
            pos = n + header_bytes;
        }
        dest[0] = BLOSC1_VERSION_FORMAT;
        dest[1] = 1;  // every codec's format version in c-blosc 1
        dest[2] = flags;
        dest[3] = static_cast<std::uint8_t>(typesize);
        put32(dest + 4, static_cast<std::uint32_t>(n));
        put32(dest + 8, static_cast<std::uint32_t>(blocksize));
        put32(dest + 12, static_cast<std::uint32_t>(pos));
        return pos;
    }

   private:
    // Writes the block offsets and blocks after the header; returns the chunk's size, or
    // SIZE_MAX when the blocks do not fit (the chunk is then a copy of the frame).
    template <class SizeOf, class StreamsOf>
    std::size_t code_blocks(const std::uint8_t* src, std::size_t blocksize, std::size_t nblocks, SizeOf block_size,
                            StreamsOf streams, std::uint8_t flags, std::uint8_t* dest, std::size_t capacity) {
        std::size_t pos = header_bytes + 4 * nblocks;
        std::size_t workers = std::min(coders_.size(), nblocks);
        if (workers <= 1) {  // straight into the chunk
            for (std::size_t b = 0; b < nblocks; ++b) {
                if (pos + block_size(b) + 4 * streams(b) > capacity) return SIZE_MAX;
                put32(dest + header_bytes + 4 * b, static_cast<std::uint32_t>(pos));
                pos += coders_[0]->code(src + b * blocksize, block_size(b), streams(b), flags, dest + pos);
            }
            return pos;
        }
        // A frame of several blocks with threads to spare (one large image): each block is
        // coded into its own slot of a scratch buffer, then the slots are put together.
        const std::size_t slot = blocksize + 4 * static_cast<std::size_t>(p_.typesize);
        if (scratch_size_ < nblocks * slot) {
            scratch_.reset(new std::uint8_t[nblocks * slot]);  // never zeroed: always written first
            scratch_size_ = nblocks * slot;
        }
        coded_.assign(nblocks, 0);
        run_workers(workers, [&](std::size_t w) {
            for (std::size_t b = w; b < nblocks; b += workers)
                coded_[b] =
                    coders_[w]->code(src + b * blocksize, block_size(b), streams(b), flags, &scratch_[b * slot]);
        });
        for (std::size_t b = 0; b < nblocks; ++b) {
            if (pos + coded_[b] > capacity) return SIZE_MAX;
            put32(dest + header_bytes + 4 * b, static_cast<std::uint32_t>(pos));
            std::memcpy(dest + pos, &scratch_[b * slot], coded_[b]);
            pos += coded_[b];
        }
        return pos;
    }

    CompressParams p_;
    std::size_t blocksize_;
    std::vector<std::unique_ptr<BlockCoder>> coders_;
    std::unique_ptr<std::uint8_t[]> scratch_;
    std::size_t scratch_size_ = 0;
    std::vector<std::size_t> coded_;
};

}  // namespace

std::unique_ptr<FrameCompressor> make_blosc1_compressor(const CompressParams& params, std::int32_t blocksize,
                                                        std::size_t threads) {
    return std::make_unique<Blosc1Compressor>(params, blocksize, threads);
}

}  // namespace mrcz
