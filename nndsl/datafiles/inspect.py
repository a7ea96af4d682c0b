"""Data files read at compile time: what a ``data`` section's files hold, before any training runs.

This module owns the inspection layer between a ``data`` section and the checker: given a CSV,
``.npy``, ``.npz``, ``.pt`` or text file, it reports shapes, dtypes (the names of
:mod:`nndsl.ir.tensors`) and, for integer data, value ranges, without torch or numpy. Every
problem with a file, however malformed, is a :class:`DataFileError` with a lowercase message
that names the file as the user wrote it; no other exception escapes.

CSV files are read in :mod:`nndsl.datafiles.csvfile`, numpy's formats in
:mod:`nndsl.datafiles.binary`, torch's in :mod:`nndsl.datafiles.pt` and text in
:mod:`nndsl.datafiles.text`, each imported only when such a file is read. Results are cached
by path, modification time and size, so a file named several times is read once.
"""

from __future__ import annotations

import os

from nndsl.datafiles.common import (  # noqa: F401  (the readers' API)
    INT64_MAX,
    INT64_MIN,
    Array,
    Column,
    DataFileError,
    Table,
    cached,
    clear_cache,
    locate,
)

# ---- CSV --------------------------------------------------------------------------------------


def inspect_csv(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Table:
    """Read a CSV file of numbers: its header, row count and each column's dtype and range.

    The file is read in one streaming pass, in blocks, by the rules of the training script's
    reader (``np.loadtxt``): columns separated by commas; quoted fields that end on their line,
    CRLF or CR line ends, a UTF-8 byte-order mark and blank or whitespace-only lines (skipped)
    are accepted. The first row is a header when any of its cells is not a number; a file whose
    first row is all numbers has no header, and its columns are named by index only. A column
    is int64 when every value is an integer literal that fits in 64 bits, else float32 (``nan``
    and ``inf`` are floats); a float32 column's range is read when first asked for. Empty or
    text cells are refused with their row (the line number in the file) and column.
    """
    from nndsl.datafiles import csvfile

    return cached("csv", path, base, csvfile.read_csv)


# ---- binary formats (parsed in datafiles_binary) ----------------------------------------------


def inspect_npy(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Array:
    """Read a numpy ``.npy`` file's header (format 1.0, 2.0 or 3.0): shape, dtype and, for
    integer and bool arrays, the range of values, read when first asked for (either byte order,
    C or Fortran order). Object arrays, structured dtypes and dtypes torch lacks are refused."""
    from nndsl.datafiles import binary as datafiles_binary

    return cached("npy", path, base, datafiles_binary.read_npy)


def inspect_npz(path: str | os.PathLike, base: str | os.PathLike | None = None) -> dict[str, Array]:
    """Read a numpy ``.npz`` archive (stored or compressed): each array by its key, the member
    name without ``.npy``, in the archive's order. Members that are not ``.npy`` are skipped."""
    from nndsl.datafiles import binary as datafiles_binary

    return cached("npz", path, base, datafiles_binary.read_npz)


def inspect_pt(
    path: str | os.PathLike, base: str | os.PathLike | None = None
) -> Array | dict[str, Array]:
    """Read a file written by ``torch.save`` (the zip format of torch 1.6 and later) holding a
    tensor or a dict of tensors with string keys (a ``state_dict`` too).

    The pickle inside is read by an unpickler that only knows the few names torch uses to
    rebuild tensors, mapped to stand-ins that record shape, strides, offset and dtype; it never
    runs code from the file, and a file whose pickle names anything else is refused. Integer and
    bool tensors get their range from the stored bytes, honouring offset and strides.
    """
    from nndsl.datafiles import pt as datafiles_pt

    return cached("pt", path, base, datafiles_pt.read_pt)


def inspect_safetensors(
    path: str | os.PathLike, base: str | os.PathLike | None = None
) -> dict[str, Array]:
    """Read the header of a ``.safetensors`` file: each tensor's shape and dtype, by name."""
    from nndsl.datafiles import safetensors as datafiles_safetensors

    return cached("safetensors", path, base, datafiles_safetensors.read_safetensors)


def inspect_text(path: str | os.PathLike, base: str | os.PathLike | None = None):
    """Read a UTF-8 text file whole (at most 16 MiB): its number of characters, its vocabulary
    (the sorted distinct characters, whose order gives the ids) and its first character, as a
    :class:`nndsl.datafiles.text.TextFile`. ``\\r\\n`` and ``\\r`` count as ``\\n``, as Python
    reads text; a file that is empty or not UTF-8 is refused."""
    from nndsl.datafiles import text as datafiles_text

    return cached("text", path, base, datafiles_text.read_text)
