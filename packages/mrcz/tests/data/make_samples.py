#!/usr/bin/env python3
"""Writes the python-mrcz 0.6.0 interop samples in this folder, with the arrays they hold.

Run from this folder, in an environment with exactly:
    numpy, mrcz==0.6.0, blosc (python-blosc 1.11.x, c-blosc 1.21.x), blosc2
(mrcz 0.6.0 compresses with `blosc` when it is installed, giving version-2 chunks;
`backend='blosc2'` gives version-5 chunks.)

Every array comes from numpy.random.default_rng with the seed given below, so
arrays.npz can be regenerated and compared.  The script re-reads every file with
mrcz.readMRC and fails if a round trip is not bit-exact.
"""

from __future__ import annotations

import enum
import hashlib
import json

import numpy as np

import mrcz

assert mrcz.__version__ == "0.6.0", mrcz.__version__
ANGSTROM = "\\AA"  # python-mrcz's spelling of the Angstrom unit


class Detector(enum.Enum):  # mrcz serialises Enum members as 'Enum.<Class>.<member>'
    K3 = 3


def counts_int8():
    rng = np.random.default_rng(20240601)
    return rng.poisson(1.0, size=(8, 256, 192)).astype(np.int8)


def gain_normalised_f32():
    rng = np.random.default_rng(20240602)
    counts = rng.poisson(2.0, size=(3, 96, 128)).astype(np.float32)
    gain = rng.normal(1.0, 0.05, size=(96, 128)).astype(np.float32)
    return counts * gain


def int16_signed():
    rng = np.random.default_rng(20240603)
    return rng.normal(0.0, 300.0, size=(5, 160, 120)).round().astype(np.int16)


META = {
    "detector": Detector.K3,  # -> "Enum.Detector.K3"
    "dose_per_frame": np.float32(1.25),  # numpy scalar -> 1.25
    "exposure_s": 2.0,
    "frame_dose": np.arange(3, dtype=np.int64),  # ndarray -> [0, 1, 2]
    "operator": "Zoë",  # non-ASCII, UTF-8 in the file
    "nested": {"gainref": None, "flip": [True, False]},
}

COUNTS_ARGS = {
    "pixelsize": [1.0, 0.83, 0.83],
    "pixelunits": ANGSTROM,
    "voltage": 300.0,
    "C3": 2.7,
    "gain": 1.0,
    "compressor": "zstd",
    "clevel": 1,
    "n_threads": 1,
}

SAMPLES = [
    # name, array factory, writeMRC keyword arguments
    (
        "counts_int8_zstd1_bitshuffle_json.mrcz",
        counts_int8,
        {"meta": META, **COUNTS_ARGS},
    ),
    (
        "gain_normalised_float32_uncompressed.mrc",
        gain_normalised_f32,
        {
            "pixelsize": [2.0, 1.5, 1.25],
            "pixelunits": ANGSTROM,
            "voltage": 200.0,
            "C3": 1.4,
            "gain": 1.0,
            "compressor": None,
        },
    ),
    (
        "int16_lz4_9_bitshuffle.mrcz",
        int16_signed,
        {
            "pixelsize": 0.5,
            "pixelunits": "nm",
            "voltage": 300.0,
            "C3": 2.7,
            "gain": 2.5,
            "compressor": "lz4",
            "clevel": 9,
            "n_threads": 2,
        },
    ),
    # Extra: the same counts as the first file, but compressed by c-blosc2
    # (version-5 chunks, and no bitshuffle: 0.6.0 passes `filter=` to blosc2.compress2,
    # which ignores it and applies its default byte SHUFFLE).
    (
        "counts_int8_zstd1_blosc2backend.mrcz",
        counts_int8,
        {**COUNTS_ARGS, "backend": "blosc2"},
    ),
]


def main():
    manifest, arrays = {}, {}
    for name, factory, kwargs in SAMPLES:
        array = factory()
        mrcz.writeMRC(array, name, **kwargs)
        back, _header = mrcz.readMRC(name, pixelunits=kwargs.get("pixelunits", ANGSTROM))
        assert back.dtype == array.dtype and np.array_equal(back, array), name
        arrays[name.rsplit(".", 1)[0]] = array
        with open(name, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        manifest[name] = {"shape": list(array.shape), "dtype": str(array.dtype), "sha256": digest}
        print(name, array.shape, array.dtype, digest[:16])
    # One compressed archive of the arrays; the blosc2-backend file holds the first array again.
    del arrays["counts_int8_zstd1_blosc2backend"]
    np.savez_compressed("arrays.npz", **arrays)
    with open("manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
