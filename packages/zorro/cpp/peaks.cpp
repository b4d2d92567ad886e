// Batched peak search in correlation maps: per-map Gaussian low-pass chosen to maximise
// the peak significance, then an unbiased sub-pixel fit that can leave the origin out.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels.hpp"
#include "parallel.hpp"

namespace zorro {
namespace {

// Separable Gaussian blur with clamped edges; sigma <= 0 copies.
void blur(const float* in, float* out, std::size_t h, std::size_t w, double sigma, std::vector<float>& tmp) {
    if (sigma <= 0) {
        std::copy(in, in + h * w, out);
        return;
    }
    auto half = static_cast<long>(std::ceil(3.0 * sigma));
    std::vector<double> k(static_cast<std::size_t>(2 * half + 1));
    double norm = 0;
    for (long i = -half; i <= half; ++i) {
        double v = std::exp(-0.5 * static_cast<double>(i * i) / (sigma * sigma));
        k[static_cast<std::size_t>(i + half)] = v;
        norm += v;
    }
    for (auto& v : k) v /= norm;
    tmp.assign(h * w, 0.0f);
    auto H = static_cast<long>(h), W = static_cast<long>(w);
    for (long y = 0; y < H; ++y)
        for (long x = 0; x < W; ++x) {
            double acc = 0;
            for (long i = -half; i <= half; ++i) {
                long xx = std::clamp(x + i, 0L, W - 1);
                acc += k[static_cast<std::size_t>(i + half)] * in[y * W + xx];
            }
            tmp[static_cast<std::size_t>(y * W + x)] = static_cast<float>(acc);
        }
    for (long y = 0; y < H; ++y)
        for (long x = 0; x < W; ++x) {
            double acc = 0;
            for (long i = -half; i <= half; ++i) {
                long yy = std::clamp(y + i, 0L, H - 1);
                acc += k[static_cast<std::size_t>(i + half)] * tmp[static_cast<std::size_t>(yy * W + x)];
            }
            out[y * W + x] = static_cast<float>(acc);
        }
}

struct PeakStats {
    long py = 0, px = 0;
    double max = -std::numeric_limits<double>::infinity(), mean = 0, std = 0;
    double slope = 0;  // rms of the background's pixel-to-pixel differences
};

// The maximum inside the search disc, and the mean and spread of the background: every
// pixel of the map farther than `exclusion` from the maximum. Judging the peak against
// the background alone makes the significance largest for the low-pass that matches the
// peak's shape (the matched filter), which is also the one that locates it best.
PeakStats peak_stats(const float* m, long h, long w, double radius, double exclusion, bool exclude_origin) {
    long cy = h / 2, cx = w / 2;
    PeakStats s;
    for (long y = 0; y < h; ++y)
        for (long x = 0; x < w; ++x) {
            double ry = static_cast<double>(y - cy), rx = static_cast<double>(x - cx);
            if (ry * ry + rx * rx > radius * radius) continue;
            if (exclude_origin && y == cy && x == cx) continue;
            double v = m[y * w + x];
            if (v > s.max) {
                s.max = v;
                s.py = y;
                s.px = x;
            }
        }
    auto background = [&](long y, long x) {
        double ry = static_cast<double>(y - s.py), rx = static_cast<double>(x - s.px);
        return ry * ry + rx * rx > exclusion * exclusion && !(exclude_origin && y == cy && x == cx);
    };
    double sum = 0, sumsq = 0, diffsq = 0;
    long count = 0, diffs = 0;
    for (long y = 0; y < h; ++y)
        for (long x = 0; x < w; ++x) {
            if (!background(y, x)) continue;
            double v = m[y * w + x];
            sum += v;
            sumsq += v * v;
            ++count;
            if (x + 1 < w && background(y, x + 1)) {
                double d = m[y * w + x + 1] - v;
                diffsq += d * d;
                ++diffs;
            }
            if (y + 1 < h && background(y + 1, x)) {
                double d = m[(y + 1) * w + x] - v;
                diffsq += d * d;
                ++diffs;
            }
        }
    if (count > 1) {
        s.mean = sum / static_cast<double>(count);
        s.std = std::sqrt(std::max(0.0, sumsq / static_cast<double>(count) - s.mean * s.mean));
    }
    if (diffs > 0) s.slope = std::sqrt(diffsq / static_cast<double>(diffs));
    return s;
}

struct Fit {
    double dy = 0, dx = 0;          // sub-pixel offset from the integer peak
    double curv_y = 0, curv_x = 0;  // second derivatives of the map at the peak (negative)
};

// Least-squares fit of a 2-D quadratic to the 3x3 neighbourhood of (py, px), skipping the
// origin when asked; the values are log'd (a Gaussian peak is then fitted exactly) when
// they are all above the baseline. Returns false when the fit has no maximum nearby.
bool subpixel(const float* m, long h, long w, long py, long px, double baseline, bool exclude_origin, Fit& fit) {
    long cy = h / 2, cx = w / 2;
    if (py < 1 || px < 1 || py >= h - 1 || px >= w - 1) return false;
    std::array<double, 9> ys{}, xs{}, vs{};
    std::size_t count = 0;
    bool positive = true;
    for (long y = -1; y <= 1; ++y)
        for (long x = -1; x <= 1; ++x) {
            if (exclude_origin && py + y == cy && px + x == cx) continue;
            double v = m[(py + y) * w + px + x] - baseline;
            positive = positive && v > 0;
            ys[count] = static_cast<double>(y);
            xs[count] = static_cast<double>(x);
            vs[count] = v;
            ++count;
        }
    if (positive)
        for (std::size_t i = 0; i < count; ++i) vs[i] = std::log(vs[i]);
    // Normal equations for v = a + b*y + c*x + d*y^2 + e*x^2 + f*x*y.
    double A[6][7] = {};
    for (std::size_t i = 0; i < count; ++i) {
        double basis[6] = {1, ys[i], xs[i], ys[i] * ys[i], xs[i] * xs[i], xs[i] * ys[i]};
        for (int r = 0; r < 6; ++r) {
            for (int c = 0; c < 6; ++c) A[r][c] += basis[r] * basis[c];
            A[r][6] += basis[r] * vs[i];
        }
    }
    for (int col = 0; col < 6; ++col) {
        int pivot = col;
        for (int r = col + 1; r < 6; ++r)
            if (std::abs(A[r][col]) > std::abs(A[pivot][col])) pivot = r;
        if (std::abs(A[pivot][col]) < 1e-12) return false;
        std::swap(A[col], A[pivot]);
        for (int r = 0; r < 6; ++r) {
            if (r == col) continue;
            double f = A[r][col] / A[col][col];
            for (int c = col; c < 7; ++c) A[r][c] -= f * A[col][c];
        }
    }
    double b = A[1][6] / A[1][1], c = A[2][6] / A[2][2], d = A[3][6] / A[3][3], e = A[4][6] / A[4][4],
           f = A[5][6] / A[5][5];
    // Stationary point: [2d f; f 2e] [y; x] = -[b; c], a maximum needs a negative-definite Hessian.
    double det = 4 * d * e - f * f;
    if (!(d < 0 && det > 0)) return false;
    fit.dy = (-b * 2 * e + c * f) / det;
    fit.dx = (-c * 2 * d + b * f) / det;
    // For log values, (log v)'' = v''/v at the maximum.
    double height = positive ? m[py * w + px] - baseline : 1.0;
    fit.curv_y = 2 * d * height;
    fit.curv_x = 2 * e * height;
    return std::abs(fit.dy) <= 1 && std::abs(fit.dx) <= 1;
}

}  // namespace

void find_peaks(const float* maps, std::size_t n, std::size_t h, std::size_t w, double radius, const double* sigmas,
                std::size_t nsigma, bool exclude_origin, Peak* out, std::size_t threads) {
    auto H = static_cast<long>(h), W = static_cast<long>(w);
    parallel_for(n, threads, [&](std::size_t i) {
        const float* map = maps + i * h * w;
        std::vector<float> blurred(h * w), tmp, masked, mask, coverage;
        if (exclude_origin) {
            std::size_t centre = (h / 2) * w + w / 2;
            masked.assign(map, map + h * w);
            masked[centre] = 0;
            mask.assign(h * w, 1.0f);
            mask[centre] = 0;
            coverage.resize(h * w);
        }
        std::vector<Peak> candidates(nsigma);
        double most_significant = 0;
        for (std::size_t s = 0; s < nsigma; ++s) {
            blur(exclude_origin ? masked.data() : map, blurred.data(), h, w, sigmas[s], tmp);
            if (exclude_origin) {
                // Normalised convolution: the low-pass ignores the origin instead of spreading it.
                blur(mask.data(), coverage.data(), h, w, sigmas[s], tmp);
                for (std::size_t k = 0; k < h * w; ++k) blurred[k] /= std::max(coverage[k], 1e-6f);
            }
            PeakStats st = peak_stats(blurred.data(), H, W, radius, 3.0 + 2.0 * sigmas[s], exclude_origin);
            Fit fit;
            bool ok = subpixel(blurred.data(), H, W, st.py, st.px, st.mean, exclude_origin, fit);
            Peak& c = candidates[s];
            c.dy = static_cast<double>(st.py - H / 2) + (ok ? fit.dy : 0.0);
            c.dx = static_cast<double>(st.px - W / 2) + (ok ? fit.dx : 0.0);
            c.significance = st.std > 0 ? (st.max - st.mean) / st.std : 0.0;
            c.sigma = sigmas[s];
            // Expected localisation error: the background's slope over the peak's curvature.
            c.error = ok ? st.slope * std::sqrt(0.5 / (fit.curv_y * fit.curv_y) + 0.5 / (fit.curv_x * fit.curv_x))
                         : std::numeric_limits<double>::infinity();
            most_significant = std::max(most_significant, c.significance);
        }
        // The most precise of the low-passes that keep the peak nearly as significant as the
        // best one does; a noise spike looks precise only without low-pass, where it is weak.
        std::size_t best = 0;
        bool found = false;
        for (std::size_t s = 0; s < nsigma; ++s) {
            const Peak& c = candidates[s];
            if (c.significance < 0.8 * most_significant) continue;
            if (!found || c.error < candidates[best].error) best = s;
            found = true;
        }
        out[i] = candidates[best];
    });
}

}  // namespace zorro
