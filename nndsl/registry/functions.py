"""The operations a hand-written ``forward`` applies to values: operators, indexing and the
built-in functions.

Each takes :class:`~nndsl.lang.pyexpr.Value` operands and returns a Value whose ``py`` is the
result's type (a :class:`~nndsl.ir.tensors.Tensor`, a Python number, or a tuple of those) and
whose ``code`` is readable PyTorch with no more parentheses than Python needs. The type rules live
in :mod:`nndsl.ir.tensors`; this module checks operands, binds arguments and writes the code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from nndsl.ir import tensors as t
from nndsl.ir.shapes import Dim, fmt_shape
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, OpError, Slice, Tensor
from nndsl.lang.pyexpr import ATOM, COMPARE, POWER, SUM, TERM, UNARY, Value, literal, wrap
from nndsl.registry.args import ArgSpec, bind
from nndsl.util.naming import suggest

_PREC = {"+": SUM, "-": SUM, "*": TERM, "/": TERM, "//": TERM, "%": TERM, "@": TERM, "**": POWER}
_PREC.update({op: COMPARE for op in t.COMPARISONS})


def describe(py: object) -> str:
    """A value as messages name it: ``the number 2``, ``a tensor (B, 4)``, ``a tuple``."""
    if isinstance(py, Tensor):
        return f"a tensor {fmt_shape(py.shape)}"
    if isinstance(py, bool) or py is None:
        return f"`{str(py).lower()}`"
    if isinstance(py, (int, float)):
        return f"the number {py!r}"
    return {tuple: "a tuple", list: "a list", str: "a string"}.get(type(py), type(py).__name__)


def _is_number(py: object) -> bool:
    return isinstance(py, (int, float))


def _is_int(py: object) -> bool:
    return isinstance(py, int) and not isinstance(py, bool)


# ---- operators --------------------------------------------------------------------------------


def binary(op: str, left: Value, right: Value) -> Value:
    """``left op right`` for an arithmetic or comparison operator, or ``@``."""
    for side, v in (("left", left), ("right", right)):
        if not isinstance(v.py, Tensor) and not _is_number(v.py):
            raise OpError(f"`{op}` needs tensors or numbers, got {describe(v.py)}", arg=side)
    py = t.binary_type(op, left.py, right.py)
    prec = _PREC[op]
    if op == "**":  # right-associative, binds tighter than a unary minus on its left
        code = f"{wrap(left, ATOM)} ** {wrap(right, UNARY)}"
    elif prec == COMPARE:  # Python would chain `a < b < c`; the language nests it
        code = f"{wrap(left, SUM)} {op} {wrap(right, SUM)}"
    else:
        code = f"{wrap(left, prec)} {op} {wrap(right, prec + 1)}"
    return Value(py, code, prec)


def unary(op: str, operand: Value) -> Value:
    """``-operand`` or ``+operand``."""
    v = operand.py
    if isinstance(v, Tensor):
        py = t.unary_type(op, v)
    elif _is_number(v):
        py = -v if op == "-" else +v
    else:
        raise OpError(f"`{op}` needs a tensor or a number, got {describe(v)}", arg="operand")
    return Value(py, op + wrap(operand, UNARY), UNARY)


def index(base: Value, items: tuple) -> Value:
    """``base[items]``: basic indexing of a tensor, or picking one value of a tuple.

    Items are Values (ints), :class:`~nndsl.ir.tensors.Slice`, ``ELLIPSIS`` and ``NEWAXIS``; an
    error in an item has ``arg`` set to the item's position.
    """
    code = f"{wrap(base, ATOM)}[{', '.join(_item_code(i) for i in items) or '()'}]"
    if isinstance(base.py, Tensor):
        native = tuple(_native(item, pos) for pos, item in enumerate(items))
        return Value(Tensor(t.index_shape(base.py.shape, native), base.py.dtype), code)
    if isinstance(base.py, (tuple, list)):
        return Value(_pick(base.py, items), code)
    raise OpError(f"cannot index {describe(base.py)}", arg="operand")


def _item_code(item: object) -> str:
    if not isinstance(item, Slice):
        return item.code
    start, stop, step = (p.code if p is not None else "" for p in item)
    return f"{start}:{stop}:{step}" if step else f"{start}:{stop}"


def _native(item: object, pos: int) -> object:
    """An index item as Python passes it to torch: an int, a slice, Ellipsis or None."""
    if item is ELLIPSIS or item is NEWAXIS:
        return Ellipsis if item is ELLIPSIS else None
    if isinstance(item, Slice):
        return slice(*(_slice_part(part, pos) for part in item))
    if isinstance(item.py, Tensor):
        raise OpError("indexing with a tensor is not supported yet", arg=pos)
    if not _is_int(item.py):
        raise OpError(
            f"an index is an int, a slice, `...` or `none`, not {describe(item.py)}", arg=pos
        )
    return item.py


def _slice_part(part: Value | None, pos: int) -> int | None:
    if part is None or part.py is None:
        return None
    if not _is_int(part.py):
        raise OpError(f"a slice bound is an int, not {describe(part.py)}", arg=pos)
    return part.py


def _pick(seq: tuple | list, items: tuple) -> object:
    n = len(seq)
    if len(items) != 1 or not isinstance(items[0], Value) or not _is_int(items[0].py):
        raise OpError(f"a tuple of {n} values is indexed by one int", arg=0)
    i = items[0].py
    if not -n <= i < n:
        raise OpError(
            f"index {i} is out of range for a tuple of {n} values",
            help=f"use an index from {-n} to {n - 1}",
            arg=0,
        )
    return seq[i]


# ---- functions: parameters and binding --------------------------------------------------------

# Each parameter kind (an :class:`~nndsl.registry.args.ArgSpec`'s, maybe marked): what messages
# call it, and the test of an argument's ``py``. A ``?`` suffix also accepts none; a ``*`` prefix
# takes the remaining positional arguments. Dims and flags are written into code as literals,
# everything else as the code it came with.
_KINDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "tensor": ("a tensor", lambda py: isinstance(py, Tensor)),
    "tensors": ("a list of tensors", lambda py: isinstance(py, (tuple, list))),
    "dim": ("an int", _is_int),
    "size": ("an int", _is_int),
    "dims": ("an int or a tuple of ints", lambda py: _is_int(py) or _all_ints(py)),
    "bool": ("`true` or `false`", lambda py: isinstance(py, bool)),
    "number": ("a number", lambda py: _is_number(py) and not isinstance(py, bool)),
}


def _all_ints(py: object) -> bool:
    return isinstance(py, (tuple, list)) and all(_is_int(x) for x in py)


@dataclass(frozen=True)
class Func:
    """One built-in function: its parameters, its type rule and how a call of it is written.

    ``rule`` takes the arguments' ``py`` by parameter name (defaults filled in) and gives the
    result's type; ``emit`` writes the call's code. ``accepts``: the dtypes its first argument may
    have (``any``, ``nonbool`` or ``float``). ``example``: a call in the language.
    """

    name: str
    params: tuple[ArgSpec, ...]
    rule: Callable[[dict], Tensor]
    emit: Callable[[Bound], str]
    doc: str
    accepts: str = "any"
    example: str = ""

    def __post_init__(self) -> None:
        if not self.example:
            object.__setattr__(self, "example", f"{self.name}(x)")

    def param(self, name: str) -> ArgSpec | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def signature(self) -> str:
        """The call as the language writes it, e.g. ``mean(x, dim=none, keepdim=false)``."""
        return f"{self.name}({', '.join(p.shown for p in self.params)})"


@dataclass(frozen=True)
class Bound:
    """A call's arguments bound to a function's parameters: ``given`` holds the Values written
    (a tuple of them for a variadic parameter), ``places`` where each was written, as a position
    or a keyword."""

    func: Func
    given: dict[str, object]
    places: dict[str, int | str]

    def py(self, name: str) -> object:
        """The argument's type or value; the default when it was not given."""
        p = self.func.param(name)
        if name not in self.given:
            return p.default
        v = self.given[name]
        return (
            tuple(_sized(x) for x in v) if p.variadic else _sized(v) if p.base == "size" else v.py
        )

    def changed(self, name: str) -> bool:
        """True when the argument was given, with a value other than the default."""
        a, b = self.py(name), self.func.param(name).default
        same = (a is None) == (b is None) and isinstance(a, bool) == isinstance(b, bool) and a == b
        return name in self.given and not same

    def where(self, arg: object) -> int | str | None:
        """Where the user wrote the argument a rule blames: a name, or (name, i) in a variadic."""
        name, i = arg if isinstance(arg, tuple) else (arg, 0)
        place = self.places.get(name) if isinstance(name, str) else None
        return place + i if isinstance(place, int) else place

    @property
    def receiver(self) -> str:
        """The first argument as the receiver of a method call."""
        return wrap(self.given[self.func.params[0].name], ATOM)

    def text(self, name: str) -> str:
        """An argument as code writes it: dims and flags as literals, others as written."""
        p = self.func.param(name)
        if p.base in ("dim", "dims", "bool") or name not in self.given:
            values = self.py(name) if p.variadic else (self.py(name),)
            return ", ".join(literal(_plain(x)).code for x in values)
        return ", ".join(v.code for v in (self.given[name] if p.variadic else (self.given[name],)))


def _sized(v: Value) -> object:
    """A size argument as a dim that keeps the code it was written as (``units``)."""
    if _is_int(v.py) and v.code != repr(int(v.py)) and getattr(v.py, "expr", None) is None:
        return Dim(v.py, v.code)
    return v.py


def _plain(py: object) -> object:
    if isinstance(py, (tuple, list)):
        return tuple(_plain(x) for x in py)
    return int(py) if _is_int(py) else py


def _bind(func: Func, args: list[Value], kwargs: dict[str, Value]) -> Bound:
    """Bind arguments as Python does, then check each one's kind."""
    keys = [None] * len(args) + list(kwargs)
    values = [*args, *kwargs.values()]
    binding = bind(func.params, keys, func.name, usage=f"call it as `{func.signature}`")
    if binding.problems:
        p = binding.problems[0]
        place = None if p.at is None else p.at if p.at < len(args) else keys[p.at]
        if p.code == "E0103":
            p = replace(p, help=f"e.g. `{func.example}`")
        raise OpError(p.message, help=p.help, arg=place)
    given: dict[str, object] = {}
    places: dict[str, int | str] = {}
    for name, at in binding.slots.items():  # as written: positional ones, then keywords
        if isinstance(at, tuple):  # a variadic parameter takes the remaining positional ones
            start = [q.name for q in func.params].index(name)
            given[name], places[name] = tuple(values[j] for j in at), start
        else:
            given[name], places[name] = values[at], at if at < len(args) else keys[at]
    bound = Bound(func, given, places)
    for name, v in given.items():
        p = func.param(name)
        for j, x in enumerate(v if p.variadic else (v,)):
            _check_kind(func, p, x.py, bound.where((name, j)))
    return bound


def _check_kind(func: Func, p: ArgSpec, py: object, place: int | str | None) -> None:
    if p.base == "tensors" and isinstance(py, (tuple, list)):
        for i, item in enumerate(py):
            if not isinstance(item, Tensor):
                problem = f"needs a list of tensors, but item {i} is {describe(item)}"
                raise OpError(f"`{func.name}` {problem}", arg=place)
    if not (py is None and p.kind.endswith("?")) and not _KINDS[p.base][1](py):
        want = _KINDS[p.base][0] + " or `none`" * p.kind.endswith("?")
        for_what = "" if p is func.params[0] else f" for `{p.name}`"
        raise OpError(f"`{func.name}` needs {want}{for_what}, got {describe(py)}", arg=place)


def _check_dtype(func: Func, bound: Bound) -> None:
    """Refuse a first argument of a dtype the function does not take, as torch would."""
    first = func.params[0].name
    dtype = bound.py(first).dtype
    if func.accepts == "float" and t.category(dtype) < 2:
        problem = f"`{func.name}` needs a floating-point tensor, got {dtype}"
    elif func.accepts == "nonbool" and dtype == "bool":
        problem = f"`{func.name}` does not work on bool tensors"
    else:
        return
    code = bound.given[first].code
    fix = f"convert first: `{func.name}(float({code if code.isidentifier() else 'x'}))`"
    raise OpError(problem, help=fix, arg=bound.where(first))


def call(name: str, args: list[Value], kwargs: dict[str, Value]) -> Value:
    """A call of the built-in function ``name``: the result's type and code.

    An error's ``arg`` is the position (int) or keyword (str) of the argument at fault.
    """
    func = FUNCTIONS.get(name)
    if func is None:
        raise OpError(f"`{name}` is not a built-in function", help=suggest(name, FUNCTIONS))
    bound = _bind(func, args, kwargs)
    if func.params[0].base == "tensor":
        _check_dtype(func, bound)
    try:
        py = func.rule({p.name: bound.py(p.name) for p in func.params})
    except OpError as e:
        raise OpError(e.message, help=e.help, arg=bound.where(e.arg)) from None
    return Value(py, func.emit(bound), ATOM)


def function_rows() -> list[tuple[str, str, str]]:
    """(signature, doc, the example's generated code) for each function, for the docs table."""
    return [(f.signature, f.doc, _example_code(f)) for f in FUNCTIONS.values()]


def _example_code(func: Func) -> str:
    text = re.sub(r"\b(none|true|false)\b", lambda m: m[1].capitalize(), func.example)
    node = ast.parse(text, mode="eval").body
    args = [_example_value(a) for a in node.args]
    return func.emit(_bind(func, args, {k.arg: _example_value(k.value) for k in node.keywords}))


def _example_value(node: ast.expr) -> Value:
    """An example's argument; a name stands for a tensor, whose shape writing code never needs."""
    if isinstance(node, ast.Name):
        return Value(Tensor((), "float32"), node.id)
    if isinstance(node, ast.List):
        items = [_example_value(n) for n in node.elts]
        return Value([v.py for v in items], "[" + ", ".join(v.code for v in items) + "]")
    return literal(ast.literal_eval(node))


# ---- functions: how calls are written ---------------------------------------------------------


def _write(target: str, *positional: str, keywords: tuple = (), always: tuple = ()) -> Callable:
    """Write ``target(a, b, key=value)``: ``keywords`` when changed, ``always`` always. A target
    ``.name`` is a method of the first argument."""

    def emit(b: Bound) -> str:
        parts = [b.text(n) for n in positional]
        parts += [f"{n}={b.text(n)}" for n in keywords if b.changed(n)]
        parts += [f"{n}={b.text(n)}" for n in always]
        return f"{b.receiver if target[0] == '.' else ''}{target}({', '.join(parts)})"

    return emit


def _reduction(method: str, whole: str = "") -> Callable:
    """Write a reduction; ``whole``: the method for one over all dims, if it differs."""

    def emit(b: Bound) -> str:
        dim, keep = b.py("dim"), b.py("keepdim")
        if dim is None and not keep:
            return f"{b.receiver}.{whole or method}()"
        return f"{b.receiver}.{method}(dim={b.text('dim')}{', keepdim=True' * keep})"

    return emit


def _flatten(b: Bound) -> str:
    """``x.flatten()``, ``x.flatten(1)``, ``x.flatten(0, 2)``: ``end_dim`` needs ``start_dim``."""
    shown = ["start_dim", "end_dim"] if b.changed("end_dim") else ["start_dim"]
    if not b.changed("start_dim") and not b.changed("end_dim"):
        shown = []
    return f"{b.receiver}.flatten({', '.join(b.text(n) for n in shown)})"


# ---- functions: type rules over the arguments -------------------------------------------------


def _same(a: dict) -> Tensor:
    return a["x"]


def _floating(a: dict) -> Tensor:
    return Tensor(a["x"].shape, t.to_float(a["x"].dtype))


def _cast(dtype: str) -> Callable[[dict], Tensor]:
    return lambda a: Tensor(a["x"].shape, dtype)


def _along(a: dict) -> Tensor:
    t.axis(a["dim"], a["x"].shape, "dim")
    return a["x"]


def _clamp(a: dict) -> Tensor:
    bounds = [v for v in (a["min"], a["max"]) if v is not None]
    if not bounds:
        raise OpError("`clamp` needs `min`, `max` or both", help="e.g. `clamp(x, min=0)`")
    return Tensor(a["x"].shape, t.result_type(a["x"], *bounds))


def _pair(a: dict) -> Tensor:
    return Tensor(t.broadcast(a["a"].shape, a["b"].shape), t.result_type(a["a"], a["b"]))


def _where(a: dict) -> Tensor:
    if a["cond"].dtype != "bool":
        problem = f"`where` needs a bool condition, got {a['cond'].dtype}"
        raise OpError(problem, help="make one with a comparison, e.g. `x > 0`", arg="cond")
    shape = t.broadcast(t.broadcast(a["cond"].shape, a["a"].shape), a["b"].shape)
    return Tensor(shape, t.result_type(a["a"], a["b"]))


def _reduce(dtype: Callable[[str], str]) -> Callable[[dict], Tensor]:
    return lambda a: Tensor(
        t.reduce_shape(a["x"].shape, a["dim"], a["keepdim"]), dtype(a["x"].dtype)
    )


def _prod(a: dict) -> Tensor:
    if a["keepdim"] and a["dim"] is None:
        raise OpError("`prod` keeps dims only along a given `dim`", arg="keepdim")
    return _reduce(_wide)(a)


def _kept(dtype: str) -> str:
    return dtype


def _wide(dtype: str) -> str:
    return dtype if t.category(dtype) == 2 else "int64"


def _shaped(shape_rule: Callable[..., tuple], *names: str) -> Callable[[dict], Tensor]:
    """A rule that changes only the shape, as ``shape_rule(shape, *arguments)``."""
    return lambda a: Tensor(shape_rule(a["x"].shape, *(a[n] for n in names)), a["x"].dtype)


def _joined(shape_rule: Callable[[list, int], tuple]) -> Callable[[dict], Tensor]:
    def rule(a: dict) -> Tensor:
        shape = shape_rule([x.shape for x in a["tensors"]], a["dim"])
        return Tensor(shape, t.result_type(*a["tensors"]))

    return rule


# ---- the table --------------------------------------------------------------------------------

_X = (ArgSpec("x", "tensor"),)
_AB = (ArgSpec("a", "tensor"), ArgSpec("b", "tensor"))
_KEEP = ArgSpec("keepdim", "bool", False)
_REDUCE = (*_X, ArgSpec("dim", "dims?", None), _KEEP)
_REDUCE1 = (*_X, ArgSpec("dim", "dim?", None), _KEEP)  # one dim at most
_SOFTMAX = (*_X, ArgSpec("dim", "dim", -1))
_CLAMP = (*_X, ArgSpec("min", "number?", None), ArgSpec("max", "number?", None))
_ONE_DIM = (*_X, ArgSpec("dim", "dim"))
_JOIN = (ArgSpec("tensors", "tensors"), ArgSpec("dim", "dim", 0))
_WHERE = (ArgSpec("cond", "tensor"), *_AB)
_FL, _WIDE = "; ints give float32", "; bools and ints give int64"
_OVER = " over `dim` (all dims when none)"

FUNCTIONS: dict[str, Func] = {
    f.name: f
    for f in (
        Func("relu", _X, _same, _write("F.relu", "x"), "max(x, 0)", "nonbool"),
        Func("gelu", _X, _same, _write("F.gelu", "x"), "Gaussian error linear unit", "float"),
        Func("silu", _X, _same, _write("F.silu", "x"), "x * sigmoid(x)", "float"),
        Func("sigmoid", _X, _floating, _write("torch.sigmoid", "x"), "1 / (1 + exp(-x))" + _FL),
        Func("tanh", _X, _floating, _write("torch.tanh", "x"), "hyperbolic tangent" + _FL),
        Func(
            "softmax",
            _SOFTMAX,
            _along,
            _write("F.softmax", "x", always=("dim",)),
            "exponentials scaled to sum to 1 along `dim`",
            "float",
            "softmax(x, dim=1)",
        ),
        Func(
            "log_softmax",
            _SOFTMAX,
            _along,
            _write("F.log_softmax", "x", always=("dim",)),
            "the log of `softmax`, computed stably",
            "float",
            "log_softmax(x, dim=1)",
        ),
        Func("abs", _X, _same, _write(".abs"), "absolute value", "nonbool"),
        Func("exp", _X, _floating, _write(".exp"), "e to the power x" + _FL),
        Func("log", _X, _floating, _write(".log"), "natural logarithm" + _FL),
        Func("sqrt", _X, _floating, _write(".sqrt"), "square root" + _FL),
        Func("sin", _X, _floating, _write(".sin"), "sine" + _FL),
        Func("cos", _X, _floating, _write(".cos"), "cosine" + _FL),
        Func(
            "clamp",
            _CLAMP,
            _clamp,
            _write(".clamp", keywords=("min", "max")),
            "limit values to [min, max]; give one bound or both",
            example="clamp(x, min=0)",
        ),
        Func(
            "maximum",
            _AB,
            _pair,
            _write("torch.maximum", "a", "b"),
            "the larger of a and b, element by element",
            example="maximum(a, b)",
        ),
        Func(
            "minimum",
            _AB,
            _pair,
            _write("torch.minimum", "a", "b"),
            "the smaller of a and b, element by element",
            example="minimum(a, b)",
        ),
        Func(
            "where",
            _WHERE,
            _where,
            _write("torch.where", "cond", "a", "b"),
            "a where the bool `cond` is true, else b",
            example="where(mask, a, b)",
        ),
        Func("float", _X, _cast("float32"), _write(".float"), "convert to float32"),
        Func("long", _X, _cast("int64"), _write(".long"), "convert to int64"),
        Func(
            "mean",
            _REDUCE,
            _reduce(_kept),
            _reduction("mean"),
            "mean" + _OVER,
            "float",
            "mean(x, dim=1)",
        ),
        Func(
            "sum",
            _REDUCE,
            _reduce(_wide),
            _reduction("sum"),
            "sum" + _OVER + _WIDE,
            example="sum(x, dim=1)",
        ),
        Func(
            "prod",
            _REDUCE1,
            _prod,
            _reduction("prod"),
            "product over one `dim` (all dims when none)" + _WIDE,
            example="prod(x, dim=1)",
        ),
        Func(
            "amax",
            _REDUCE,
            _reduce(_kept),
            _reduction("amax"),
            "largest value" + _OVER,
            example="amax(x, dim=1)",
        ),
        Func(
            "amin",
            _REDUCE,
            _reduce(_kept),
            _reduction("amin"),
            "smallest value" + _OVER,
            example="amin(x, dim=1)",
        ),
        Func(
            "max",
            _REDUCE,
            _reduce(_kept),
            _reduction("amax", "max"),
            "largest value" + _OVER + "; values only, as `amax`",
            example="max(x, dim=1)",
        ),
        Func(
            "min",
            _REDUCE,
            _reduce(_kept),
            _reduction("amin", "min"),
            "smallest value" + _OVER + "; values only, as `amin`",
            example="min(x, dim=1)",
        ),
        Func(
            "argmax",
            _REDUCE1,
            _reduce(lambda dtype: "int64"),
            _reduction("argmax"),
            "int64 index of the largest value along `dim` (in the flattened tensor when none)",
            "nonbool",
            "argmax(x, dim=1)",
        ),
        Func(
            "reshape",
            (*_X, ArgSpec("sizes", "*size")),
            _shaped(t.reshape_shape, "sizes"),
            _write(".reshape", "sizes"),
            "the same elements in a new shape; one size may be -1",
            example="reshape(x, -1, 28, 28)",
        ),
        Func(
            "flatten",
            (*_X, ArgSpec("start_dim", "dim", 0), ArgSpec("end_dim", "dim", -1)),
            _shaped(t.flatten_shape, "start_dim", "end_dim"),
            _flatten,
            "merge dims `start_dim` to `end_dim` into one",
            example="flatten(x, 1)",
        ),
        Func(
            "transpose",
            (*_X, ArgSpec("dim0", "dim"), ArgSpec("dim1", "dim")),
            _shaped(t.transpose_shape, "dim0", "dim1"),
            _write(".transpose", "dim0", "dim1"),
            "swap two dims",
            example="transpose(x, 1, 2)",
        ),
        Func(
            "permute",
            (*_X, ArgSpec("dims", "*dim")),
            _shaped(t.permute_shape, "dims"),
            _write(".permute", "dims"),
            "reorder the dims, naming each once",
            example="permute(x, 0, 2, 1)",
        ),
        Func(
            "squeeze",
            _ONE_DIM,
            _shaped(t.squeeze_shape, "dim"),
            _write(".squeeze", "dim"),
            "remove `dim`, which must have size 1",
            example="squeeze(x, 1)",
        ),
        Func(
            "unsqueeze",
            _ONE_DIM,
            _shaped(t.unsqueeze_shape, "dim"),
            _write(".unsqueeze", "dim"),
            "insert a dim of size 1 at `dim`",
            example="unsqueeze(x, 1)",
        ),
        Func(
            "cat",
            _JOIN,
            _joined(t.cat_shape),
            _write("torch.cat", "tensors", keywords=("dim",)),
            "join tensors along an existing `dim`",
            example="cat([a, b], dim=1)",
        ),
        Func(
            "stack",
            _JOIN,
            _joined(t.stack_shape),
            _write("torch.stack", "tensors", keywords=("dim",)),
            "join equal-shaped tensors along a new `dim`",
            example="stack([a, b], dim=1)",
        ),
        Func(
            "zeros_like", _X, _same, _write("torch.zeros_like", "x"), "zeros of x's shape and dtype"
        ),
        Func("ones_like", _X, _same, _write("torch.ones_like", "x"), "ones of x's shape and dtype"),
        Func(
            "randn_like",
            _X,
            _same,
            _write("torch.randn_like", "x"),
            "standard normal samples of x's shape and dtype",
            "float",
        ),
        Func(
            "rand_like",
            _X,
            _same,
            _write("torch.rand_like", "x"),
            "uniform samples in [0, 1) of x's shape and dtype",
            "float",
        ),
    )
}
