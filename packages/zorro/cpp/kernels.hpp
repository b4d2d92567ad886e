// zorro's compiled kernels: the loops that neither scipy.fft nor numexpr3 do well.
// Every function works on raw pointers and is called with the GIL released.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>

namespace zorro {

// Result of the peak search in one correlation map.
struct Peak {
    double dy = 0, dx = 0;    // sub-pixel position relative to the map centre
    double significance = 0;  // (max - mean) / std of the background (map without the peak)
    double sigma = 0;         // Gaussian blur (map pixels) that located the peak best
    double error = 0;         // expected localisation error (map pixels; infinite if no fit)
};

// For each of `n` maps of h x w (float32, centre at (h/2, w/2)): blur with each of the
// `nsigma` Gaussian widths, find the maximum inside the disc of `radius` around the centre
// (the centre pixel left out when exclude_origin) and fit its sub-pixel position. Of the
// widths whose peak significance (against the background, the map beyond 3 + 2 sigma
// pixels from the peak) is at least 0.8 of the best, keep the one whose fit is expected to
// be most precise: the background's pixel-to-pixel slope over the peak's curvature.
void find_peaks(const float* maps, std::size_t n, std::size_t h, std::size_t w, double radius, const double* sigmas,
                std::size_t nsigma, bool exclude_origin, Peak* out, std::size_t threads);

// Multiplies an rfft2 spectrum (ny rows, nx/2+1 columns, of a real ny x nx image) by the
// phase ramp that translates the image by (dy, dx) pixels, in place.
void phase_shift(std::complex<float>* spectrum, std::size_t ny, std::size_t nx, double dy, double dx,
                 std::size_t threads);

// Translates the spectrum as phase_shift does (without changing it) and adds the result to
// `plain` and, multiplied by the real `weight` (same shape), to `weighted`.
void shift_accumulate(const std::complex<float>* spectrum, std::size_t ny, std::size_t nx, double dy, double dx,
                      std::complex<float>* plain, std::complex<float>* weighted, const float* weight,
                      std::size_t threads);

// Replaces every pixel of `image` (h x w) whose `bad` flag is set by the mean of the good
// pixels in the smallest square window around it that holds any. Returns how many pixels
// had no good neighbour within max_radius (they are set to 0).
std::size_t repair_pixels(float* image, const std::uint8_t* bad, std::size_t h, std::size_t w, std::size_t max_radius,
                          std::size_t threads);

}  // namespace zorro
