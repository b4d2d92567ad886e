"""Real files from other writers, read by our mrcz and by mrcfile (run by `nox -s interop`).

mrcfile's source distribution ships maps and images written by other software: two EMDB
maps (one crystallographic, with permuted axes and a blank-typed extended header), each
also gzip- and bzip2-compressed, and two EPU images with FEI1 and FEI2 extended headers. For each, our reader must return what
mrcfile returns, and a copy written by our mrcz must read back identically in mrcfile.

    python real_files.py DIR   # DIR holds mrcfile's tests/test_data files
"""

from __future__ import annotations

import io
import sys
import tempfile
import warnings
from pathlib import Path

import mrcfile
import numpy as np

import mrcz
from mrcz import cli

FILES = {
    "EMD-3197.map": "EMDB sub-tomogram average, 20^3 float32",
    "EMD-3001.map": "EMDB MicroED map, ISPG 4, MAPC/R/S 3,1,2, M != N, 160-byte extended header",
    "fei-extended.mrc": "EPU image, uint16, FEI1 extended header",
    "epu2.9_example.mrc": "EPU 2.9 image, uint16, FEI2 extended header",
    # EMDB's distribution format: the same maps gzip- and bzip2-compressed.
    "emd_3197.map.gz": "the EMDB average, gzip",
    "EMD-3197.map.bz2": "the EMDB average, bzip2",
    "emd_3001.map.gz": "the MicroED map, gzip",
    "EMD-3001.map.bz2": "the MicroED map, bzip2",
}
# Not MRC: the map's picture, also gzip-compressed; each must get the error that says so.
NOT_MRC = {"emd_3197.png": "a PNG image", "emd_3197.png.gz": "a gzip stream holding a PNG image"}


def valid_in_mrcfile(path: Path) -> bool:
    return bool(mrcfile.validate(str(path), print_file=io.StringIO()))


def check(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mrcfile warns about the EMDB maps' NVERSION 0
        with mrcfile.open(str(path), permissive=True) as theirs:
            data, header = theirs.data.copy(), theirs.header.copy()
            voxel = np.array(theirs.voxel_size.tolist(), dtype=float)
            their_extended = theirs.extended_header.tobytes()
            records = theirs.indexed_extended_header if header.exttyp in (b"FEI1", b"FEI2") else None
    with mrcz.open(path) as ours:
        got = ours.read()
        assert got.shape == data.shape and got.dtype == data.dtype, (path.name, got.shape, got.dtype)
        assert np.array_equal(got, data), path.name
        assert np.allclose(tuple(ours.voxel_size), voxel, rtol=1e-5), (path.name, ours.voxel_size, voxel)
        h = ours.header
        for word in ("dmin", "dmax", "dmean", "rms"):
            assert getattr(h, word) == float(header[word]), (path.name, word)
        assert (h.mx, h.my, h.mz, h.ispg) == tuple(int(header[k]) for k in ("mx", "my", "mz", "ispg")), path.name
        extended = ours.extended_header
        assert extended == their_extended, path.name
        if records is not None:
            assert ours.indexed_extended_header.tobytes() == records.tobytes(), path.name
    # Where mrcfile finds the file valid, so do we (the EMDB maps carry NVERSION 0).
    assert (mrcz.validate(path) == []) == valid_in_mrcfile(path), (path.name, mrcz.validate(path))

    # A copy written by us: same data, voxel size and extended header in mrcfile, and valid.
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        exttyp = h.exttyp if h.exttyp in ("FEI1", "FEI2") else None
        mrcz.write(
            copy, got, pixel_size=tuple(ours.voxel_size), volume=h.kind == "volume",
            extended_header=extended if exttyp else None, exttyp=exttyp,
        )  # fmt: skip
        with mrcfile.open(str(copy)) as back:
            assert np.array_equal(back.data, data), path.name
            assert np.allclose(back.voxel_size.tolist(), voxel, rtol=1e-5), path.name
            if exttyp:
                assert back.indexed_extended_header.tobytes() == records.tobytes(), path.name
        assert valid_in_mrcfile(copy), path.name

        # Through MRCZ and back with the command line: the axes, space group, NSTART,
        # cell angles, voxel size, labels and extended header survive.
        packed, back = Path(tmp) / "packed.mrcz", Path(tmp) / "back.mrc"
        assert cli.main(["compress", "--quiet", str(path), str(packed)]) == 0
        assert cli.main(["decompress", "--quiet", str(packed), str(back)]) == 0
        with mrcfile.open(str(back), permissive=True) as m:
            assert np.array_equal(m.data, data), path.name
            for word in ("nxstart", "nystart", "nzstart", "cellb", "mapc", "mapr", "maps", "ispg"):
                assert np.array_equal(m.header[word], header[word]), (path.name, word)
            assert np.allclose(m.voxel_size.tolist(), voxel, rtol=1e-5), path.name
            assert m.extended_header.tobytes() == their_extended, path.name
        assert mrcz.read_header(back).labels[1 : 1 + len(h.labels)] == h.labels, path.name
    print(f"ok  {path.name}  {data.dtype} {data.shape}  ({FILES[path.name]})")


def refused(path: Path, what: str) -> None:
    message = None
    try:
        mrcz.read(path)
    except mrcz.MRCZFormatError as exc:
        message = str(exc)
    assert message is not None, f"{path.name} was read as MRC"
    assert f"not an MRC file: it looks like {what}" in message, (path.name, message)
    print(f"ok  {path.name}  refused: {what}")


def main(folder: Path) -> None:
    missing = [name for name in [*FILES, *NOT_MRC] if not (folder / name).is_file()]
    assert not missing, f"missing from {folder}: {missing}"
    for name in FILES:
        check(folder / name)
    for name, what in NOT_MRC.items():
        refused(folder / name, what)
    print(
        f"mrcz {mrcz.__version__} reads {len(FILES)} real files as mrcfile {mrcfile.__version__} does, and writes them back"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
