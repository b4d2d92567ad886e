// Python bindings of zorro._core. Arguments are checked and converted to raw pointers
// while the GIL is held; every loop then runs with the GIL released.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "kernels.hpp"

namespace py = pybind11;

namespace {

using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;
using U8 = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

// An array written in place, taken as it is: converting it would write into a copy and
// leave the caller's array silently unchanged.
template <typename T>
py::array_t<T> in_place(const py::array& a, const char* what) {
    if (!py::isinstance<py::array_t<T>>(a))
        throw py::type_error(std::string(what) + " is written in place and must be " +
                             py::str(py::dtype::of<T>()).cast<std::string>() + ", not " +
                             py::str(a.dtype()).cast<std::string>());
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(what) + " must be C-contiguous");
    if (!a.writeable()) throw py::value_error(std::string(what) + " must be writeable");
    return py::reinterpret_borrow<py::array_t<T>>(a);
}

py::tuple py_find_peaks(const F32& maps, double radius, const F64& sigmas, bool exclude_origin, std::size_t threads) {
    if (maps.ndim() != 3) throw py::value_error("maps must be 3-D (n, h, w)");
    auto n = static_cast<std::size_t>(maps.shape(0));
    auto h = static_cast<std::size_t>(maps.shape(1)), w = static_cast<std::size_t>(maps.shape(2));
    if (h < 3 || w < 3) throw py::value_error("maps must be at least 3 x 3");
    if (sigmas.ndim() != 1 || sigmas.size() == 0) throw py::value_error("sigmas must be a non-empty 1-D array");
    if (!(radius >= 1)) throw py::value_error("radius must be at least 1");
    std::vector<zorro::Peak> peaks(n);
    {
        py::gil_scoped_release release;
        zorro::find_peaks(maps.data(), n, h, w, radius, sigmas.data(), static_cast<std::size_t>(sigmas.size()),
                          exclude_origin, peaks.data(), threads);
    }
    F64 dy(static_cast<py::ssize_t>(n)), dx(static_cast<py::ssize_t>(n)), sig(static_cast<py::ssize_t>(n)),
        sigma(static_cast<py::ssize_t>(n)), error(static_cast<py::ssize_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
        auto k = static_cast<py::ssize_t>(i);
        dy.mutable_at(k) = peaks[i].dy;
        dx.mutable_at(k) = peaks[i].dx;
        sig.mutable_at(k) = peaks[i].significance;
        sigma.mutable_at(k) = peaks[i].sigma;
        error.mutable_at(k) = peaks[i].error;
    }
    return py::make_tuple(dy, dx, sig, sigma, error);
}

void py_phase_shift(const py::array& spectrum_in, std::size_t nx, double dy, double dx, std::size_t threads) {
    auto spectrum = in_place<std::complex<float>>(spectrum_in, "spectrum");
    if (spectrum.ndim() != 2) throw py::value_error("spectrum must be 2-D");
    auto ny = static_cast<std::size_t>(spectrum.shape(0));
    if (static_cast<std::size_t>(spectrum.shape(1)) != nx / 2 + 1)
        throw py::value_error("an rfft2 spectrum of width nx has nx // 2 + 1 columns");
    auto* data = spectrum.mutable_data();
    py::gil_scoped_release release;
    zorro::phase_shift(data, ny, nx, dy, dx, threads);
}

void py_shift_accumulate(const py::array_t<std::complex<float>, py::array::c_style>& spectrum, std::size_t nx,
                         double dy, double dx, const py::array& plain_in, const py::array& weighted_in,
                         const F32& weight, std::size_t threads) {
    auto plain = in_place<std::complex<float>>(plain_in, "plain");
    auto weighted = in_place<std::complex<float>>(weighted_in, "weighted");
    if (spectrum.ndim() != 2) throw py::value_error("spectrum must be 2-D");
    auto ny = static_cast<std::size_t>(spectrum.shape(0));
    if (static_cast<std::size_t>(spectrum.shape(1)) != nx / 2 + 1)
        throw py::value_error("an rfft2 spectrum of width nx has nx // 2 + 1 columns");
    for (const py::array* a : {static_cast<const py::array*>(&plain), static_cast<const py::array*>(&weighted),
                               static_cast<const py::array*>(&weight)})
        if (a->ndim() != 2 || a->shape(0) != spectrum.shape(0) || a->shape(1) != spectrum.shape(1))
            throw py::value_error("plain, weighted and weight must have the spectrum's shape");
    const auto* in = spectrum.data();
    auto* p = plain.mutable_data();
    auto* q = weighted.mutable_data();
    const float* w = weight.data();
    py::gil_scoped_release release;
    zorro::shift_accumulate(in, ny, nx, dy, dx, p, q, w, threads);
}

std::size_t py_repair_pixels(const py::array& image_in, const U8& bad, std::size_t max_radius, std::size_t threads) {
    auto image = in_place<float>(image_in, "image");
    if (image.ndim() != 2 || bad.ndim() != 2 || image.shape(0) != bad.shape(0) || image.shape(1) != bad.shape(1))
        throw py::value_error("image and bad must be 2-D arrays of the same shape");
    auto h = static_cast<std::size_t>(image.shape(0)), w = static_cast<std::size_t>(image.shape(1));
    auto* data = image.mutable_data();
    const auto* flags = bad.data();
    py::gil_scoped_release release;
    return zorro::repair_pixels(data, flags, h, w, max_radius, threads);
}

}  // namespace

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "zorro's compiled kernels: batched peak search, Fourier shifting and pixel repair, without the GIL.";
    m.attr("__version__") = ZORRO_VERSION;
    m.def("find_peaks", &py_find_peaks, py::arg("maps"), py::arg("radius"), py::arg("sigmas"),
          py::arg("exclude_origin") = false, py::arg("threads") = 0,
          "For each (h, w) map of maps (centre at (h // 2, w // 2)): blur it with each Gaussian width in sigmas, "
          "find the maximum inside the disc of radius around the centre (the centre left out when exclude_origin), "
          "fit its sub-pixel position; of the widths whose significance is at least 0.8 of the best, keep the one "
          "with the smallest expected error (background slope over peak curvature). Returns arrays (dy, dx, "
          "significance, sigma, error); significance = (max - mean) / std "
          "of the background, the map beyond 3 + 2 sigma pixels from the peak; error in map pixels (inf: no fit).");
    m.def("phase_shift", &py_phase_shift, py::arg("spectrum"), py::arg("nx"), py::arg("dy"), py::arg("dx"),
          py::arg("threads") = 0,
          "Translate the real nx-wide image whose complex64 rfft2 spectrum this is by (dy, dx) pixels, in place.");
    m.def("shift_accumulate", &py_shift_accumulate, py::arg("spectrum"), py::arg("nx"), py::arg("dy"), py::arg("dx"),
          py::arg("plain"), py::arg("weighted"), py::arg("weight"), py::arg("threads") = 0,
          "Add the spectrum translated by (dy, dx) (as phase_shift does) to plain, and times the real weight "
          "to weighted, in one pass; the spectrum itself is left unchanged.");
    m.def("repair_pixels", &py_repair_pixels, py::arg("image"), py::arg("bad"), py::arg("max_radius") = 16,
          py::arg("threads") = 0,
          "Replace each flagged pixel of a float32 image in place by the mean of the good pixels in the smallest "
          "square window around it that has any. Returns how many had none within max_radius (set to 0).");
}
