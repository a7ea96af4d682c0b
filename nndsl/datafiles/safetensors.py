"""The header of a ``.safetensors`` file, read without torch: each tensor's name, shape and
dtype.

The format (https://huggingface.co/docs/safetensors) is an 8-byte little-endian length N, then
N bytes of JSON mapping each tensor's name to its ``dtype``, ``shape`` and ``data_offsets``
(and ``__metadata__`` to a dict of strings), then the tensors' bytes. Only the header is read;
it is checked against the file's size, so a truncated or foreign file is refused here.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from nndsl.datafiles.common import Array, DataFileError, guarded

MAX_HEADER = 100 << 20  # bytes: the format's own limit

# safetensors' dtype names -> the checker's, with the bytes of one element
DTYPES = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}


def read_safetensors(file: Path, shown: str) -> dict[str, Array]:
    """Each tensor of the file, by name, in the header's order."""
    return guarded(shown, _read)(file, shown)


def _read(file: Path, shown: str) -> dict[str, Array]:
    size = file.stat().st_size
    with open(file, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DataFileError(f"{shown} is too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER, size - 8):
            raise DataFileError(
                f"{shown} is not a safetensors file (its header would be {length:,} bytes)"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DataFileError(f"{shown} has a damaged header (not JSON)") from None
    if not isinstance(header, dict):
        raise DataFileError(f"{shown} has a damaged header (not a JSON object)")
    found = {}
    end = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        found[name] = _tensor(name, entry, end, shown)
    return found


def _tensor(name: str, entry, end: int, shown: str) -> Array:
    bad = DataFileError(f"{shown} has a damaged entry for {name!r}")
    if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
        if isinstance(entry, dict) and isinstance(entry.get("dtype"), str):
            raise DataFileError(f"{shown} holds {name!r} as {entry['dtype']}, a dtype not read")
        raise bad
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    ints = (list, tuple)
    if not isinstance(shape, ints) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad
    if not isinstance(offsets, ints) or len(offsets) != 2:
        raise bad
    first, last = offsets
    dtype, width = DTYPES[entry["dtype"]]
    count = 1
    for d in shape:
        count *= d
    if not (type(first) is int and type(last) is int and 0 <= first <= last <= end):
        raise bad
    if last - first != count * width:
        raise bad
    return Array(tuple(shape), dtype)
