"""Data files read at compile time: what a ``data`` section's files hold, before any training runs.

This module owns the inspection layer between a ``data`` section and the checker: given a CSV,
``.npy``, ``.npz`` or ``.pt`` file, it reports shapes, dtypes (the names of
:mod:`nndsl.ir.tensors`) and, for integer data, value ranges, without torch or numpy. Every
problem with a file, however malformed, is a :class:`DataFileError` with a lowercase message
that names the file as the user wrote it; no other exception escapes.

CSV files are read here (:func:`inspect_csv`, :class:`Table`); the binary formats are parsed
in :mod:`nndsl.datafiles.binary` (numpy) and :mod:`nndsl.datafiles.pt` (torch), imported only
when such a file is read. Results are cached by path, modification time and size, so a file
named several times is read once.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

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
from nndsl.datafiles.common import (
    nan_safe as _nan_safe,
)

# ---- CSV --------------------------------------------------------------------------------------


def inspect_csv(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Table:
    """Read a CSV file of numbers: its header, row count and each column's dtype and range.

    Columns are separated by commas; quoted fields, CRLF line ends, a UTF-8 byte-order mark
    and blank lines (skipped) are accepted. The first row is a header when any of its cells is
    not a number; a file whose first row is all numbers has no header, and its columns are
    named by index only. A column is int64 when every value is an integer literal that fits
    in 64 bits, else float32 (``nan`` and ``inf`` are floats). Empty or text cells are refused
    with their row (the line number in the file) and column.
    """
    return cached("csv", path, base, _read_csv)


def _read_csv(file: Path, shown: str) -> Table:
    raw = file.read_bytes()
    if not raw.strip():
        raise DataFileError(f"{shown} is empty", help="a CSV data file needs rows of numbers")
    if b"\0" in raw:
        raise DataFileError(f"{shown} is not a text file (it holds NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFileError(
            f"{shown} is not UTF-8 text (byte {raw[e.start]:#04x} at offset {e.start})",
            help="save the file as UTF-8",
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    rows, lines = [], []
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataFileError(f"{shown}: row {reader.line_num} is not valid CSV ({e})") from None
    if not rows:
        raise DataFileError(
            f"{shown} holds no values", help="a CSV data file needs rows of numbers"
        )
    first = rows[0]
    header = any(_number(cell) is None for cell in first)
    names = [c.strip() for c in first] if header else None
    body, body_lines = (rows[1:], lines[1:]) if header else (rows, lines)
    if not body:
        raise DataFileError(f"{shown} has a header row but no data rows")
    width = len(first)
    ragged = [i for i, row in enumerate(body) if len(row) != width]
    if ragged:
        i = ragged[0]
        against = "the header has" if header else "the first row has"
        raise DataFileError(
            f"{shown} has {len(rows)} rows; row {body_lines[i]} has {len(body[i])} columns, "
            f"{against} {width}",
            help=(
                f"{len(ragged)} rows have a different number of columns"
                if len(ragged) > 1
                else "every row needs the same number of columns"
            ),
        )
    columns = []
    for index, cells in enumerate(zip(*body)):
        name = names[index] if names else None
        columns.append(_column(index, name, cells, body_lines, shown))
    return Table(shown, header, len(body), tuple(columns))


def _number(cell: str) -> int | float | None:
    """The number a cell holds, or None (the same rules as a whole column, for one cell)."""
    if "_" in cell or not cell.isascii():
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return None


def _column(index: int, name: str | None, cells: tuple, lines: list, shown: str) -> Column:
    """Type one column. Only its distinct cells are converted (digits.csv has at most 17 per
    column), by C loops (``map``); a cell that fails is then looked for in row order."""
    distinct = set(cells)
    joined = "".join(distinct)
    plain = "_" not in joined and joined.isascii()  # int() and float() take "1_000" and "٣"
    dtype, values = None, None
    if plain:
        try:
            values = list(map(int, distinct))
            dtype = "int64"
            if min(values) < INT64_MIN or max(values) > INT64_MAX:
                raise ValueError("too large for int64")
        except ValueError:
            try:
                values = list(map(float, distinct))
                dtype = "float32"
            except ValueError:
                pass
    if values is None:
        _refuse_cell(index, name, cells, lines, shown)
    lo, hi = min(values), max(values)
    if dtype == "float32" and "n" in joined.lower() and any(v != v for v in values):
        lo, hi = _nan_safe(min, values), _nan_safe(max, values)  # min() would depend on order
    return Column(index, name, dtype, lo, hi)


def _refuse_cell(index: int, name: str | None, cells: tuple, lines: list, shown: str):
    label = f"column {index}" if name is None else f"column {name!r}"
    for cell, line in zip(cells, lines):
        if _number(cell) is not None:
            continue
        if not cell.strip():
            raise DataFileError(
                f"{shown}: row {line}, {label} is empty; every cell needs a number",
                help="fill in the missing values, or drop those rows",
            )
        sep = next((s for s in (";", "\t", "|") if s in cell), None)
        raise DataFileError(
            f"{label} of {shown} holds text ({cell!r} in row {line}); "
            "only numbers can become tensors",
            help=(
                f"columns must be separated by commas; this file seems to use {sep!r}"
                if sep
                else "encode categories as integers (0, 1, 2, ...)"
            ),
        )
    raise AssertionError("a column that failed to convert has a cell that does not")


# ---- binary formats (parsed in datafiles_binary) ----------------------------------------------


def inspect_npy(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Array:
    """Read a numpy ``.npy`` file's header (format 1.0, 2.0 or 3.0): shape, dtype and, for
    integer and bool arrays, the range of values (either byte order, C or Fortran order).
    Object arrays, structured dtypes and dtypes torch lacks are refused."""
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
