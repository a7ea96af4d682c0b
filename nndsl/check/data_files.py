"""The files a data section reads (``csv``, ``npy``, ``npz``, ``pt``, ``text``), inspected at
compile time without torch (:mod:`nndsl.datafiles.inspect`), and the columns and arrays picked
from them; text files are made into ids in :mod:`nndsl.check.data_text`."""

from __future__ import annotations

from nndsl.check.stream import data_path
from nndsl.diagnostics.core import Reported
from nndsl.ir import expr as ex
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.readers import READERS
from nndsl.util.frozen import frozen
from nndsl.util.naming import suggest


@frozen
class TableType:
    """A CSV file read whole: its rows become one float32 tensor; columns are chosen by index
    or by name with ``t[:, ...]``."""

    table: object  # datafiles.Table
    path: str


@frozen
class ArchiveType:
    """An ``.npz`` archive or a ``.pt`` file holding a dict: pick a tensor with ``z["name"]``."""

    arrays: dict
    path: str
    numpy: bool  # npz (numpy arrays, converted with torch.from_numpy) or pt (torch tensors)


class FileRules:
    """Reading data files (mixed into :class:`nndsl.check.data.DataRules`)."""

    def _read(self, name, e, args, kwargs, info) -> tuple[Value, tuple | None]:
        from nndsl.datafiles.common import DataFileError

        inspect = READERS[name].inspect
        if kwargs or len(args) != 1 or not isinstance(args[0].value, s.Str):
            raise EvalError(
                f'write `{name}("path/to/file.{name}")`: one path, relative to the .nn file',
                e.span,
                "E0106",
            )
        rel, span = args[0].value.value, args[0].value.span
        where = data_path(rel)
        info.readers.add(name)
        try:
            if name == "csv":
                table = inspect(rel, self.base)
                made = ex.call("read_csv", where, skip=ex.Lit(int(table.header)))
                return Value(TableType(table, rel), made), None
            if name == "npy":
                arr = inspect(rel, self.base)
                if arr.big_endian and info.stream:  # its rows are read as they are stored
                    raise EvalError(
                        f"{rel} is stored big-endian, which torch cannot take row by row",
                        span,
                        "E0409",
                        help=f"save it little-endian: np.save(path, a.astype(np.{arr.dtype}))",
                    )
                made = ex.call("torch.from_numpy", _native(ex.call("np.load", where), arr))
                return _array(arr, made, lambda err: self._file_error(err, span))
            if name == "text":
                return self._text(inspect(rel, self.base), where, span, info)
            if name == "npz":
                found = inspect(rel, self.base)
                return Value(ArchiveType(found, rel, True), ex.call("np.load", where)), None
            found = inspect(rel, self.base)
            made = ex.call("torch.load", where, weights_only=ex.Lit(True))
            if isinstance(found, dict):
                return Value(ArchiveType(found, rel, False), made), None
            return _array(found, made, lambda err: self._file_error(err, span))
        except DataFileError as err:
            self._file_error(err, span)

    def _file_error(self, err, span):
        """A data file's problem (a DataFileError) as E0402 at ``span``; raises Reported."""
        hint = err.help
        if hint and hint.startswith("looked for"):  # an absolute path: say how paths resolve
            hint = "data paths are relative to the folder of the .nn file"
        self._error("E0402", err.message, span, help=hint)
        raise Reported from None

    def _member(self, b: Value, items, e) -> tuple[Value, tuple | None]:
        arch: ArchiveType = b.py
        if len(items) != 1 or not isinstance(items[0], s.Str):
            raise EvalError('pick one array by name: `z["images"]`', e.span, "E0106")
        key = items[0].value
        if key not in arch.arrays:
            names = ", ".join(sorted(arch.arrays))
            raise EvalError(
                f"{arch.path} has no array `{key}`",
                items[0].span,
                "E0402",
                help=suggest(key, arch.arrays) or f"it has: {names}",
            )
        arr = arch.arrays[key]
        made = ex.Index(b.expr, (ex.Lit(key),))
        if arch.numpy:
            made = ex.call("torch.from_numpy", _native(made, arr))
        return _array(arr, made, lambda err: self._file_error(err, items[0].span))

    def _columns(self, b: Value, items, e) -> tuple[Value, tuple | None]:
        from nndsl.datafiles import inspect as datafiles

        tab: TableType = b.py
        everything = (
            isinstance(items[0], s.SliceExpr) and items[0].start is None and items[0].stop is None
        )
        if len(items) != 2 or not everything or items[0].step is not None:
            raise EvalError(
                "choose columns with `t[:, columns]`: an index, a name, a slice or a list",
                e.span,
                "E0106",
            )
        sel = items[1]
        key = self._column_key(sel)
        try:
            cols = tab.table.columns(key)
        except datafiles.DataFileError as err:
            self._file_error(err, sel.span)
        if not cols:
            self._error("E0402", "this selects no columns", sel.span)
            raise Reported
        rows = tab.table.rows
        single = not isinstance(key, (slice, list))
        ints = single and cols[0].dtype == "int64"  # one whole-number column: labels or ids
        idx = [c.index for c in cols]
        if single:
            picked = ex.Lit(idx[0])
        elif idx == list(range(idx[0], idx[-1] + 1)):
            picked = ex.Slice(ex.Lit(idx[0]), ex.Lit(idx[-1] + 1))
        else:
            picked = ex.List(tuple(ex.Lit(i) for i in idx))
        made = ex.Index(b.expr, (ex.Slice(), picked))
        if ints:
            made = ex.method(made, "long")
        shape = (rows,) if single else (rows, len(cols))
        rng = tab.table.select(key).value_range(lambda err: self._file_error(err, sel.span))
        return Value(Tensor(shape, "int64" if ints else "float32"), made), rng

    def _column_key(self, sel):
        """The selector as :meth:`datafiles.Table.columns` takes it."""
        match sel:
            case s.Num() | s.Unary():
                return self._int(sel)
            case s.Str(value=name):
                return name
            case s.SliceExpr(start=a, stop=b, step=c):
                return slice(*(None if p is None else self._int(p) for p in (a, b, c)))
            case s.ListLit(items=items):
                return [x.value if isinstance(x, s.Str) else self._int(x) for x in items]
        self.written(sel, "a column index")
        raise EvalError(
            "a column is an index, a name, a slice or a list of them", sel.span, "E0106"
        )

    def _int(self, node) -> int:
        self.written(node, "a column index")
        v = evaluate(node, {}).py
        if not isinstance(v, int) or isinstance(v, bool):
            raise EvalError("a column index is a whole number", node.span, "E0106")
        return v


def _array(arr, made: ex.Expr, on_error) -> tuple[Value, tuple | None]:
    """A file's array; its range, when it has one, is read when the checker first asks."""
    return Value(Tensor(tuple(arr.shape), arr.dtype), made), arr.value_range(on_error)


def _native(made: ex.Expr, arr) -> ex.Expr:
    """A numpy array torch can take: one stored big-endian is converted first."""
    return ex.method(made, "astype", ex.dotted(f"np.{arr.dtype}")) if arr.big_endian else made
