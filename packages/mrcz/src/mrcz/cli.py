"""The ``mrcz`` command: inspect, validate, compress, decompress and convert MRC/MRCZ files."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import mrcz
from mrcz._atomic import unfinished_temporaries

CODECS = ("zstd", "lz4", "lz4hc", "blosclz", "zlib")
TIFF_CODECS = ("zstd", "zlib")  # the --codec values TIFF output understands
STATS = ("dmin", "dmax", "dmean", "rms")
_CHUNK_FORMATS = {
    "blosc": "blosc (version 2, c-blosc 1's format: every MRCZ reader opens it)",
    "blosc2": "blosc2 (version 5, c-blosc2's format: python-mrcz needs the blosc2 package)",
}
FEI_FIELDS = ("Microscope type", "HT", "Pixel size X", "Dose", "Defocus", "Alpha tilt")  # in FEI1 and FEI2


class _UsageError(Exception):
    """Options that cannot work together, or a missing optional package: exit status 2."""


# -- helpers ---------------------------------------------------------------------------
def _int_in(lo: int, hi: int | None = None) -> Any:
    def parse(text: str) -> int:
        value = int(text)  # ValueError -> argparse's "invalid value" message
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {f'from {lo} to {hi}' if hi is not None else f'at least {lo}'}")
        return value

    parse.__name__ = "integer"
    return parse


def _is_tiff(path: str) -> bool:
    return Path(path).suffix.lower() in (".tif", ".tiff")


def _tifffile() -> Any:
    try:
        import tifffile
    except ImportError:
        raise _UsageError("TIFF files need tifffile: pip install tifffile (or mrcz[tiff])") from None
    return tifffile


def _check_paths(src: str, out: str, overwrite: bool) -> None:
    same = Path(src).resolve() == Path(out).resolve()
    if not same and Path(src).exists() and Path(out).exists():
        same = Path(src).samefile(out)  # hard links
    if same:
        raise ValueError(f"input and output are the same file ({src}); write to a new name")
    if Path(out).exists() and not overwrite:
        raise FileExistsError(f"{out} exists; use --overwrite to replace it")


def _progress(items: Iterable[Any], total: int, quiet: bool, desc: str) -> Iterator[Any]:
    """tqdm where installed, else a counter; only on a terminal, for more than one frame, without --quiet."""
    if quiet or total <= 1 or not sys.stderr.isatty():
        yield from items
        return
    try:
        from tqdm import tqdm
    except ImportError:
        last = 0.0
        for i, item in enumerate(items, 1):
            yield item
            if time.monotonic() - last > 0.2 or i == total:
                last = time.monotonic()
                print(f"\r{desc}: {i}/{total} frames", end="\n" if i == total else "", file=sys.stderr, flush=True)
        return
    yield from tqdm(items, total=total, desc=desc, unit="frame", file=sys.stderr)


def _item_count(h: mrcz.Header) -> int:
    return h.shape[0] if len(h.shape) > 2 else 1


# -- info --------------------------------------------------------------------------------
def _describe(path: str) -> dict[str, Any]:
    with mrcz.open(path) as f:
        h = f.header
        stored = f.compressed_size
        data_bytes = h.nz * h.frame_bytes
        d: dict[str, Any] = {
            "path": path, "file_size": Path(path).stat().st_size, "shape": list(h.shape), "kind": h.kind,
            "dtype": "complex int16" if h.dtype.names else h.dtype.name, "mode": h.mode, "four_bit_bytes": h.four_bit_bytes,
            "byteorder": "little" if h.byteorder == "<" else "big", "byteorder_from_stamp": h.byteorder_from_stamp,
            "voxel_size": list(h.voxel_size), "origin": list(h.origin),
            **{k: v if math.isfinite(v := getattr(h, k)) else None for k in STATS},
            "stats_from_first_frame": h.stats_from_first_frame,
            "codec": h.codec, "chunk_format": f.chunk_format, "container": f.container, "data_bytes": data_bytes, "compressed_size": stored,
            "compression_ratio": data_bytes / stored if stored else None,
            "voltage": h.voltage, "cs": h.cs, "gain": h.gain,
            "exttyp": h.exttyp, "nsymbt": h.nsymbt, "labels": h.labels,
        }  # fmt: skip
        if h.exttyp == "json":
            d["meta"] = f.meta
        records = f.indexed_extended_header
        if records is not None and len(records):
            first = {k: records[0][k].item() for k in FEI_FIELDS if k in (records.dtype.names or ())}
            first = {k: v.decode("latin-1").strip("\0 ") if isinstance(v, bytes) else v for k, v in first.items()}
            d["fei"] = {"records": len(records), "record_size": records.dtype.itemsize, "record_0": first}
    return d


def _print_info(d: dict[str, Any]) -> None:
    vs, line = d["voxel_size"], "  {:<13}{}".format
    print(d["path"])
    print(line("shape", f"{' x '.join(map(str, d['shape']))} ({d['kind']})"))
    packing = ", stored as mode 0 bytes by SerialEM" if d["four_bit_bytes"] else ""
    print(line("data type", f"{d['dtype']} (mode {d['mode']}{packing})"))
    guessed = "" if d["byteorder_from_stamp"] else " (guessed: the machine stamp is invalid)"
    print(line("byte order", f"{d['byteorder']}-endian{guessed}"))
    print(line("voxel size", f"{vs[0]:.4g} x {vs[1]:.4g} x {vs[2]:.4g} Å"))
    stats = ", ".join(f"{k} {d[k]:.6g}" if d[k] is not None else f"{k} nan" for k in STATS)
    if d["dmax"] is not None and d["dmin"] is not None and d["dmax"] < d["dmin"]:
        stats += " (undetermined: MRC2014's markers, DMAX < DMIN)"
    elif d["stats_from_first_frame"]:
        stats += " (python-mrcz 0.x's by default: of frame 0 only, not of all frames)"
    print(line("statistics", stats))
    if d["codec"]:
        ratio = f", ratio {d['compression_ratio']:.3g}" if d["compression_ratio"] else ""
        print(line("codec", f"{d['codec']}: {d['compressed_size']} bytes from {d['data_bytes']}{ratio}"))
        if d["chunk_format"]:
            print(line("chunks", _CHUNK_FORMATS[d["chunk_format"]]))
    elif d["container"]:
        print(line("codec", f"{d['container']} (plain MRC inside, {d['data_bytes']} bytes of data, read as a stream)"))
    else:
        print(line("codec", f"none (plain MRC, {d['data_bytes']} bytes of data)"))
    if d["voltage"] or d["cs"] or d["gain"] not in (None, 0.0, 1.0):
        print(line("microscope", f"{d['voltage']:g} kV, Cs {d['cs']:g} mm, gain {d['gain']:g}"))
    print(line("ext. header", f"{d['exttyp'] or 'untyped'}, {d['nsymbt']} bytes" if d["nsymbt"] else "none"))
    if "meta" in d:
        print(line("metadata", ", ".join(d["meta"]) or "(empty)"))
    if "fei" in d:
        fei, r0 = d["fei"], d["fei"]["record_0"]
        print(line("FEI records", f"{fei['records']} of {fei['record_size']} bytes; record 0: {r0['Microscope type']}, "
                   f"HT {r0['HT'] / 1e3:g} kV, pixel size {r0['Pixel size X'] * 1e10:.4g} Å, dose {r0['Dose']:g}, "
                   f"defocus {r0['Defocus'] * 1e6:.4g} µm, tilt {r0['Alpha tilt']:g}°"))  # fmt: skip
    for i, label in enumerate(d["labels"]):
        print(line("labels" if i == 0 else "", f"[{i}] {label}"))


def _print_temporaries(folder: str, as_json: bool) -> None:
    temps = unfinished_temporaries(folder)
    if as_json:
        print(json.dumps({"path": folder, "unfinished_temporaries": [
            {"path": str(t.path), "size": t.size, "age_s": round(t.age_s, 1), "in_use": t.in_use, "stale": t.stale}
            for t in temps]}))  # fmt: skip
        return
    print(f"{folder}: {len(temps) or 'no'} unfinished temporary file{'s' if len(temps) != 1 else ''} of mrcz writers")
    for t in temps:
        if t.in_use:
            state = "being written"
        elif t.stale:
            state = "left by a killed writer"
        else:  # unlocked but very new, or no locks here (Windows) and under an hour old
            state = "not known to be in use"
        print(f"  {t.path.name}  {t.size} bytes, {t.age_s / 60:.0f} min old, {state}")


def cmd_info(args: argparse.Namespace) -> int:
    status = 0
    for i, path in enumerate(args.files):
        if i and not args.json:
            print()
        if Path(path).is_dir():
            _print_temporaries(path, args.json)
            continue
        try:
            d = _describe(path)
        except (mrcz.MRCZError, OSError, ValueError, TypeError) as exc:
            _error(exc)
            status = 1
            continue
        if args.json:
            print(json.dumps(d, default=str))
        else:
            _print_info(d)
    return status


# -- validate ------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            problems = mrcz.validate(path, check_data=not args.skip_stats)
        except (mrcz.MRCZError, OSError, ValueError, TypeError) as exc:
            problems = [str(exc)]
        for problem in problems:
            print(f"{path}: {problem.removeprefix(f'{path}: ')}")
        if not problems:
            print(f"{path}: OK")
        status |= bool(problems)
    return status


# -- copying -----------------------------------------------------------------------------------
def _copy_mrc(src: str, out: str, args: argparse.Namespace, compressor: str | None) -> None:
    """Stream `src` (MRC/MRCZ) into `out` item by item, keeping the header's metadata."""
    with mrcz.open(src, threads=args.threads) as f:
        h = f.header
        extra: dict[str, Any] = {}
        if h.nsymbt and h.exttyp == "json":
            extra["meta"] = f.meta
        elif h.nsymbt:
            extra.update(extended_header=f.extended_header, exttyp=h.exttyp)
        with mrcz.MrcWriter(
            out, frame_shape=(h.ny, h.nx), dtype=h.dtype, compressor=compressor, durable=not args.no_sync,
            clevel=getattr(args, "level", 1), shuffle=getattr(args, "shuffle", "bitshuffle"),
            chunk_format=getattr(args, "chunk_format", "blosc"), threads=args.threads,
            pixel_size=tuple(h.voxel_size), voltage=h.voltage, cs=h.cs, gain=h.gain, origin=h.origin,
            overwrite=args.overwrite, volume=h.kind == "volume", mode=101 if h.mode == 101 else None,
            sections_per_volume=h.mz if h.kind == "volume stack" else None, like=h,
            labels=h.labels, **extra,
        ) as writer:  # fmt: skip
            for item in _progress(f.frames(), _item_count(h), args.quiet, Path(out).name):
                writer.append(item.reshape(-1, h.ny, h.nx))


def _mrc_to_tiff(src: str, out: str, args: argparse.Namespace) -> None:
    tifffile = _tifffile()
    options: dict[str, Any] = {"photometric": "minisblack"}
    if args.codec:
        if args.codec not in TIFF_CODECS:
            raise _UsageError(f"TIFF output supports --codec {' or '.join(TIFF_CODECS)}, not {args.codec}")
        options.update(compression=args.codec, compressionargs={"level": args.level})
    with (
        mrcz.open(src, threads=args.threads) as f,
        mrcz.atomic_output(out, overwrite=True, durable=not args.no_sync) as file,  # _check_paths asked
    ):
        h = f.header
        if h.dtype.names or h.nz == 0:
            raise ValueError(f"TIFF cannot hold {'complex int16 (mode 3) data' if h.nz else 'a file with no images'}")
        if h.voxel_size.x > 0 and h.voxel_size.y > 0:  # pixels per cm
            options.update(resolution=(1e8 / h.voxel_size.x, 1e8 / h.voxel_size.y), resolutionunit="CENTIMETER")

        def sections() -> Iterator[np.ndarray]:
            for item in _progress(f.frames(), _item_count(h), args.quiet, Path(out).name):
                yield from item.reshape(-1, h.ny, h.nx)

        try:  # one TIFF series, one page per section, written as the sections are read
            with tifffile.TiffWriter(file, bigtiff=h.nz * h.ny * h.nx * h.dtype.itemsize > 2**32 - 2**25) as tw:
                tw.write(sections(), shape=h.shape, dtype=h.dtype, **options)
        except ImportError:  # tifffile's zstd codec comes from imagecodecs
            raise _UsageError(f"{args.codec} TIFF compression needs imagecodecs (pip install imagecodecs)") from None


def _tiff_to_mrc(src: str, out: str, args: argparse.Namespace, compressor: str | None) -> None:
    tifffile = _tifffile()
    try:
        tif = tifffile.TiffFile(src)
    except tifffile.TiffFileError as exc:
        raise ValueError(f"{src}: {exc}") from None
    with tif:
        pages = tif.pages
        if not len(pages):
            raise ValueError(f"{src} holds no images")
        first = pages[0]
        if len(first.shape) != 2:
            raise ValueError(f"{src}: pages of shape {first.shape} are not single-channel images")
        pixel = None
        if first.resolutionunit == tifffile.RESUNIT.CENTIMETER and first.resolution[0] > 0:
            pixel = [1e8 / first.resolution[0], 1e8 / (first.resolution[1] or first.resolution[0])]
            pixel.append(pixel[0])
        with mrcz.MrcWriter(
            out, frame_shape=first.shape, dtype=first.dtype, compressor=compressor, clevel=args.level,
            chunk_format=args.chunk_format, threads=args.threads, pixel_size=pixel, overwrite=args.overwrite,
            durable=not args.no_sync,
        ) as writer:  # fmt: skip
            for page in _progress(pages, len(pages), args.quiet, Path(out).name):
                writer.append(page.asarray())


def cmd_compress(args: argparse.Namespace) -> int:  # also decompress, which has no --codec
    _check_paths(args.input, args.output, args.overwrite)
    _copy_mrc(args.input, args.output, args, getattr(args, "codec", None))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    src, out = args.input, args.output
    _check_paths(src, out, args.overwrite)
    if _is_tiff(out):
        if _is_tiff(src):
            raise _UsageError("both files are TIFF; convert needs an MRC/MRCZ file on one side")
        _mrc_to_tiff(src, out, args)
        return 0
    to_mrcz = Path(out).suffix.lower() == ".mrcz"
    if args.codec and not to_mrcz:
        raise _UsageError(f"--codec needs an .mrcz or .tif/.tiff output, not {Path(out).name}")
    compressor = (args.codec or "zstd") if to_mrcz else None
    if _is_tiff(src):
        _tiff_to_mrc(src, out, args, compressor)
    else:
        _copy_mrc(src, out, args, compressor)
    return 0


# -- parser and main ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrcz", description="Inspect, validate, compress, decompress and convert MRC2014 and MRCZ "
        "(blosc-compressed MRC) electron-microscopy files.", epilog="Run 'mrcz COMMAND --help' for a command's options. Exit status: 0 success, 1 a file could not be "
        "read or written (or is invalid), 2 bad usage or a missing optional package.",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"mrcz {mrcz.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=f"{summary}. {description}")

    p = command("info", "Print a summary of each file's header",
                "Shows shape and kind, data type and MRC mode, byte order (and whether it was guessed because the "
                "machine stamp is broken), voxel size, header statistics, codec and compression ratio "
                "(uncompressed data bytes / stored bytes), voltage/Cs/gain of MRCZ files, the extended header "
                "(type, size, the keys of JSON metadata or key fields of the first FEI record) and the labels.")  # fmt: skip
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="MRC or MRCZ file(s), also gzip/bzip2-compressed; a folder lists the unfinished "
                   "temporary files of mrcz writers in it")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per file (one per line) instead of text")  # fmt: skip
    p.set_defaults(func=cmd_info)

    p = command("validate", "Check files against the MRC2014 standard and MRCZ's layout",
                "Prints 'FILE: OK' or one line per problem (header words, file size, damaged compressed frames, "
                "header statistics that do not match the data). Exit status 1 if any file has a problem.")  # fmt: skip
    p.add_argument("files", nargs="+", metavar="FILE", help="MRC or MRCZ file(s)")
    p.add_argument("--skip-stats", action="store_true",
                   help="do not compare DMIN/DMAX/DMEAN/RMS with the data (faster for large plain files)")  # fmt: skip
    p.set_defaults(func=cmd_validate)

    def io_options(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("input", metavar="IN", help=f"file to read ({what})")
        p.add_argument("output", metavar="OUT", help="file to write; it appears only once complete")
        p.add_argument("--threads", type=_int_in(1), metavar="N", help="threads to use (default: all cores)")
        p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (shown only on a terminal)")
        p.add_argument("--no-sync", action="store_true",
                       help="do not sync OUT to disk before it replaces the name (scratch files: faster, "
                       "still atomic, but a power cut may lose it)")  # fmt: skip

    def chunk_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--chunk-format", choices=("blosc", "blosc2"), default="blosc",
                       help="blosc chunk layout of .mrcz output: blosc (version 2, every MRCZ reader, the "
                       "default) or blosc2 (version 5, c-blosc2 readers only)")  # fmt: skip

    def level_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--level", type=_int_in(0, 9), default=1, metavar="N",
                       help="compression level 0-9 (default: %(default)s)")  # fmt: skip

    keeps = ("Frames are streamed one at a time, so files larger than memory work. Voxel size, voltage, Cs, gain, "
             "origin, JSON metadata or extended header and the kind (stack or volume) are kept; labels are new. IN may be "
             "gzip- or bzip2-compressed (recognised by its first bytes).")  # fmt: skip
    p = command("compress", "Compress an MRC/MRCZ file into an MRCZ file", keeps)
    io_options(p, "MRC or MRCZ")
    p.add_argument("--codec", choices=CODECS, default="zstd", help="blosc codec (default: %(default)s)")
    level_option(p)
    p.add_argument("--shuffle", choices=("bitshuffle", "shuffle", "none"), default="bitshuffle",
                   help="blosc filter applied before compression (default: %(default)s)")  # fmt: skip
    chunk_option(p)
    p.set_defaults(func=cmd_compress)

    p = command("decompress", "Write an MRCZ (or MRC) file as a plain MRC2014 file",
                f"{keeps} OUT ending in .gz or .bz2 is written gzip- or bzip2-compressed.")  # fmt: skip
    io_options(p, "MRCZ or MRC")
    p.set_defaults(func=cmd_compress)

    p = command("convert", "Convert between MRC, MRCZ and TIFF, chosen by the file extensions",
                "OUT ending in .tif/.tiff writes one TIFF page per frame (needs tifffile; the voxel size becomes "
                "the TIFF resolution); IN ending in .tif/.tiff is read page by page. Otherwise OUT ending in .mrcz "
                "is compressed (zstd unless --codec), OUT ending in .gz or .bz2 is plain MRC in that container and any "
                "other OUT is plain MRC.")  # fmt: skip
    io_options(p, "MRC, MRCZ or TIFF")
    p.add_argument("--codec", choices=CODECS,
                   help="blosc codec for .mrcz output (default: zstd); for TIFF output zstd or zlib "
                   "(default: uncompressed; zstd needs imagecodecs)")  # fmt: skip
    level_option(p)
    chunk_option(p)
    p.set_defaults(func=cmd_convert)
    return parser


def _error(exc: BaseException) -> None:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        message = f"{exc.filename}: {exc.strerror}"
    else:
        message = str(exc) or type(exc).__name__
    print(f"mrcz: error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the ``mrcz`` command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        return int(args.func(args))
    except _UsageError as exc:
        _error(exc)
        return 2
    except (mrcz.MRCZError, OSError, ValueError, TypeError, IndexError) as exc:
        _error(exc)
        return 1
    except KeyboardInterrupt:
        print("mrcz: interrupted", file=sys.stderr)
        return 130
