// Exact Fourier shift of a real image held as its rfft2 spectrum: a separable phase ramp.
#include <cmath>
#include <vector>

#include "kernels.hpp"
#include "parallel.hpp"

namespace zorro {
namespace {

// exp(-2 pi i k d / n) for the n frequencies of one axis in FFT order (k = 0, 1, ..., -1).
// At the Nyquist frequency of an even axis the factor is cos(pi d), its Hermitian-symmetric
// part, so the shifted image stays real (and integer shifts stay exact).
std::vector<std::complex<double>> ramp(std::size_t n, std::size_t count, double d) {
    const double pi = std::acos(-1.0);
    std::vector<std::complex<double>> r(count);
    for (std::size_t i = 0; i < count; ++i) {
        auto k = static_cast<double>(i);
        if (2 * i > n) k -= static_cast<double>(n);
        if (2 * i == n)
            r[i] = std::cos(pi * d);
        else
            r[i] = std::polar(1.0, -2.0 * pi * k * d / static_cast<double>(n));
    }
    return r;
}

// The separable ramp of a translation by (dy, dx) over an rfft2 spectrum (ny rows, nx/2+1
// columns), as float real and imaginary parts: plain float arithmetic vectorises, while
// std::complex's operator* checks for NaN/inf and does not.
struct Ramp {
    std::vector<float> y_re, y_im, x_re, x_im;
    Ramp(std::size_t ny, std::size_t nx, double dy, double dx) {
        split(ramp(ny, ny, dy), y_re, y_im);
        split(ramp(nx, nx / 2 + 1, dx), x_re, x_im);
    }
    static void split(const std::vector<std::complex<double>>& r, std::vector<float>& re, std::vector<float>& im) {
        for (const auto& v : r) {
            re.push_back(static_cast<float>(v.real()));
            im.push_back(static_cast<float>(v.imag()));
        }
    }
};

}  // namespace

void phase_shift(std::complex<float>* spectrum, std::size_t ny, std::size_t nx, double dy, double dx,
                 std::size_t threads) {
    std::size_t nxh = nx / 2 + 1;
    Ramp r(ny, nx, dy, dx);
    parallel_for(ny, threads, [&](std::size_t row) {
        auto* line = reinterpret_cast<float*>(spectrum + row * nxh);
        float ry = r.y_re[row], iy = r.y_im[row];
        for (std::size_t c = 0; c < nxh; ++c) {
            float fr = r.x_re[c] * ry - r.x_im[c] * iy, fi = r.x_re[c] * iy + r.x_im[c] * ry;
            float vr = line[2 * c], vi = line[2 * c + 1];
            line[2 * c] = vr * fr - vi * fi;
            line[2 * c + 1] = vr * fi + vi * fr;
        }
    });
}

void shift_accumulate(const std::complex<float>* spectrum, std::size_t ny, std::size_t nx, double dy, double dx,
                      std::complex<float>* plain, std::complex<float>* weighted, const float* weight,
                      std::size_t threads) {
    std::size_t nxh = nx / 2 + 1;
    Ramp r(ny, nx, dy, dx);
    // One pass over memory: the frame's spectrum is read once and each sum updated once.
    parallel_for(ny, threads, [&](std::size_t row) {
        std::size_t base = row * nxh;
        const auto* in = reinterpret_cast<const float*>(spectrum + base);
        auto* p = reinterpret_cast<float*>(plain + base);
        auto* q = reinterpret_cast<float*>(weighted + base);
        const float* w = weight + base;
        float ry = r.y_re[row], iy = r.y_im[row];
        for (std::size_t c = 0; c < nxh; ++c) {
            float fr = r.x_re[c] * ry - r.x_im[c] * iy, fi = r.x_re[c] * iy + r.x_im[c] * ry;
            float vr = in[2 * c] * fr - in[2 * c + 1] * fi, vi = in[2 * c] * fi + in[2 * c + 1] * fr;
            p[2 * c] += vr;
            p[2 * c + 1] += vi;
            q[2 * c] += vr * w[c];
            q[2 * c + 1] += vi * w[c];
        }
    });
}

}  // namespace zorro
