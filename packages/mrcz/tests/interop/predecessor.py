"""Interop with python-mrcz 0.6.0, its side (run by `nox -s interop` in an environment
holding mrcz==0.6.0 from PyPI and python-blosc2).

    python predecessor.py check DIR   # read what our mrcz wrote and compare
    python predecessor.py write DIR   # write files for our mrcz to read
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import mrcz

assert mrcz.__version__ == "0.6.0", f"expected python-mrcz 0.6.0, found {mrcz.__version__}"


def check(folder: Path) -> None:
    names = sorted(p for p in folder.iterdir() if p.suffix in (".mrc", ".mrcz"))
    assert names, f"no files in {folder}"
    for path in names:
        expected = np.load(str(path) + ".npy")
        # Standard files have MZ = 1, which python-mrcz reads as a list of frames
        # unless slices=0 asks for one array.
        data, header = mrcz.readMRC(str(path), slices=0)
        assert np.array_equal(data, expected), path.name
        assert data.dtype.newbyteorder("=") == expected.dtype, (path.name, data.dtype)
        frames, _ = mrcz.readMRC(str(path))
        assert np.array_equal(np.stack(frames) if isinstance(frames, list) else frames, expected), path.name
        for key, value in json.loads(Path(str(path) + ".json").read_text()).items():
            assert header[key] == value, (path.name, key)
        print(f"ok  {path.name}  {data.dtype} {data.shape}")
    print(f"python-mrcz {mrcz.__version__} read {len(names)} files our mrcz wrote, bit-exact")


def write(out: Path) -> None:
    out.mkdir(parents=True)
    rng = np.random.default_rng(20261125)
    cases = {
        "zstd_int8_meta.mrcz": (rng.poisson(1.0, (5, 32, 40)).astype(np.int8),
                                {"compressor": "zstd", "meta": {"gain": "ref.mrc", "frames": 5}}),
        "lz4hc_uint16.mrcz": (rng.integers(0, 50000, (3, 24, 16)).astype(np.uint16), {"compressor": "lz4hc"}),
        "zlib_float32_be.mrcz": (rng.normal(size=(4, 16, 16)).astype(np.float32),
                                 {"compressor": "zlib", "endian": "be"}),
        "blosclz_complex64.mrcz": ((rng.normal(size=(2, 8, 8)) + 2j).astype(np.complex64),
                                   {"compressor": "blosclz"}),
        "plain_int16.mrc": (rng.integers(-300, 300, (6, 10, 12)).astype(np.int16), {}),
        "blosc2_backend_lz4.mrcz": (rng.poisson(3.0, (4, 20, 20)).astype(np.int16),
                                    {"compressor": "lz4", "backend": "blosc2"}),
    }  # fmt: skip
    for name, (array, kwargs) in cases.items():
        mrcz.writeMRC(array, str(out / name), pixelsize=[1.0, 0.9, 0.9], **kwargs)
        np.save(out / (name + ".npy"), array)
        (out / (name + ".json")).write_text(json.dumps(kwargs.get("meta", {})))
    print(f"python-mrcz {mrcz.__version__} wrote {len(cases)} files to {out}")


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](Path(sys.argv[2]))
