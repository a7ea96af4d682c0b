"""numpy's ``.npy`` and ``.npz`` files for :mod:`nndsl.datafiles.inspect`, and what binary
formats share.

Each reader takes the file and the path as the user wrote it, and returns
:class:`~nndsl.datafiles.inspect.Array` values or raises
:class:`~nndsl.datafiles.inspect.DataFileError`. Only the standard library is used: ``.npy``
headers are parsed by hand (``ast.literal_eval`` on the header dict) and array data is read with
:mod:`array`, in chunks, in either byte order. The zip helpers and the value-range helpers here
serve :mod:`nndsl.datafiles.pt` too.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import math
import struct
import sys
import zipfile
import zlib
from array import array
from pathlib import Path

from nndsl.datafiles.common import Array, DataFileError, guarded

NPY_MAGIC = b"\x93NUMPY"
MAX_HEADER = 1 << 16  # bytes of .npy header; numpy itself refuses more than 10,000 by default
CHUNK = 1 << 22  # bytes of array data read at a time

# numpy's type codes (without byte order) -> (dtype, itemsize)
_NPY_TYPES = {
    "f8": ("float64", 8),
    "f4": ("float32", 4),
    "f2": ("float16", 2),
    "i8": ("int64", 8),
    "i4": ("int32", 4),
    "i2": ("int16", 2),
    "i1": ("int8", 1),
    "u1": ("uint8", 1),
    "b1": ("bool", 1),
}
_CONVERT = "convert it first, e.g. with array.astype(numpy.int64) or .astype(numpy.float32)"
_NUMBERS = "only numbers can become tensors"
_NPY_REFUSED = {  # what the first letter of other numpy type codes means, and a hint
    "O": ("Python objects (an object array); " + _NUMBERS, None),
    "U": ("text (a string array); " + _NUMBERS, None),
    "S": ("text (a bytes array); " + _NUMBERS, None),
    "V": ("raw or structured records (dtype {}); " + _NUMBERS, None),
    "M": ("dates (dtype {}); " + _NUMBERS, None),
    "m": ("time spans (dtype {}); " + _NUMBERS, None),
    "c": ("complex numbers (dtype {}), which are not supported", None),
    "u": ("unsigned integers wider than 8 bits (dtype {}), which are not supported", _CONVERT),
}
# array module type codes for the dtypes whose range is reported
TYPECODES = {"int64": "q", "int32": "i", "int16": "h", "int8": "b", "uint8": "B", "bool": "B"}


def as_values(raw: bytes, dtype: str, big_endian: bool) -> array:
    """Raw element bytes of an integer or bool dtype as an array of Python ints."""
    values = array(TYPECODES[dtype], raw)
    if big_endian != (sys.byteorder == "big") and values.itemsize > 1:
        values.byteswap()
    return values


def value_range(parts, dtype: str) -> tuple:
    """(min, max) over non-empty parts (arrays) of the values of an integer or bool array."""
    lo = hi = None
    for values in parts:
        if not values:
            continue
        a, b = min(values), max(values)
        lo, hi = (a, b) if lo is None else (min(lo, a), max(hi, b))
    if lo is not None and dtype == "bool":
        return bool(lo), bool(hi)
    return lo, hi


# ---- .npy and .npz ----------------------------------------------------------------------------


def read_npy(file: Path, shown: str) -> Array:
    """The array in a ``.npy`` file (its header; its values when first asked for)."""
    with open(file, "rb") as f:
        size = f.seek(0, io.SEEK_END)
        f.seek(0)
        if not size:
            raise DataFileError(f"{shown} is empty", help="a .npy file is written by numpy.save")
        return _npy(f, size, shown, lambda: open(file, "rb"))


def chunks(f, count: int, itemsize: int, dtype: str, big: bool, label: str):
    """The next ``count`` elements of ``f`` as arrays of Python ints, CHUNK bytes at a time."""
    step = CHUNK - CHUNK % itemsize
    need = count * itemsize
    for at in range(0, need, step):
        raw = f.read(min(step, need - at))
        if len(raw) < min(step, need - at):
            raise DataFileError(f"{label} changed while it was being read (it is shorter now)")
        yield as_values(raw, dtype, big)


def zip_reader(read):
    """``read``, with the errors of a damaged zip archive reported as such."""

    @functools.wraps(read)
    def reader(file: Path, shown: str):
        try:
            return read(file, shown)
        except DataFileError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError) as e:
            raise DataFileError(f"{shown} is a damaged zip archive ({e})") from None
        except (NotImplementedError, UnicodeDecodeError) as e:
            raise DataFileError(f"{shown} is a damaged or unsupported zip archive ({e})") from None

    return reader


@zip_reader
def read_npz(file: Path, shown: str) -> dict[str, Array]:
    """The arrays in a ``.npz`` archive, by key."""
    with open_zip(file, shown, "npz") as zf:
        found = {}
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".npy"):
                continue
            key = info.filename[: -len(".npy")]
            with zf.open(info) as f:
                found[key] = _npy(
                    f, info.file_size, f"{shown}[{key!r}]", functools.partial(_member, file, info)
                )
        if not found:
            torch_file = any(n.endswith("/data.pkl") for n in zf.namelist())
            raise DataFileError(
                f"{shown} holds no .npy arrays",
                help="it looks like a torch file; read it with pt(...)" if torch_file else None,
            )
        return found


@contextlib.contextmanager
def _member(file: Path, info: zipfile.ZipInfo):
    """Opens one member of an archive again, to read its values when they are asked for."""
    with zipfile.ZipFile(file) as zf, zf.open(info.filename) as f:
        yield f


def open_zip(file: Path, shown: str, kind: str) -> zipfile.ZipFile:
    """The zip archive of an .npz (``kind`` "npz") or .pt ("pt") file."""
    writer = "numpy.savez" if kind == "npz" else "torch.save (torch 1.6 or later)"
    with open(file, "rb") as f:
        head = f.read(4)
    if not head:
        raise DataFileError(f"{shown} is empty", help=f"a .{kind} file is written by {writer}")
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        pass
    if head.startswith(NPY_MAGIC[:4]):
        raise DataFileError(
            f"{shown} is a single .npy array, not a .{kind} archive", help="read it with npy(...)"
        )
    if head[:1] == b"\x80" and kind == "pt":
        raise DataFileError(
            f"{shown} is in torch's legacy format (before torch 1.6), which is not read",
            help="load it with torch and save it again: "
            "torch.save(torch.load(path, weights_only=True), path)",
        )
    raise DataFileError(
        f"{shown} is not a zip archive (it is damaged or another format)",
        help=f"a .{kind} file is written by {writer}",
    )


def _npy(f, size: int, label: str, reopen) -> Array:
    """The array in a .npy stream of ``size`` bytes; ``label`` names it in messages. Its values
    are read, from the stream ``reopen()`` opens again, only when their range is asked for."""
    head = f.read(8)
    if len(head) < 8 or head[:6] != NPY_MAGIC:
        raise DataFileError(
            f"{label} is not a .npy array (it does not start with numpy's magic bytes)",
            help="a .npy file is written by numpy.save",
        )
    version = (head[6], head[7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise DataFileError(
            f"{label} uses .npy format version {version[0]}.{version[1]}; "
            "versions 1.0, 2.0 and 3.0 are understood"
        )
    width = 2 if version[0] == 1 else 4
    raw_len = f.read(width)
    if len(raw_len) < width:
        raise DataFileError(f"{label} is truncated inside its header")
    (header_len,) = struct.unpack("<H" if width == 2 else "<I", raw_len)
    if header_len > MAX_HEADER:
        raise DataFileError(
            f"{label} has a header of {header_len:,} bytes; more than {MAX_HEADER:,} is refused"
        )
    raw = f.read(header_len)
    if len(raw) < header_len:
        raise DataFileError(f"{label} is truncated inside its header")
    shape, fortran, dtype, itemsize, big = _npy_header(raw, version, label)
    count = math.prod(shape)
    need, have = count * itemsize, size - 8 - width - header_len
    if have < need:
        raise DataFileError(
            f"{label} is truncated: its header promises {need:,} bytes of data "
            f"({' x '.join(map(str, shape)) or 'one value'} {dtype}), it holds {have:,}"
        )
    swap = big and itemsize > 1
    if dtype not in TYPECODES or not count:
        return Array(shape, dtype, big_endian=swap)
    start = 8 + width + header_len

    def scan() -> tuple:
        # C or Fortran order holds the same values, so the range needs no reordering
        with reopen() as g:
            g.seek(start)
            return value_range(chunks(g, count, itemsize, dtype, big, label), dtype)

    return Array(shape, dtype, scan=guarded(label, scan), big_endian=swap)


def _npy_header(raw: bytes, version: tuple, label: str) -> tuple:
    """(shape, fortran_order, dtype, itemsize, big_endian) from a .npy header dict."""
    try:
        text = raw.decode("utf-8" if version[0] == 3 else "latin-1")
        header = ast.literal_eval(text.strip())
    except Exception:
        header = None
    keys = {"descr", "fortran_order", "shape"}
    if not isinstance(header, dict) or set(header) != keys:
        raise DataFileError(
            f"{label} has a malformed .npy header",
            help="the header must be a dict of 'descr', 'fortran_order' and 'shape'",
        )
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not isinstance(shape, tuple) or not all(
        type(n) is int and n >= 0 for n in shape  # bool is not a dim
    ):
        raise DataFileError(f"{label} has a malformed .npy header (shape {shape!r})")
    if not isinstance(fortran, bool):
        raise DataFileError(f"{label} has a malformed .npy header (fortran_order {fortran!r})")
    if not isinstance(descr, str):
        raise DataFileError(
            f"{label} holds a structured array (fields {str(descr)[:60]}); "
            "only plain numeric arrays can become tensors",
            help="save each field as its own array",
        )
    order, code = (descr[0], descr[1:]) if descr[:1] in ("<", ">", "|", "=") else ("=", descr)
    if code not in _NPY_TYPES:
        what, hint = _NPY_REFUSED.get(
            code[:1], ("numpy dtype {}, which is not supported", _CONVERT)
        )
        raise DataFileError(f"{label} holds " + what.format(repr(code)), help=hint)
    dtype, itemsize = _NPY_TYPES[code]
    big = order == ">" or (order == "=" and sys.byteorder == "big")
    return shape, fortran, dtype, itemsize, big
