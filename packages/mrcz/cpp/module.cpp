// Python bindings of mrcz._core. Arguments are checked and converted to raw pointers
// while the GIL is held; every loop then runs with the GIL released.
#include <blosc2.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include "kernels.hpp"

namespace py = pybind11;
using namespace mrcz;

namespace {

Kind kind_of(const py::dtype& dt) {
    if (dt.byteorder() == '>') throw py::type_error("mrcz._core works on native-byte-order arrays");
    char k = dt.kind();
    auto size = dt.itemsize();
    if (k == 'i' && size == 1) return Kind::i8;
    if (k == 'u' && size == 1) return Kind::u8;
    if (k == 'i' && size == 2) return Kind::i16;
    if (k == 'u' && size == 2) return Kind::u16;
    if (k == 'i' && size == 4) return Kind::i32;
    if (k == 'u' && size == 4) return Kind::u32;
    if (k == 'f' && size == 4) return Kind::f32;
    if (k == 'f' && size == 8) return Kind::f64;
    throw py::type_error("no statistics kernel for dtype " + std::string(py::str(dt)));
}

void require_contiguous(const py::array& a, const char* what) {
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(what) + " must be C-contiguous");
}

py::tuple stats_tuple(const Stats& s) {
    if (s.count == 0) return py::make_tuple(0.0, 0.0, 0.0, 0.0);
    if (s.has_nan) {
        double nan = std::nan("");
        return py::make_tuple(nan, nan, nan, nan);
    }
    double n = static_cast<double>(s.count);
    double mean_shifted = s.sum / n;
    double var = std::max(0.0, s.sumsq / n - mean_shifted * mean_shifted);
    return py::make_tuple(s.min, s.max, s.shift + mean_shifted, std::sqrt(var));
}

py::tuple py_stats(const py::array& a, std::size_t threads) {
    require_contiguous(a, "array");
    Kind kind = kind_of(a.dtype());
    const void* data = a.data();
    auto count = static_cast<std::size_t>(a.size());
    Stats s;
    {
        py::gil_scoped_release release;
        s = parallel_stats(data, count, kind, threads);
    }
    return stats_tuple(s);
}

py::tuple py_write_compressed(int fd, std::int64_t offset, const py::array& frames, int codec, int clevel, int filter,
                              std::size_t threads, bool with_stats, std::size_t sync_bytes, int chunk_format) {
    require_contiguous(frames, "frames");
    if (frames.ndim() < 1) throw py::value_error("frames must have a frame axis");
    if (clevel < 0 || clevel > 9) throw py::value_error("clevel must be between 0 and 9");
    if (filter < 0 || filter > 2) throw py::value_error("filter must be 0 (none), 1 (shuffle) or 2 (bitshuffle)");
    if (chunk_format != 2 && chunk_format != 5)
        throw py::value_error("chunk_format must be 2 (c-blosc 1) or 5 (c-blosc2)");
    auto nframes = static_cast<std::size_t>(frames.shape(0));
    std::size_t frame_bytes = nframes ? static_cast<std::size_t>(frames.nbytes()) / nframes : 0;
    Kind kind{};
    if (with_stats) kind = kind_of(frames.dtype());
    CompressParams params;
    params.codec = codec;
    params.clevel = clevel;
    params.filter = filter;
    params.typesize = static_cast<int>(frames.itemsize());
    params.threads = threads;
    params.sync_bytes = sync_bytes;
    params.chunk_format = chunk_format;
    const auto* data = static_cast<const std::uint8_t*>(frames.data());
    Stats s;
    std::vector<std::int64_t> sizes;
    {
        py::gil_scoped_release release;
        sizes = write_compressed(fd, offset, data, nframes, frame_bytes, params, with_stats ? &kind : nullptr,
                                 with_stats ? &s : nullptr);
    }
    return py::make_tuple(sizes, with_stats ? py::object(stats_tuple(s)) : py::object(py::none()));
}

void py_write_data(int fd, std::int64_t offset, const py::array& data) {
    require_contiguous(data, "data");
    const auto* bytes = static_cast<const std::uint8_t*>(data.data());
    auto n = static_cast<std::size_t>(data.nbytes());
    py::gil_scoped_release release;
    write_data(fd, offset, bytes, n);
}

py::tuple py_scan_chunks(int fd, std::int64_t start, std::size_t nframes, std::int64_t file_size,
                         std::size_t frame_bytes) {
    std::vector<std::int64_t> offsets, sizes;
    {
        py::gil_scoped_release release;
        scan_chunks(fd, start, nframes, file_size, frame_bytes, offsets, sizes);
    }
    return py::make_tuple(py::array_t<std::int64_t>(static_cast<py::ssize_t>(offsets.size()), offsets.data()),
                          py::array_t<std::int64_t>(static_cast<py::ssize_t>(sizes.size()), sizes.data()));
}

void py_read_compressed(int fd, const std::vector<std::int64_t>& offsets, const std::vector<std::int64_t>& sizes,
                        py::array out, std::size_t threads) {
    require_contiguous(out, "out");
    if (!out.writeable()) throw py::value_error("out must be writeable");
    if (offsets.size() != sizes.size()) throw py::value_error("offsets and sizes differ in length");
    if (offsets.empty()) return;
    auto nbytes = static_cast<std::size_t>(out.nbytes());
    if (nbytes % offsets.size()) throw py::value_error("out does not divide into the requested frames");
    auto* data = static_cast<std::uint8_t*>(out.mutable_data());
    py::gil_scoped_release release;
    read_compressed(fd, offsets, sizes, data, nbytes / offsets.size(), threads);
}

using U8Array = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

U8Array py_pack_nibbles(const U8Array& values, bool high_first, std::size_t threads) {
    if (values.ndim() < 1) throw py::value_error("values must have at least one dimension");
    auto nx = static_cast<std::size_t>(values.shape(values.ndim() - 1));
    std::size_t rows = nx ? static_cast<std::size_t>(values.size()) / nx : 0;
    std::vector<py::ssize_t> shape(values.shape(), values.shape() + values.ndim());
    shape.back() = static_cast<py::ssize_t>((nx + 1) / 2);
    U8Array packed(shape);
    const auto* in = values.data();
    auto* out = packed.mutable_data();
    {
        py::gil_scoped_release release;
        pack_nibbles(in, out, rows, nx, high_first, threads);
    }
    return packed;
}

U8Array py_unpack_nibbles(const U8Array& packed, std::size_t nx, bool high_first, std::size_t threads) {
    if (packed.ndim() < 1) throw py::value_error("packed must have at least one dimension");
    auto row_bytes = static_cast<std::size_t>(packed.shape(packed.ndim() - 1));
    if (row_bytes != (nx + 1) / 2)
        throw py::value_error("rows of " + std::to_string(nx) + " 4-bit values take " + std::to_string((nx + 1) / 2) +
                              " bytes, not " + std::to_string(row_bytes));
    std::size_t rows = row_bytes ? static_cast<std::size_t>(packed.size()) / row_bytes : 0;
    std::vector<py::ssize_t> shape(packed.shape(), packed.shape() + packed.ndim());
    shape.back() = static_cast<py::ssize_t>(nx);
    U8Array values(shape);
    const auto* in = packed.data();
    auto* out = values.mutable_data();
    {
        py::gil_scoped_release release;
        unpack_nibbles(in, out, rows, nx, high_first, threads);
    }
    return values;
}

void py_byteswap(py::array a, std::size_t threads) {
    require_contiguous(a, "array");
    if (!a.writeable()) throw py::value_error("array must be writeable");
    auto itemsize = static_cast<std::size_t>(a.itemsize());
    if (itemsize == 1) return;
    void* data = a.mutable_data();
    auto count = static_cast<std::size_t>(a.size());
    py::gil_scoped_release release;
    byteswap_inplace(data, count, itemsize, threads);
}

}  // namespace

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() =
        "mrcz's compiled kernels: header statistics, 4-bit packing, byte swapping and the "
        "parallel blosc frame pipeline (chunks in c-blosc 1 and c-blosc2 formats). All loops run without the GIL.";
    blosc2_init();
    static py::exception<ChunkError> chunk_error(m, "ChunkError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ChunkError& e) {
            py::set_error(chunk_error, e.what());
        } catch (const IoError& e) {
            py::set_error(PyExc_OSError, py::make_tuple(e.code, e.what()));
        }
    });
    m.attr("__version__") = MRCZ_VERSION;
    m.attr("BLOSC2_VERSION") = BLOSC2_VERSION_STRING;
    m.def("stats", &py_stats, py::arg("array"), py::arg("threads") = 0,
          "(min, max, mean, rms) of a C-contiguous real array in one parallel pass; NaN if any value is NaN.");
    m.def("write_compressed", &py_write_compressed, py::arg("fd"), py::arg("offset"), py::arg("frames"),
          py::arg("codec"), py::arg("clevel"), py::arg("filter"), py::arg("threads") = 0, py::arg("with_stats") = false,
          py::arg("sync_bytes") = 0, py::arg("chunk_format") = 2,
          "Compress each frame (first axis) to one blosc chunk (chunk_format 2: c-blosc 1's layout, "
          "5: c-blosc2's) and write them back to back to fd from offset; with sync_bytes > 0, fdatasync fd after each "
          "sync_bytes written (not after the last "
          "chunk). Returns (chunk sizes, statistics or None).");
    m.def("write_data", &py_write_data, py::arg("fd"), py::arg("offset"), py::arg("data"),
          "Write the bytes of a C-contiguous array to fd at offset, in pieces whose disk write starts at once.");
    m.def("scan_chunks", &py_scan_chunks, py::arg("fd"), py::arg("start"), py::arg("nframes"), py::arg("file_size"),
          py::arg("frame_bytes"),
          "Walk the chunk headers from byte start; returns (offsets, sizes). Raises ChunkError.");
    m.def("read_compressed", &py_read_compressed, py::arg("fd"), py::arg("offsets"), py::arg("sizes"), py::arg("out"),
          py::arg("threads") = 0,
          "Read and decompress the given chunks into consecutive frames of out. Raises ChunkError.");
    m.def("pack_nibbles", &py_pack_nibbles, py::arg("values"), py::arg("high_first") = false, py::arg("threads") = 0,
          "Pack uint8 values 0..15 two per byte along the last axis (mode 101).");
    m.def("unpack_nibbles", &py_unpack_nibbles, py::arg("packed"), py::arg("nx"), py::arg("high_first") = false,
          py::arg("threads") = 0, "Unpack mode-101 rows of nx 4-bit values into uint8.");
    m.def("byteswap", &py_byteswap, py::arg("array"), py::arg("threads") = 0,
          "Reverse the byte order of every element of a C-contiguous array in place.");
}
