"""CSV files for :mod:`nndsl.datafiles.inspect`, read in one streaming pass.

The file is read in blocks of whole lines (about a MiB each), so memory does not depend on its
length. The rules are those of the training script's reader (``np.loadtxt`` with a comma, the
double quote and no comments, over the lines that are not blank), so a file that passes here is
read there to the same tensor:

- lines end with ``\\n``, ``\\r\\n`` or ``\\r``; blank and whitespace-only lines are skipped;
- a quoted field starts right after the comma or the line's start and ends on its line;
- a cell is a number: optional spaces or tabs around an integer or decimal literal, ``nan``,
  ``inf`` or ``infinity`` (in any case); no digit separators (``1_000``), no other characters.

Every cell is checked without converting most of them: a block's cells are mapped to their
*shapes* (each digit becomes ``0``, letters lower case) and each distinct shape is checked once.
Only the columns whose every value so far is an integer literal are converted (their distinct
values only): they are the int64 columns, and their range comes with the pass. A float32
column's range, which only a check of binary targets asks for, is read when first asked for.
When a block breaks a rule, it is read again line by line to name the row and column.
"""

from __future__ import annotations

import csv
import string
from itertools import chain
from operator import itemgetter, methodcaller
from pathlib import Path

from nndsl.datafiles.common import (
    INT64_MAX,
    INT64_MIN,
    Column,
    DataFileError,
    Table,
    guarded,
    nan_safe,
)

CHUNK = 1 << 20  # bytes read at a time
MAX_SHAPES = 4096  # distinct cell shapes remembered as already checked
_BOM = b"\xef\xbb\xbf"
_NUMBER_CHARS = frozenset("0123456789+-.eEnNaAiIfFtTyY \t\x0b\x0c")
_UPPER = string.ascii_uppercase
_BYTE_SHAPES = bytes.maketrans(b"123456789" + _UPPER.encode(), b"0" * 9 + _UPPER.lower().encode())
_TEXT_SHAPES = str.maketrans("123456789" + _UPPER, "0" * 9 + _UPPER.lower())
_COMMAS = methodcaller("count", b",")


def number(cell: str) -> int | float | None:
    """The number a cell holds, or None: the rule for every cell, one cell at a time."""
    if not _NUMBER_CHARS.issuperset(cell):
        return None
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return None


def read_csv(file: Path, shown: str) -> Table:
    """The table in a CSV file (see the module's rules)."""
    with open(file, "rb") as f:
        blocks = _blocks(f)
        start, names, width, rest = _header(blocks, shown)
        ranges = ColumnRanges(file, shown, width, start)
        body = _Body(shown, width, names)
        try:
            for block in chain(rest, blocks):
                body.block(*block)
        except _Ragged as r:
            rows, ragged = r.rows + body.rows, r.ragged
            for _, _, raw in blocks:
                more, odd = _count(raw, width)
                rows, ragged = rows + more, ragged + odd
            against = "the header has" if names else "the first row has"
            raise DataFileError(
                f"{shown} has {rows + bool(names)} rows; row {r.line} has {r.width} columns, "
                f"{against} {width}",
                help=(
                    f"{ragged} rows have a different number of columns"
                    if ragged > 1
                    else "every row needs the same number of columns"
                ),
            ) from None
    if not body.rows:
        raise DataFileError(f"{shown} has a header row but no data rows")
    ranges.known.update((j, b) for j, b in body.ints.items() if b is not None)
    columns = []
    for j in range(width):
        dtype = "int64" if j in ranges.known else "float32"
        columns.append(Column(j, names[j] if names else None, dtype, ranges))
    return Table(shown, names is not None, body.rows, tuple(columns))


# ---- reading blocks of lines ------------------------------------------------------------------


def _blocks(f):
    """(number of the first line, file offset, bytes) of blocks of whole lines, each ending
    with a line end; a UTF-8 byte-order mark is dropped."""
    line, offset, rest = 1, 0, b""
    head = f.read(len(_BOM))
    if head == _BOM:
        offset = len(_BOM)
    else:
        rest = head
    while True:
        data = f.read(CHUNK)
        if not data:
            if rest:
                yield line, offset, rest + b"\n"
            return
        data = rest + data
        # cut after the last line end, but not between the \r and \n of one
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
        if not cut:
            rest = data
            continue
        block, rest = data[:cut], data[cut:]
        yield line, offset, block
        line += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
        offset += cut


def _lines(data: bytes) -> bytes:
    """A block with every line end made ``\\n``."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def _text(raw: bytes, offset: int, shown: str) -> str:
    if b"\0" in raw:
        raise DataFileError(f"{shown} is not a text file (it holds NUL bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFileError(
            f"{shown} is not UTF-8 text (byte {raw[e.start]:#04x} at offset {offset + e.start})",
            help="save the file as UTF-8",
        ) from None


def _row(text: str, line: int, shown: str, **dialect) -> list[str]:
    try:
        return next(csv.reader([text], strict=True, **dialect))
    except csv.Error as e:
        unclosed = "end of data" in str(e)
        raise DataFileError(
            f"{shown}: row {line} is not valid CSV ({e})",
            help="a quoted value must end on the line it starts" if unclosed else None,
        ) from None


def _header(blocks, shown: str):
    """(line, names or None, width, blocks left): the first line that is not blank is a header
    when any of its cells is not a number; a first line of numbers is left to the body."""
    for line, offset, raw in blocks:
        lines = _text(raw, offset, shown).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for i, text in enumerate(lines[:-1]):
            if not text.strip():
                continue
            cells = _row(text, line + i, shown, skipinitialspace=True)
            if all(number(c) is not None for c in cells):
                rest = "\n".join(lines[i:]).encode("utf-8")
                return line + i, None, len(_row(text, line + i, shown)), [(line + i, 0, rest)]
            rest = "\n".join(lines[i + 1 :]).encode("utf-8")
            return line + i + 1, [c.strip() for c in cells], len(cells), [(line + i + 1, 0, rest)]
    raise DataFileError(f"{shown} is empty", help="a CSV data file needs rows of numbers")


# ---- the body ---------------------------------------------------------------------------------


class _Ragged(Exception):
    def __init__(self, line: int, width: int, rows: int, ragged: int):
        self.line, self.width, self.rows, self.ragged = line, width, rows, ragged


class _Body:
    """The data rows, a block at a time: their count, which columns are int64 and their range."""

    def __init__(self, shown: str, width: int, names):
        self.shown, self.width, self.names = shown, width, names
        self.rows = 0
        self.ints = {j: None for j in range(width)}  # int64 so far -> (min, max) or None
        self.shapes: set = set()  # cell shapes checked already

    def block(self, line: int, offset: int, raw: bytes) -> None:
        data = _lines(raw)
        if data.isascii() and b"_" not in data and b"\0" not in data:
            cells = _quoted(data, self.width) if b'"' in data else _plain(data, self.width)
            if cells is not None and self._take(cells):
                return
        self._slow(raw, line, offset)

    def _take(self, cells: _Cells, checked: bool = False) -> bool:
        """Add a block's cells; False when one is not a number."""
        if not cells.rows:
            return True
        n, ints = self.width, {}
        for j, column in cells.columns(self.ints).items():
            old = self.ints[j]
            try:
                values = list(map(int, set(column)))
            except ValueError:
                continue  # a float32 column, or a cell that is not a number
            lo, hi = min(values), max(values)
            if old is not None:
                lo, hi = min(lo, old[0]), max(hi, old[1])
            if INT64_MIN <= lo and hi <= INT64_MAX:
                ints[j] = (lo, hi)
        if len(ints) < n and not checked and not self._numbers(cells.joined):
            return False
        self.ints, self.rows = ints, self.rows + cells.rows
        return True

    def _numbers(self, joined) -> bool:
        """Whether every cell of a block (joined by commas) is a number, by its shape."""
        if isinstance(joined, bytes):
            shapes = set(joined.translate(_BYTE_SHAPES).split(b","))
            new = {s.decode("ascii") for s in shapes} - self.shapes
        else:
            new = set(joined.translate(_TEXT_SHAPES).split(",")) - self.shapes
        if not all(number(s) is not None for s in new):
            return False
        if len(self.shapes) < MAX_SHAPES:
            self.shapes |= new
        return True

    def _slow(self, raw: bytes, line: int, offset: int) -> None:
        """A block line by line: the first row that breaks a rule is named."""
        text = _text(raw, offset, self.shown).replace("\r\n", "\n").replace("\r", "\n")
        rows, ragged = [], None
        for i, s in enumerate(text.split("\n")[:-1]):
            if not s.strip():
                continue
            if ragged is not None:
                more, odd = _count(s.encode("utf-8"), self.width)
                ragged[1], ragged[2] = ragged[1] + odd, ragged[2] + more
                continue
            row = _row(s, line + i, self.shown)
            if len(row) != self.width:
                ragged = [(line + i, len(row)), 1, 1]
                continue
            for j, cell in enumerate(row):
                if number(cell) is None:
                    self._refuse(cell, line + i, j)
            rows.append(row)
        if ragged is not None:
            self.rows += len(rows)
            raise _Ragged(*ragged[0], ragged[2], ragged[1])
        self._take(_Cells(len(rows), None, self.width, list(chain.from_iterable(rows))), True)

    def _refuse(self, cell: str, line: int, index: int):
        label = f"column {index}" if self.names is None else f"column {self.names[index]!r}"
        at = f"{self.shown}: row {line}, {label}"
        if not cell.strip():
            raise DataFileError(
                f"{at} is empty; every cell needs a number",
                help="fill in the missing values, or drop those rows",
            )
        if cell.strip().startswith('"'):
            raise DataFileError(
                f"{at} holds {cell!r}: a space before a quoted number makes it text",
                help='start the quote right after the comma, e.g. 1,"2"',
            )
        sep = next((s for s in (";", "\t", "|") if s in cell), None)
        hint = "encode categories as integers (0, 1, 2, ...)"
        if "_" in cell and number(cell.replace("_", "")) is not None:
            hint = "write numbers without digit separators"
        raise DataFileError(
            f"{label} of {self.shown} holds text ({cell!r} in row {line}); "
            "only numbers can become tensors",
            help=(
                f"columns must be separated by commas; this file seems to use {sep!r}"
                if sep
                else hint
            ),
        )


class _Cells:
    """A block's cells: its row count, the cells joined by commas, and a column's cells."""

    def __init__(self, rows: int, joined, width: int, cells=None, lines=None):
        self.rows, self.joined, self.width, self.cells, self.lines = (
            rows,
            joined,
            width,
            cells,
            lines,
        )

    def columns(self, wanted) -> dict:
        """The cells of each wanted column. Few columns are cut from each line (with a split
        that stops at the column); many, from the split of every cell."""
        n = self.width
        if self.cells is None and sum(min(j + 2, n - j + 1) for j in wanted) >= n:
            self.cells = self.joined.split(b",") if self.rows else []
        if self.cells is not None:
            return {j: self.cells[j::n] for j in wanted}
        found = {}
        for j in wanted:
            if j < n // 2:
                parts = map(methodcaller("split", b",", j + 1), self.lines)
            else:
                parts = map(methodcaller("rsplit", b",", n - j), self.lines)
            found[j] = list(map(itemgetter(j if j < n // 2 else j - n), parts))
        return found


def _plain(data: bytes, width: int) -> _Cells | None:
    """The cells of a block without quotes, or None if a row is ragged."""
    lines = list(filter(bytes.strip, data.split(b"\n")))
    if set(map(_COMMAS, lines)) - {width - 1}:
        return None
    return _Cells(len(lines), b",".join(lines), width, lines=lines)


def _quoted(data: bytes, width: int) -> _Cells | None:
    """The cells of a block with quotes, or None if it needs a closer look."""
    lines = list(filter(str.strip, data.decode("ascii").split("\n")))
    try:
        rows = list(csv.reader(lines, strict=True))
    except csv.Error:
        return None
    if len(rows) != len(lines) or set(map(len, rows)) - {width}:
        return None  # a quoted line end, or a ragged row
    cells = list(chain.from_iterable(rows))
    joined = ",".join(cells)
    if joined.count(",") != max(len(cells) - 1, 0):
        return None  # a cell holds a comma
    return _Cells(len(rows), joined, width, cells=cells)


def _count(raw: bytes, width: int) -> tuple[int, int]:
    """(rows, rows of another width) in a block: how ragged a refused file is."""
    rows = ragged = 0
    for s in _lines(raw).decode("utf-8", "replace").split("\n"):
        if s.strip():
            rows += 1
            try:
                ragged += len(next(csv.reader([s]))) != width
            except csv.Error:
                ragged += 1
    return rows, ragged


# ---- the range of float32 columns, read when asked for ----------------------------------------


class ColumnRanges:
    """(min, max) of each column of a table: int64 columns' from the pass that typed them, the
    others' from a pass over the file when first asked for (nan is skipped)."""

    def __init__(self, file: Path, shown: str, width: int, start: int):
        self.file, self.shown, self.width, self.start = file, shown, width, start
        self.known: dict[int, tuple] = {}

    def get(self, indices: tuple) -> list[tuple]:
        missing = sorted(set(indices) - set(self.known))
        if missing:
            self.known.update(guarded(self.shown, self._scan)(missing))
        return [self.known[j] for j in indices]

    def _scan(self, columns: list[int]) -> dict[int, tuple]:
        lows: dict[int, list] = {j: [] for j in columns}
        highs: dict[int, list] = {j: [] for j in columns}
        with open(self.file, "rb") as f:
            for line, offset, raw in _blocks(f):
                data = _lines(raw)
                if line < self.start:  # the header block: keep the data rows
                    data = b"".join(data.split(b"\n", self.start - line)[self.start - line :])
                for j, values in self._floats(data, offset, columns).items():
                    if values:
                        lows[j].append(nan_safe(min, values))
                        highs[j].append(nan_safe(max, values))
        return {j: (nan_safe(min, lows[j]), nan_safe(max, highs[j])) for j in columns}

    def _floats(self, data: bytes, offset: int, columns: list[int]) -> dict[int, list]:
        """The values of some columns in a block of the table's rows (checked already)."""
        n = self.width
        cells = None
        if data.isascii():
            cells = _quoted(data, n) if b'"' in data else _plain(data, n)
        try:
            if cells is not None:
                return {j: list(map(float, c)) for j, c in cells.columns(columns).items()}
        except ValueError:
            pass  # a block the first pass read line by line
        lines = _text(data, offset, self.shown).split("\n")
        rows = [next(csv.reader([s])) for s in lines if s.strip()]
        try:
            if not set(map(len, rows)) - {n}:
                return {j: [float(row[j]) for row in rows] for j in columns}
        except ValueError:
            pass
        raise DataFileError(f"{self.shown} changed while it was being read")
