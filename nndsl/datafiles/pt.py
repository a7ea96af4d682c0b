"""torch's ``.pt`` files for :mod:`nndsl.datafiles.inspect`, read without torch and without
running them.

``torch.save`` (torch 1.6 and later) writes a zip archive: ``<name>/data.pkl``, a pickle that
rebuilds the tensors, and ``<name>/data/<key>``, the raw bytes of each storage. The pickle is read
by :class:`_TensorUnpickler`, whose only globals are stand-ins for the few names torch uses to
rebuild tensors (``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage`` and its kin,
``collections.OrderedDict``); they record shape, strides, offset, dtype and storage key. Any
other global is refused before it is looked up, so no code from the file ever runs.
"""

from __future__ import annotations

import io
import itertools
import math
import pickle
import pickletools
import zipfile
from array import array
from collections import OrderedDict
from pathlib import Path

from nndsl.datafiles.binary import (
    CHUNK,
    TYPECODES,
    as_values,
    open_zip,
    value_range,
    zip_reader,
)
from nndsl.datafiles.common import Array, DataFileError, guarded
from nndsl.util.frozen import frozen

MAX_PICKLE = 16 << 20  # bytes of data.pkl (a state_dict of 10,000 tensors has about 1.5 MiB)

# torch's storage classes, ``torch.<Name>Storage`` -> (dtype, itemsize)
_TORCH_STORAGES = {
    "Double": ("float64", 8),
    "Float": ("float32", 4),
    "Half": ("float16", 2),
    "BFloat16": ("bfloat16", 2),
    "Long": ("int64", 8),
    "Int": ("int32", 4),
    "Short": ("int16", 2),
    "Char": ("int8", 1),
    "Byte": ("uint8", 1),
    "Bool": ("bool", 1),
}


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and its kin: only the dtype is kept."""

    __slots__ = ("dtype", "itemsize")

    def __init__(self, dtype: str, itemsize: int):
        self.dtype, self.itemsize = dtype, itemsize


@frozen(slots=True)
class _Storage:
    kind: _StorageType
    key: str  # its bytes are the archive's data/<key>


@frozen(slots=True)
class _Tensor:
    """Stands in for a rebuilt tensor: where its elements are, not what they are."""

    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple


def _ints(value) -> bool:
    return isinstance(value, tuple) and all(type(v) is int and v >= 0 for v in value)


def _rebuild_tensor_v2(storage, offset, shape, stride, *_rest):
    """Stands in for ``torch._utils._rebuild_tensor_v2``: records the layout, builds nothing."""
    ok = isinstance(storage, _Storage) and type(offset) is int and offset >= 0
    if not (ok and _ints(shape) and _ints(stride) and len(shape) == len(stride)):
        raise _Refused("a tensor with an invalid layout")
    return _Tensor(storage, offset, shape, stride)


def _rebuild_parameter(data, *_rest):
    """Stands in for ``torch._utils._rebuild_parameter`` (an ``nn.Parameter``): its tensor."""
    if not isinstance(data, _Tensor):
        raise _Refused("a parameter that is not a tensor")
    return data


class _Refused(Exception):
    """A pickle that asks for something the stand-ins do not provide."""


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
}
_ALLOWED.update(
    {("torch", f"{name}Storage"): _StorageType(*kind) for name, kind in _TORCH_STORAGES.items()}
)


class _TensorUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are the stand-ins above: it cannot run code."""

    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch" and name.endswith("Storage"):
            raise _Refused(f"tensors of type torch.{name}, a dtype that is not supported")
        raise _Refused(f"more than tensors: its pickle calls {module}.{name}")

    def persistent_load(self, pid):
        if (
            isinstance(pid, tuple)
            and len(pid) == 5
            and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)
            and isinstance(pid[2], str)
        ):
            return _Storage(pid[1], pid[2])
        raise _Refused("a storage reference torch does not write")


@zip_reader
def read_pt(file: Path, shown: str):
    """The tensor, or dict of tensors, in a file written by ``torch.save``."""
    with open_zip(file, shown, "pt") as zf:
        names = set(zf.namelist())
        pickles = sorted(n for n in names if n.endswith("/data.pkl") and n.count("/") == 1)
        if not pickles:
            npz = any(n.endswith(".npy") for n in names)
            raise DataFileError(
                f"{shown} is a zip archive but not a torch file (it has no data.pkl)",
                help="it looks like a numpy .npz archive; read it with npz(...)" if npz else None,
            )
        prefix = pickles[0][: -len("data.pkl")]
        big = False
        if prefix + "byteorder" in names:
            order = zf.read(prefix + "byteorder").strip()
            if order not in (b"little", b"big"):
                raise DataFileError(f"{shown} names an unknown byte order {order[:20]!r}")
            big = order == b"big"
        if zf.getinfo(pickles[0]).file_size > MAX_PICKLE:
            raise DataFileError(f"{shown} has a data.pkl larger than {MAX_PICKLE >> 20} MiB")
        data = zf.read(pickles[0])
        try:
            _prescan(data)
            root = _TensorUnpickler(io.BytesIO(data)).load()
        except _Refused as e:
            raise DataFileError(
                f"{shown} holds {e}",
                help="a .pt data file must hold a tensor or a dict of tensors; "
                "nothing from this file was run",
            ) from None
        except Exception as e:  # a damaged pickle raises anything from EOFError to TypeError
            raise DataFileError(f"{shown} has a damaged pickle (data.pkl): {e}") from None
        if isinstance(root, _Tensor):
            return _tensor(root, file, zf, prefix, big, shown)
        if not isinstance(root, dict):
            raise DataFileError(
                f"{shown} holds a {type(root).__name__}, not a tensor or a dict of tensors",
                help="save a tensor, or a dict of named tensors, with torch.save",
            )
        found = {}
        for key, value in root.items():
            if not isinstance(key, str):
                raise DataFileError(
                    f"{shown} holds a dict with the key {key!r}; its keys must be strings"
                )
            if not isinstance(value, _Tensor):
                raise DataFileError(
                    f"{shown} holds a dict whose entry {key!r} is not a tensor (its type is "
                    f"{type(value).__name__}); a .pt data file holds a tensor or a dict of tensors",
                    help='save only the tensors, e.g. torch.save({"x": x, "y": y}, path)',
                )
            found[key] = _tensor(value, file, zf, prefix, big, f"{shown}[{key!r}]")
        return found


def _prescan(data: bytes) -> None:
    """Walk the pickle's opcodes without running them: refuse memo indices that would make the
    unpickler allocate far more memory than the pickle's own size."""
    limit = len(data)
    for opcode, arg, _pos in pickletools.genops(data):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"):
            if not isinstance(arg, int) or not 0 <= arg <= limit:
                raise _Refused("a damaged pickle (a memo index out of range)")


def _tensor(t: _Tensor, file: Path, zf: zipfile.ZipFile, prefix: str, big: bool, label: str):
    """The Array for a stand-in tensor; an integer tensor's range is read from its storage's
    bytes when first asked for."""
    kind, shape = t.storage.kind, t.shape
    member = f"{prefix}data/{t.storage.key}"
    try:
        stored = zf.getinfo(member).file_size // kind.itemsize
    except KeyError:
        raise DataFileError(f"{label} has no storage in the file (no {member})") from None
    count = math.prod(shape)
    if not count:
        return Array(shape, kind.dtype)
    last = t.offset + sum((n - 1) * s for n, s in zip(shape, t.stride))
    if last >= stored:
        raise DataFileError(
            f"{label} is damaged: it reaches element {last:,} of a storage of {stored:,}"
        )
    if kind.dtype not in TYPECODES:
        return Array(shape, kind.dtype)

    def scan() -> tuple:
        with zipfile.ZipFile(file) as archive, archive.open(member) as f:
            parts = _strided(f, t.offset, last + 1, kind, big, shape, t.stride, label)
            return value_range(parts, kind.dtype)

    return Array(shape, kind.dtype, scan=guarded(label, scan))


def _strided(f, first: int, end: int, kind, big: bool, shape: tuple, stride: tuple, label: str):
    """The elements of a strided view of a storage (``f``), as arrays of Python ints, reading
    about CHUNK bytes at a time; ``first`` is the view's first element, ``end`` its last + 1.

    The range does not depend on the order of elements, so dims are sorted by stride and merged
    where contiguous (a contiguous tensor is one run), and dims of stride 0 (an expanded tensor)
    are dropped; the innermost dim left is a run of elements a step apart, cut in pieces that
    fit a chunk, and each piece is a step slice of the elements read last (read again when it
    lies outside them).
    """
    dims = sorted(((n, s) for n, s in zip(shape, stride) if n > 1 and s > 0), key=lambda d: -d[1])
    merged: list[tuple[int, int]] = []
    for n, s in dims:
        if merged and merged[-1][1] == n * s:
            merged[-1] = (merged[-1][0] * n, s)
        else:
            merged.append((n, s))
    (n, s), outer = (merged[-1] if merged else (1, 1)), merged[:-1]
    size = kind.itemsize
    per = max(1, CHUNK // size)  # elements read at a time
    piece = max(1, per // s)  # elements of a run taken at a time
    window, at = array(TYPECODES[kind.dtype]), 0
    for index in itertools.product(*(range(m) for m, _ in outer)):
        start = first + sum(i * st for i, (_, st) in zip(index, outer))
        for p in range(0, n, piece):
            b, length = start + p * s, (min(piece, n - p) - 1) * s + 1
            if not (at <= b and b + length <= at + len(window)):
                want = min(max(length, per), end - b)
                f.seek(b * size)
                raw = f.read(want * size)
                if len(raw) < want * size:
                    raise DataFileError(f"{label} changed while it was being read")
                window, at = as_values(raw, kind.dtype, big), b
            yield window[b - at : b - at + length : s]
