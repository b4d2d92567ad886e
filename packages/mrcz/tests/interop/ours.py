"""Interop with python-mrcz 0.6.0, our side (run by `nox -s interop` with our wheel).

python ours.py write DIR FORMAT   # files for the predecessor to read, with .npy references;
                                 # FORMAT 'blosc' (our default: version-2 chunks) or 'blosc2'
python ours.py check DIR          # read what the predecessor wrote and compare
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import mrcz


def samples() -> dict[str, tuple[np.ndarray, dict]]:
    rng = np.random.default_rng(2026)
    counts = rng.poisson(1.0, size=(6, 64, 48)).astype(np.int8)
    scope = {"pixel_size": (0.83, 0.85, 1.0), "voltage": 300.0, "cs": 2.7, "gain": 1.5}
    # Frames of 1.5 MiB: our large blosc blocks (1 MiB zstd, 256 KiB lz4) and a partial
    # last block, for python-mrcz's reader (python-blosc2) to decompress.
    big = rng.poisson(1.0, size=(2, 1536, 1024)).astype(np.int8)
    return {
        "counts_big_zstd.mrcz": (big, {"compressor": "zstd", "clevel": 1}),
        "counts_big_lz4.mrcz": (big, {"compressor": "lz4", "clevel": 1}),
        "counts_zstd.mrcz": (counts, {"compressor": "zstd", "clevel": 1, "meta": {"dose": 1.0, "who": "Zoë"}, **scope}),
        "image_zstd.mrcz": (counts[0], {"compressor": "zstd", **scope}),
        "volume_lz4.mrcz": (
            rng.normal(0, 1, (5, 12, 10)).astype(np.float32),
            {"compressor": "lz4", "volume": True, **scope},
        ),
        "volume_stack_zstd.mrcz": (
            rng.normal(0, 1, (3, 4, 12, 10)).astype(np.float32),
            {"compressor": "zstd", **scope},
        ),
        "meta_plain.mrc": (counts, {"meta": {"dose": 2.0}, **scope}),
        "volume_plain.mrc": (rng.normal(0, 1, (4, 6, 5)).astype(np.float32), {"volume": True, **scope}),
        "counts_lz4.mrcz": (counts, {"compressor": "lz4", "clevel": 9}),
        "int16_lz4hc.mrcz": (rng.normal(0, 300, (4, 40, 30)).astype(np.int16), {"compressor": "lz4hc"}),
        "float32_zlib.mrcz": (rng.normal(0, 1, (3, 32, 32)).astype(np.float32), {"compressor": "zlib"}),
        "uint16_blosclz.mrcz": (rng.integers(0, 60000, (3, 16, 24)).astype(np.uint16), {"compressor": "blosclz"}),
        "complex64_plain.mrc": ((rng.normal(size=(2, 8, 8)) + 1j).astype(np.complex64), {}),
        "float32_plain.mrc": (rng.normal(0, 1, (5, 20, 10)).astype(np.float32), {"pixel_size": 1.5}),
        "float32_big_endian.mrcz": (
            rng.normal(0, 1, (3, 12, 8)).astype(np.float32),
            {"compressor": "zstd", "byteorder": ">"},
        ),
    }


def write(out: Path, chunk_format: str) -> None:
    out.mkdir(parents=True)
    version = {"blosc": 2, "blosc2": 5}[chunk_format]
    for name, (array, kwargs) in samples().items():
        options = {**kwargs, "chunk_format": chunk_format} if chunk_format != "blosc" else kwargs  # default
        header = mrcz.write(out / name, array, **options)
        if header.compressed:
            with mrcz.open(out / name) as f:
                assert f._pread(header.data_offset, 1)[0] == version, (name, chunk_format)
        np.save(out / (name + ".npy"), array)
        v = header.voxel_size
        # What python-mrcz 0.6 should read. Plain files keep the standard MZ (1 for stacks),
        # which it reads as a list of frames with z pixel size CELLA.z / NZ; MRCZ files have
        # MZ = 0 (one array), but volume stacks MZ = sections (a list of volumes).
        expected = {
            "meta": kwargs.get("meta", {}),
            "list": not header.compressed or array.ndim == 4,
            "pixelsize": [v.z if header.compressed else None, v.y, v.x],
            "voltage": kwargs.get("voltage", 0.0),
            "C3": kwargs.get("cs", 0.0),
            "gain": kwargs.get("gain", 1.0),
        }
        (out / (name + ".json")).write_text(json.dumps(expected))
    print(f"mrcz {mrcz.__version__} wrote {len(samples())} files ({chunk_format} chunks where compressed) to {out}")


def check(folder: Path) -> None:
    names = sorted(p for p in folder.iterdir() if p.suffix in (".mrc", ".mrcz"))
    assert names, f"no files in {folder}"
    for path in names:
        expected = np.load(str(path) + ".npy")
        data = mrcz.read(path)
        assert data.dtype == expected.dtype, (path.name, data.dtype, expected.dtype)
        assert np.array_equal(data, expected), path.name
        expected = json.loads(Path(str(path) + ".json").read_text())
        with mrcz.open(path) as f:
            assert f.meta == expected["meta"], path.name
            h = f.header
            assert np.allclose(f.voxel_size, expected["voxel_size"], rtol=1e-6), (path.name, f.voxel_size)
            got = (h.voltage, h.cs, h.gain)
            assert np.allclose(got, [expected[k] for k in ("voltage", "C3", "gain")], rtol=1e-6), (path.name, got)
        print(f"ok  {path.name}  {data.dtype} {data.shape}")
    print(f"mrcz {mrcz.__version__} read {len(names)} files python-mrcz wrote, bit-exact")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]), sys.argv[3])
    else:
        check(Path(sys.argv[2]))
