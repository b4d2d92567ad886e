// Defect and hot-pixel repair: flagged pixels take the mean of their nearest good neighbours.
#include <vector>

#include "kernels.hpp"
#include "parallel.hpp"

namespace zorro {

std::size_t repair_pixels(float* image, const std::uint8_t* bad, std::size_t h, std::size_t w, std::size_t max_radius,
                          std::size_t threads) {
    std::vector<std::size_t> flagged;
    for (std::size_t i = 0; i < h * w; ++i)
        if (bad[i]) flagged.push_back(i);
    // Only flagged pixels are written and only good ones read, so the items are independent.
    std::vector<std::uint8_t> unrepaired(flagged.size(), 0);
    const std::size_t chunk = 4096;
    parallel_for((flagged.size() + chunk - 1) / chunk, threads, [&](std::size_t part) {
        std::size_t end = std::min(flagged.size(), (part + 1) * chunk);
        for (std::size_t f = part * chunk; f < end; ++f) {
            std::size_t y = flagged[f] / w, x = flagged[f] % w;
            double sum = 0;
            std::size_t count = 0;
            for (std::size_t r = 1; r <= max_radius && count == 0; ++r) {
                std::size_t y0 = y >= r ? y - r : 0, y1 = std::min(h - 1, y + r);
                std::size_t x0 = x >= r ? x - r : 0, x1 = std::min(w - 1, x + r);
                for (std::size_t yy = y0; yy <= y1; ++yy)
                    for (std::size_t xx = x0; xx <= x1; ++xx)
                        if (!bad[yy * w + xx]) {
                            sum += image[yy * w + xx];
                            ++count;
                        }
            }
            image[flagged[f]] = count ? static_cast<float>(sum / static_cast<double>(count)) : 0.0f;
            unrepaired[f] = count == 0;
        }
    });
    std::size_t missing = 0;
    for (auto u : unrepaired) missing += u;
    return missing;
}

}  // namespace zorro
