"""Interop with python-mrcz 0.6.0, its side (run by `nox -s interop` in two environments
holding mrcz==0.6.0 from PyPI and one blosc library: `blosc` (c-blosc 1, what its
`compression` extra installs) or `blosc2`).

    python predecessor.py check DIR   # read what our mrcz wrote and compare
    python predecessor.py write DIR   # write files for our mrcz to read
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

import mrcz

assert mrcz.__version__ == "0.6.0", f"expected python-mrcz 0.6.0, found {mrcz.__version__}"
BACKENDS = [name for name in ("blosc", "blosc2") if importlib.util.find_spec(name)]
assert len(BACKENDS) == 1, f"expected one blosc library, found {BACKENDS}"
BACKEND = BACKENDS[0]


def check(folder: Path) -> None:
    names = sorted(p for p in folder.iterdir() if p.suffix in (".mrc", ".mrcz"))
    assert names, f"no files in {folder}"
    for path in names:
        expected = np.load(str(path) + ".npy")
        want = json.loads(Path(str(path) + ".json").read_text())
        data, header = mrcz.readMRC(str(path))
        # MRCZ files come back as one array (volume stacks as a list of volumes); plain
        # files keep the standard MZ, which python-mrcz reads as a list of frames.
        assert isinstance(data, list) == want["list"], (path.name, type(data))
        array = np.stack(data).reshape(expected.shape) if want["list"] else data
        assert np.array_equal(array, expected), path.name
        assert array.dtype.newbyteorder("=") == expected.dtype, (path.name, array.dtype)
        for got, size in zip(header["pixelsize"], want["pixelsize"]):
            assert size is None or np.isclose(got, size, rtol=1e-6), (path.name, header["pixelsize"])
        for key in ("voltage", "C3", "gain"):
            assert np.isclose(header[key], want[key], rtol=1e-6), (path.name, key, header[key])
        for key, value in want["meta"].items():
            assert header[key] == value, (path.name, key)
        print(f"ok  {path.name}  {array.dtype} {array.shape}")
    print(f"python-mrcz {mrcz.__version__} with {BACKEND} read {len(names)} files our mrcz wrote, bit-exact")


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
        # Lists of frames get MZ = 1 (2-D frames) or k (k-section volumes): one stack here.
        "list_of_frames_zstd.mrcz": (list(rng.poisson(1.0, (3, 16, 12)).astype(np.int8)), {"compressor": "zstd"}),
        "list_of_volumes.mrc": (list(rng.normal(size=(2, 3, 8, 6)).astype(np.float32)), {}),
        "uint4.mrc": (rng.integers(0, 16, (3, 8, 10)).astype(np.uint8), {"dtype": "uint4"}),
        "blosc2_backend_lz4.mrcz": (rng.poisson(3.0, (4, 20, 20)).astype(np.int16),
                                    {"compressor": "lz4", "backend": "blosc2"}),
        # A blosc2 plugin codec (lossy): the reference is what python-mrcz reads back.
        "zfp_acc_float32.mrcz": (rng.normal(size=(3, 16, 24)).astype(np.float32), {"compressor": "zfp_acc"}),
    }  # fmt: skip
    if BACKEND == "blosc":  # these need c-blosc2
        cases = {k: v for k, v in cases.items() if "blosc2" not in k and not k.startswith("zfp")}
    scope = {"voltage": 300.0, "C3": 2.7, "gain": 1.5}
    for name, (array, kwargs) in cases.items():
        mrcz.writeMRC(array, str(out / name), pixelsize=[1.0, 0.9, 0.8], **scope, **kwargs)
        if kwargs.get("compressor", "").startswith("zfp"):
            array = mrcz.readMRC(str(out / name))[0]
        np.save(
            out / (name + ".npy"), np.reshape(array, (-1, *array[0].shape[-2:])) if isinstance(array, list) else array
        )
        expected = {"meta": kwargs.get("meta", {}), "voxel_size": [0.8, 0.9, 1.0], **scope}
        (out / (name + ".json")).write_text(json.dumps(expected))
    print(f"python-mrcz {mrcz.__version__} with {BACKEND} wrote {len(cases)} files to {out}")


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](Path(sys.argv[2]))
