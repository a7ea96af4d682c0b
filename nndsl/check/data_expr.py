"""The expressions of a data section: numbers, inline lists, generators, files and the tensors
defined above, combined by the operators and built-in functions of a forward, with the same shape
and dtype rules (:mod:`nndsl.registry.operators`, :mod:`nndsl.registry.functions`).

Each expression gets a typed :class:`~nndsl.ir.values.Value` (its type and the
:mod:`nndsl.ir.expr` expression the loader writes) and, where it can be known, the (min, max) of
its values.
"""

from __future__ import annotations

from nndsl.check.data_files import ArchiveType, TableType
from nndsl.check.data_text import SEQUENCE_FUNCTIONS
from nndsl.check.forward_types import index_item, op_span
from nndsl.check.stream import mixes_samples
from nndsl.check.value_ranges import binary_range, call_range, of_number, unary_range
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir.shapes import ShapeError, fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.functions import call as call_function
from nndsl.registry.operators import binary, index, unary
from nndsl.registry.readers import READERS
from nndsl.util.naming import suggest

MAX_INLINE = 10_000  # numbers written inline in one data section: beyond, a file is better
FILE_READERS = tuple(READERS)
GENERATORS = ("linspace", "arange", "randn", "rand", "randint", "zeros", "ones")
SEEDED = {"randn_like": "randn", "rand_like": "rand"}  # drawn from the section's generator
_JOIN_HELP = (
    "join tensors with `stack([a, b], 1)` (a new dim) or `cat([a, b], 1)` (an existing one)"
)


class DataExprRules:
    """Data expressions (mixed into :class:`nndsl.check.data.DataRules`).

    :meth:`start_section` and :meth:`start_line` tell it which names the section defines where,
    so that a name used before its line is reported as such."""

    def start_section(self, node: s.Data) -> None:
        self.ranges: dict[str, tuple] = {}
        self.inline = 0
        self.defined: dict[str, s.Span] = {}  # every name the section assigns: its first place
        for st in node.stmts:
            if isinstance(st, s.DataAssign):
                self.defined.setdefault(st.name, st.name_span)

    def start_line(self, st: s.DataAssign) -> None:
        self.line = st

    def _value(self, e, env: dict[str, Value], info) -> tuple[Value, tuple | None]:
        """A data expression's typed value and the (min, max) of its values where known."""
        match e:
            case s.ListLit():
                return _made(info, e, self._literal(e))
            case s.Num() | s.Const() | s.Str():
                return evaluate(e, {}), None
            case s.Name():
                return self._name(e, env)
            case s.BinOp(op=op, left=left, right=right):
                a, ra = self._ranged(left, env, info)
                b, rb = self._ranged(right, env, info)
                v = self._op(lambda: binary(op, a, b), e, ((left, a), (right, b)))
                return v, binary_range(op, ra, rb)
            case s.Unary(op=op, operand=operand):
                a, ra = self._ranged(operand, env, info)
                return self._op(lambda: unary(op, a), e), unary_range(op, ra)
            case s.Index(value=base, items=items):
                b, rng = self._value(base, env, info)
                if isinstance(b.py, TableType):
                    return _made(info, e, self._columns(b, items, e))
                if isinstance(b.py, ArchiveType):
                    return _made(info, e, self._member(b, items, e))
                picked = tuple(self._item(x, env, info) for x in items)
                return self._op(lambda: index(b, picked), e), rng
            case s.CallExpr(func=s.Name(id=name)):
                return self._call(name, e, env, info)
            case s.TupleLit(items=items):
                vals = [self._operand(i, env, info) for i in items]
                return Value(tuple(v.py for v in vals), ex.Tuple(tuple(v.expr for v in vals))), None
        raise EvalError("this is not a data expression", e.span, "E0106")

    def written(self, node, what: str) -> None:
        """Raise when ``node``, where ``what`` is a number written in place, names a tensor."""
        for name in _names(node):
            if name.id in self.defined:
                raise EvalError(
                    f"{what} is a number written in place, but `{name.id}` is a data tensor",
                    name.span,
                    "E0106",
                    help="write the number itself",
                )

    def _ranged(self, e, env, info) -> tuple[Value, tuple | None]:
        """An operator's operand and the range of its values (a number's is itself)."""
        v, rng = self._value(e, env, info)
        _whole_file(e, v)
        return v, of_number(v.py) if rng is None else rng

    def _operand(self, e, env, info) -> Value:
        """A value an operator or function takes: a tensor or a number, not a whole file."""
        v, _ = self._value(e, env, info)
        _whole_file(e, v)
        return v

    def _literal(self, e: s.ListLit) -> tuple[Value, tuple | None]:
        """A nested list of numbers written inline: a tensor."""
        bad = _not_a_number(e)
        if bad is not None:
            raise EvalError(
                "a list written inline holds numbers, not tensors",
                bad.span,
                "E0106",
                help=_JOIN_HELP,
            )
        lit = evaluate(e, {})
        shape, ints, count, rng = nested_shape(lit.py, e.span)
        dtype = "int64" if ints else "float32"
        if any(isinstance(x, bool) for x in _flat(lit.py)):
            dtype = "bool" if all(isinstance(x, bool) for x in _flat(lit.py)) else dtype
        self.inline += count
        if self.inline > MAX_INLINE:
            self._error(
                "E0412",
                f"more than {MAX_INLINE:,} numbers written inline",
                e.span,
                help="put the data in a CSV or .npy file",
            )
        return Value(Tensor(shape, dtype), ex.call("torch.tensor", lit.expr)), rng

    def _name(self, e: s.Name, env) -> tuple[Value, tuple | None]:
        name = e.id
        if name in env:
            v = env[name]
            if v.py is None:
                raise Reported  # its own error is reported
            return v, self.ranges.get(name)
        later = self.defined.get(name)
        if later is not None:
            here = self.line.name_span
            fix = "move it up: a data tensor is built from the ones defined above it"
            if name == self.line.name:
                message = f"`{name}` is used in its own definition"
                fix = f"build it from tensors above it: `raw = ...`, then `{name} = raw * 2`"
            elif later.line != here.line:
                message = f"`{name}` is defined on line {later.line}, after this line"
            else:
                message = f"`{name}` is defined after this, at column {later.column}"
            self._error(
                "E0108",
                message,
                e.span,
                labels=() if name == self.line.name else (Label(later, "defined here"),),
                help=fix,
            )
            raise Reported
        hint = suggest(name, env)
        if name in (*GENERATORS, *FILE_READERS, *SEQUENCE_FUNCTIONS) or name in FUNCTIONS:
            hint = f"`{name}` is a function; call it"
        raise EvalError(f"`{name}` is not defined", e.span, help=hint)

    def _item(self, item, env, info):
        return index_item(item, lambda node: self._operand(node, env, info))

    def _op(self, thunk, e, operands: tuple = ()) -> Value:
        """The value ``thunk`` computes; its ShapeError reported at the operand at fault, or
        with the shapes of ``operands`` (node, value) when it blames none."""
        try:
            return thunk()
        except ShapeError as err:
            labels = ()
            if err.arg is None:
                shown = [(n, v) for n, v in operands if isinstance(v.py, Tensor)]
                labels = tuple(Label(n.span, fmt_shape(v.py.shape)) for n, v in shown)
            self._error("E0303", err.message, op_span(err, e), labels=labels, help=err.help)
            raise Reported from None

    def _call(self, name: str, e: s.CallExpr, env, info) -> tuple[Value, tuple | None]:
        args = [a for a in e.args if a.name is None]
        kwargs = {a.name: a for a in e.args if a.name is not None}
        if name in FILE_READERS:
            return _made(info, e, self._read(name, e, args, kwargs, info))
        if name in GENERATORS:
            return self._generate(name, e, args, kwargs, info)
        if name in SEQUENCE_FUNCTIONS:
            return self._windows(e, env, info)
        if name in FUNCTIONS:
            first = None  # the first argument's range, from its one evaluation
            vals = []
            for a in args:
                if not vals and not isinstance(a.value, (s.ListLit, s.TupleLit)):
                    v, first = self._ranged(a.value, env, info)
                    vals.append(v)
                else:
                    vals.append(self._arg(a.value, env, info))
            kw = {k: self._arg(a.value, env, info) for k, a in kwargs.items()}
            out = self._op(lambda: call_function(name, vals, kw), e)
            if name in SEEDED:
                out = self._seeded(name, out.py, info)
            why = mixes_samples(name, vals, kw)
            if why is not None and info.plan is not None:
                raise EvalError(why[0], e.span, "E0409", help=why[1])
            if why is not None:
                info.mixing.add(e.span)  # `predict` rows cannot go through it one by one
            return out, _call_range(name, vals, kw, first)
        hint = suggest(name, [*FILE_READERS, *GENERATORS, *SEQUENCE_FUNCTIONS, *FUNCTIONS])
        raise EvalError(f"unknown function `{name}`", e.func.span, "E0101", help=hint)

    def _seeded(self, name: str, like: Tensor, info) -> Value:
        """``randn_like(x)`` as ``torch.randn(sizes, generator=g)``: torch's ``randn_like``
        takes no generator, and every random tensor of a section comes from its seed."""
        info.random = True
        kwargs = (("generator", ex.Name("g")),)
        if like.dtype != "float32":
            kwargs = (("dtype", ex.dotted(f"torch.{like.dtype}")), *kwargs)
        sizes = tuple(ex.Lit(d) for d in like.shape)
        return Value(like, ex.Call(ex.dotted(f"torch.{SEEDED[name]}"), sizes, kwargs))

    def _arg(self, node, env, info) -> Value:
        """A function's argument; a list or tuple of them (``cat([a, b])``, dims) item by item."""
        if isinstance(node, (s.ListLit, s.TupleLit)):
            vals = [self._operand(i, env, info) for i in node.items]
            exprs = tuple(v.expr for v in vals)
            if isinstance(node, s.ListLit):
                return Value([v.py for v in vals], ex.List(exprs))
            return Value(tuple(v.py for v in vals), ex.Tuple(exprs))
        return self._operand(node, env, info)


def _call_range(name: str, vals: list, kw: dict, first: tuple | None) -> tuple | None:
    """The range of a function's values, from its tensor and its `dim` (positional or not)."""
    if not vals or not isinstance(vals[0].py, Tensor):
        return None
    dim = kw["dim"].py if "dim" in kw else vals[1].py if len(vals) > 1 else None
    return call_range(name, tuple(vals[0].py.shape), dim, first)


def _whole_file(e, v: Value) -> None:
    """Raise where ``v``, an operand, is a whole table or archive rather than a tensor."""
    name = e.id if isinstance(e, s.Name) else "t"
    if isinstance(v.py, TableType):
        raise EvalError(
            f"{v.py.path} is a table of columns, not a tensor",
            e.span,
            "E0106",
            help=f"pick its columns first, e.g. `{name}[:, 0:2]`",
        )
    if isinstance(v.py, ArchiveType):
        first = min(v.py.arrays, default="name")
        raise EvalError(
            f"{v.py.path} holds several arrays, not one tensor",
            e.span,
            "E0106",
            help=f'pick one by name, e.g. `{name}["{first}"]`',
        )


def _made(info, e, found: tuple) -> tuple:
    """``found``, the value of a file read, a table's columns, an archive's array or a list
    written inline, noted (when a tensor) as a source ``predict`` rows can stand for."""
    if isinstance(found[0].py, Tensor):
        info.made[e.span] = found[0]
    return found


def _names(e):
    """The names an expression reads."""
    match e:
        case s.Name():
            yield e
        case s.BinOp(left=left, right=right):
            yield from _names(left)
            yield from _names(right)
        case s.Unary(operand=operand):
            yield from _names(operand)
        case s.ListLit(items=items) | s.TupleLit(items=items):
            for item in items:
                yield from _names(item)
        case s.CallExpr(args=args):
            for a in args:
                yield from _names(a.value)
        case s.Index(value=value):
            yield from _names(value)


def _not_a_number(e):
    """The first item of a nested list that is a tensor expression (a name, call or index)."""
    for item in e.items:
        if isinstance(item, s.ListLit):
            found = _not_a_number(item)
            if found is not None:
                return found
        elif isinstance(item, (s.Name, s.CallExpr, s.Index)):
            return item
    return None


def nested_shape(py: object, span: s.Span) -> tuple[tuple, bool, int, tuple]:
    """The shape of a nested list of numbers, whether all are ints, how many numbers, and the
    (min, max) of the numbers."""
    if isinstance(py, bool) or isinstance(py, (int, float)):
        return (), isinstance(py, int), 1, (py, py)
    if not isinstance(py, list) or not py:
        raise EvalError("a data tensor is a number or a non-empty list of them", span, "E0106")
    parts = [nested_shape(x, span) for x in py]
    if any(p[0] != parts[0][0] for p in parts):
        raise EvalError(
            "the rows of this list have different lengths",
            span,
            "E0403",
            help="every row of a tensor has the same number of items",
        )
    lo = min(p[3][0] for p in parts)
    hi = max(p[3][1] for p in parts)
    return (len(py),) + parts[0][0], all(p[1] for p in parts), sum(p[2] for p in parts), (lo, hi)


def _flat(py):
    if isinstance(py, list):
        for x in py:
            yield from _flat(x)
    else:
        yield py
