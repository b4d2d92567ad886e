// Mode 101: two 4-bit values per byte, each row padded to a whole byte.
#include "kernels.hpp"
#include "parallel.hpp"

namespace mrcz {

void pack_nibbles(const std::uint8_t* values, std::uint8_t* packed, std::size_t rows, std::size_t nx, bool high_first,
                  std::size_t threads) {
    const std::size_t row_bytes = (nx + 1) / 2;
    const unsigned first_shift = high_first ? 4 : 0, second_shift = high_first ? 0 : 4;
    std::size_t workers = worker_count(threads, std::max<std::size_t>(1, rows * nx / (1 << 20)));
    run_workers(workers, [&](std::size_t w) {
        auto [b, e] = split_range(rows, workers, w);
        for (std::size_t r = b; r < e; ++r) {
            const std::uint8_t* in = values + r * nx;
            std::uint8_t* out = packed + r * row_bytes;
            std::uint8_t too_big = 0;
            for (std::size_t i = 0; i < nx / 2; ++i) {
                std::uint8_t a = in[2 * i], c = in[2 * i + 1];
                too_big |= static_cast<std::uint8_t>((a | c) & 0xf0u);
                out[i] = static_cast<std::uint8_t>((a << first_shift) | (c << second_shift));
            }
            if (nx % 2) {
                std::uint8_t a = in[nx - 1];
                too_big |= static_cast<std::uint8_t>(a & 0xf0u);
                out[row_bytes - 1] = static_cast<std::uint8_t>((a & 0x0fu) << first_shift);
            }
            if (too_big)
                throw std::invalid_argument("row " + std::to_string(r) +
                                            " holds a value above 15, which 4-bit mode 101 cannot store");
        }
    });
}

void unpack_nibbles(const std::uint8_t* packed, std::uint8_t* values, std::size_t rows, std::size_t nx, bool high_first,
                    std::size_t threads) {
    const std::size_t row_bytes = (nx + 1) / 2;
    const unsigned first_shift = high_first ? 4 : 0, second_shift = high_first ? 0 : 4;
    std::size_t workers = worker_count(threads, std::max<std::size_t>(1, rows * nx / (1 << 20)));
    run_workers(workers, [&](std::size_t w) {
        auto [b, e] = split_range(rows, workers, w);
        for (std::size_t r = b; r < e; ++r) {
            const std::uint8_t* in = packed + r * row_bytes;
            std::uint8_t* out = values + r * nx;
            for (std::size_t i = 0; i < nx / 2; ++i) {
                out[2 * i] = static_cast<std::uint8_t>((in[i] >> first_shift) & 0x0fu);
                out[2 * i + 1] = static_cast<std::uint8_t>((in[i] >> second_shift) & 0x0fu);
            }
            if (nx % 2) out[nx - 1] = static_cast<std::uint8_t>((in[row_bytes - 1] >> first_shift) & 0x0fu);
        }
    });
}

}  // namespace mrcz
