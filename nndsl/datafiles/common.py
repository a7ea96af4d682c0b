"""What every data-file reader shares: the values it reports (:class:`Array`, :class:`Table`),
the one error type (:class:`DataFileError`), and the cache of files already read."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from nndsl.ir.shapes import MAX_INT
from nndsl.ir.tensors import Tensor
from nndsl.util.frozen import frozen
from nndsl.util.naming import suggest

INT64_MIN, INT64_MAX = -(2**63), MAX_INT


class DataFileError(Exception):
    """A data file that cannot be read, or does not hold what is asked of it."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.message = message
        self.help = help


class Array:
    """What a tensor read from a file will be: shape, dtype and, when known, its value range.

    ``min`` and ``max`` are given for integer and bool data (``bool`` values for bool data) and
    for CSV columns; they are None for floating-point arrays and for arrays with no elements.
    A file's values are read only when ``min`` or ``max`` is first asked for (``scan`` reads
    them; the checker asks only for the targets' range), so inspecting a large file reads its
    header alone; ``ranged`` tells beforehand whether there is a range. ``big_endian`` marks a
    multi-byte ``.npy`` array stored big-endian, which torch cannot take as it is.
    """

    __slots__ = ("shape", "dtype", "big_endian", "_bounds", "_scan")

    def __init__(self, shape, dtype: str, min=None, max=None, *, scan=None, big_endian=False):
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = dtype
        self.big_endian = big_endian
        self._bounds = (min, max)
        self._scan = scan

    @property
    def ranged(self) -> bool:
        """Whether the array has a value range (read or still to be read)."""
        return self._scan is not None or self._bounds != (None, None)

    def bounds(self) -> tuple:
        """(min, max), reading the file the first time; a problem is a DataFileError."""
        if self._scan is not None:
            self._bounds, self._scan = self._scan(), None
        return self._bounds

    @property
    def min(self):
        return self.bounds()[0]

    @property
    def max(self):
        return self.bounds()[1]

    def value_range(self, on_error) -> ValueRange | None:
        """The range as the checker takes it: None without one, else a lazy (min, max)."""
        return ValueRange(self, on_error) if self.ranged else None

    @property
    def tensor(self) -> Tensor:
        """The checker's type for this array."""
        return Tensor(self.shape, self.dtype)

    def __eq__(self, other):
        if not isinstance(other, Array):
            return NotImplemented
        return (self.shape, self.dtype, self.bounds()) == (other.shape, other.dtype, other.bounds())

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def __repr__(self):
        shown = "not read yet" if self._scan is not None else f"min={self.min!r}, max={self.max!r}"
        return f"Array(shape={self.shape!r}, dtype={self.dtype!r}, {shown})"


class ValueRange(Sequence):
    """An array's (min, max) as the checker uses it, a pair read from the file when first
    indexed. A file that cannot be read then goes to ``on_error``, which must raise."""

    def __init__(self, array: Array, on_error):
        self.array, self.on_error = array, on_error

    def __getitem__(self, i):
        try:
            return self.array.bounds()[i]
        except DataFileError as e:
            self.on_error(e)
            raise  # on_error did not raise

    def __len__(self) -> int:
        return 2


class Column:
    """One CSV column: its 0-based index, header name (None without a header), dtype, range.

    ``dtype`` is "int64" when every value is an integer literal that fits, else "float32". The
    range of an int64 column is known from the pass that typed it; a float32 column's is read
    when first asked for (``ranges``, shared by the table's columns, reads it).
    """

    __slots__ = ("index", "name", "dtype", "ranges")

    def __init__(self, index: int, name: str | None, dtype: str, ranges):
        self.index, self.name, self.dtype, self.ranges = index, name, dtype, ranges

    @property
    def min(self) -> int | float:
        return self.ranges.get((self.index,))[0][0]

    @property
    def max(self) -> int | float:
        return self.ranges.get((self.index,))[0][1]

    @property
    def label(self) -> str:
        """How messages name the column: ``column 'species'``, or ``column 3`` by 0-based index."""
        return f"column {self.index}" if self.name is None else f"column {self.name!r}"

    def __eq__(self, other):
        if not isinstance(other, Column):
            return NotImplemented
        mine, theirs = self.ranges.get((self.index,)), other.ranges.get((other.index,))
        return (self.index, self.name, self.dtype, mine) == (
            other.index,
            other.name,
            other.dtype,
            theirs,
        )

    def __hash__(self):
        return hash((self.index, self.name, self.dtype))

    def __repr__(self):
        return f"Column({self.index}, {self.name!r}, {self.dtype!r})"


@frozen
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
        ranges, indices = picked[0].ranges, tuple(c.index for c in picked)

        def scan() -> tuple:
            pairs = ranges.get(indices)
            return nan_safe(min, [p[0] for p in pairs]), nan_safe(max, [p[1] for p in pairs])

        return Array(shape, dtype, scan=scan)

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


def nan_safe(pick, values):
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
        raise DataFileError(f"cannot read {shown}: {reason(e)}") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise DataFileError(f"{shown} is {what}, not a data file")
    key = (kind, str(file.resolve()))
    hit = _CACHE.get(key)
    if hit is not None and hit[:2] == (st.st_mtime_ns, st.st_size):
        result = hit[2]
    else:
        result = guarded(shown, read)(file, shown)
        _CACHE[key] = (st.st_mtime_ns, st.st_size, result)
    return dict(result) if isinstance(result, dict) else result


def guarded(shown: str, read):
    """``read``, with every failure but a DataFileError reported as one that names ``shown``:
    a malformed file must never crash the compiler (the readers and the scans of values)."""

    def run(*args):
        try:
            return read(*args)
        except DataFileError:
            raise
        except OSError as e:
            raise DataFileError(f"cannot read {shown}: {reason(e)}") from None
        except (MemoryError, RecursionError):
            raise DataFileError(f"{shown} is too large or too deeply nested to inspect") from None
        except Exception as e:
            raise DataFileError(f"{shown} is malformed ({type(e).__name__}: {e})") from None

    return run


def reason(e: OSError) -> str:
    return (e.strerror or str(e)).lower()
