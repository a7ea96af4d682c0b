"""Data files read at compile time: what a ``data`` section's files hold, before any training runs.

This module owns the inspection layer between a ``data`` section and the checker: given a CSV,
``.npy``, ``.npz`` or ``.pt`` file, it reports shapes, dtypes (the names of
:mod:`nndsl.tensors`) and, for integer data, value ranges, without torch or numpy. Every
problem with a file, however malformed, is a :class:`DataFileError` with a lowercase message
that names the file as the user wrote it; no other exception escapes.

CSV files are read here (:func:`inspect_csv`, :class:`Table`); the binary formats are parsed
in :mod:`nndsl.datafiles_binary` (numpy) and :mod:`nndsl.datafiles_pt` (torch), imported only
when such a file is read. Results are cached by path, modification time and size, so a file
named several times is read once.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .naming import suggest
from .tensors import Tensor

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class DataFileError(Exception):
    """A data file that cannot be read, or does not hold what is asked of it."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.message = message
        self.help = help


@dataclass(frozen=True)
class Array:
    """What a tensor read from a file will be: shape, dtype and, when known, its value range.

    ``min`` and ``max`` are given for integer and bool data (``bool`` values for bool data) and
    for CSV columns; they are None for floating-point arrays and for arrays with no elements.
    """

    shape: tuple[int, ...]
    dtype: str
    min: int | float | bool | None = None
    max: int | float | bool | None = None

    @property
    def tensor(self) -> Tensor:
        """The checker's type for this array."""
        return Tensor(self.shape, self.dtype)


@dataclass(frozen=True)
class Column:
    """One CSV column: its 0-based index, header name (None without a header), dtype, range."""

    index: int
    name: str | None
    dtype: str  # "int64" when every value is an integer literal that fits, else "float32"
    min: int | float
    max: int | float

    @property
    def label(self) -> str:
        """How messages name the column: ``column 'species'``, or ``column 3`` by 0-based index."""
        return f"column {self.index}" if self.name is None else f"column {self.name!r}"


@dataclass(frozen=True)
class Table:
    """A CSV file: ``rows`` data rows (the header not counted) of ``all_columns``."""

    path: str  # as the user wrote it
    header: bool
    rows: int
    all_columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str | None, ...]:
        """The column names in order (all None without a header)."""
        return tuple(c.name for c in self.all_columns)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the whole table."""
        return (self.rows, len(self.all_columns))

    def columns(self, selector) -> tuple[Column, ...]:
        """The columns a selector picks, in its order.

        A selector is an int (negative counts from the end), a column name, a ``slice`` of ints
        or a list or tuple of ints and names; a name or index that is not there raises
        :class:`DataFileError` (with a did-you-mean hint for a misspelt name).
        """
        n = len(self.all_columns)
        if isinstance(selector, slice):
            for part in (selector.start, selector.stop, selector.step):
                if part is not None and (not isinstance(part, int) or isinstance(part, bool)):
                    raise DataFileError(
                        f"a column slice takes integer bounds, not {part!r}",
                        help='select named columns with a list, such as ["a", "b"]',
                    )
            if selector.step == 0:
                raise DataFileError("a column slice cannot have step 0")
            return tuple(self.all_columns[i] for i in range(n)[selector])
        if isinstance(selector, (list, tuple)):
            return tuple(self._one(s) for s in selector)
        return (self._one(selector),)

    def select(self, selector=None) -> Array:
        """The tensor ``t[:, selector]`` gives (the whole table when selector is None).

        One int or name gives a 1-D tensor of ``rows`` values; a slice or list gives
        ``(rows, k)``. Its dtype is int64 when every selected column is int64, else float32.
        """
        picked = self.all_columns if selector is None else self.columns(selector)
        single = selector is not None and not isinstance(selector, (slice, list, tuple))
        shape = (self.rows,) if single else (self.rows, len(picked))
        dtype = "int64" if all(c.dtype == "int64" for c in picked) else "float32"
        if not picked or not self.rows:
            return Array(shape, dtype)
        lows, highs = [c.min for c in picked], [c.max for c in picked]
        return Array(shape, dtype, _nan_safe(min, lows), _nan_safe(max, highs))

    def _one(self, selector) -> Column:
        n = len(self.all_columns)
        if isinstance(selector, bool) or not isinstance(selector, (int, str)):
            raise DataFileError(
                f"cannot select columns with {selector!r}",
                help="use an index, a name, a slice of indices or a list of indices and names",
            )
        if isinstance(selector, int):
            if not -n <= selector < n:
                raise DataFileError(
                    f"column index {selector} is out of range: {self.path} has {n} columns",
                    help=f"indices run from 0 to {n - 1} (or -{n} to -1 from the end)",
                )
            return self.all_columns[selector]
        if not self.header:
            raise DataFileError(
                f"{self.path} has no header row, so it has no column {selector!r}",
                help=f"select its columns by index, 0 to {n - 1}",
            )
        found = [c for c in self.all_columns if c.name == selector]
        if len(found) > 1:
            where = ", ".join(str(c.index) for c in found)
            raise DataFileError(
                f"{self.path} has {len(found)} columns named {selector!r} (indices {where})",
                help="select the one you mean by index",
            )
        if not found:
            names = [c.name for c in self.all_columns]
            shown = ", ".join(repr(x) for x in names[:12]) + (", ..." if n > 12 else "")
            raise DataFileError(
                f"{self.path} has no column {selector!r}",
                help=suggest(selector, names) or f"its columns are {shown}",
            )
        return found[0]


def _nan_safe(pick, values):
    real = [v for v in values if v == v]
    return pick(real) if real else math.nan


# ---- files and the cache ----------------------------------------------------------------------

_CACHE: dict[tuple[str, str], tuple[int, int, object]] = {}


def clear_cache() -> None:
    """Forget every file read so far."""
    _CACHE.clear()


def locate(path: str | os.PathLike, base: str | os.PathLike | None = None) -> Path:
    """The file ``path`` names: relative paths are taken from ``base`` (a folder) when given."""
    p = Path(path)
    return p if base is None or p.is_absolute() else Path(base) / p


def cached(kind: str, path, base, read):
    """``read(file, shown)`` for the file, or its result from the last read when the file's
    modification time and size are unchanged. ``shown`` is the path as the user wrote it."""
    shown = os.fspath(path)
    if "\0" in shown:  # the system would refuse it with a ValueError
        raise DataFileError("a file path cannot hold a NUL character")
    file = locate(path, base)
    try:
        st = file.stat()
    except FileNotFoundError:
        raise DataFileError(
            f"{shown} does not exist", help=f"looked for {file.resolve()}"
        ) from None
    except OSError as e:
        raise DataFileError(f"cannot read {shown}: {_reason(e)}") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise DataFileError(f"{shown} is {what}, not a data file")
    key = (kind, str(file.resolve()))
    hit = _CACHE.get(key)
    if hit is not None and hit[:2] == (st.st_mtime_ns, st.st_size):
        result = hit[2]
    else:
        try:
            result = read(file, shown)
        except DataFileError:
            raise
        except OSError as e:
            raise DataFileError(f"cannot read {shown}: {_reason(e)}") from None
        except (MemoryError, RecursionError):
            raise DataFileError(f"{shown} is too large or too deeply nested to inspect") from None
        except Exception as e:  # a malformed file must never crash the compiler
            raise DataFileError(f"{shown} is malformed ({type(e).__name__}: {e})") from None
        _CACHE[key] = (st.st_mtime_ns, st.st_size, result)
    return dict(result) if isinstance(result, dict) else result


def _reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


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
    from . import datafiles_binary

    return cached("npy", path, base, datafiles_binary.read_npy)


def inspect_npz(path: str | os.PathLike, base: str | os.PathLike | None = None) -> dict[str, Array]:
    """Read a numpy ``.npz`` archive (stored or compressed): each array by its key, the member
    name without ``.npy``, in the archive's order. Members that are not ``.npy`` are skipped."""
    from . import datafiles_binary

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
    from . import datafiles_pt

    return cached("pt", path, base, datafiles_pt.read_pt)
