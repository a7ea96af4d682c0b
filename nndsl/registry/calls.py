"""A built-in function's description, the binding of a call's arguments to its parameters, and
its call form: how the call is written in generated code, as data.

A :class:`Func` names its parameters (:class:`~nndsl.registry.args.ArgSpec`), its type rule and
its form: a :class:`Function` (``torch.maximum(a, b)``), a :class:`Method` of the first
argument (``x.clamp(min=0)``) or a :class:`Reduction` (``x.mean(dim=1)``). A form builds the
call's :mod:`nndsl.ir.expr` expression from the bound arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from nndsl.ir import expr as x
from nndsl.ir import tensors as t
from nndsl.ir.expr import formula_text
from nndsl.ir.shapes import Dim, Size
from nndsl.ir.tensors import OpError, Tensor
from nndsl.ir.values import Value
from nndsl.registry.args import ArgSpec, bind
from nndsl.registry.operators import describe, is_int, is_number
from nndsl.registry.saves import Saved
from nndsl.util.frozen import frozen

# ---- call forms ---------------------------------------------------------------------------------


@frozen
class Function:
    """``name(positional..., keyword=value)``, ``name`` a dotted function (``torch.cat``):
    ``keywords`` are written when given a value other than the default, ``always`` always.
    ``device``: it creates a tensor, on the device of the forward's input (``device=x.device``)."""

    name: str
    positional: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    device: bool = False

    def expr(self, b: Bound) -> x.Expr:
        kwargs = _kwargs(b, self)
        if self.device and b.device is not None:
            kwargs += (("device", b.device),)
        return x.Call(x.dotted(self.name), _args(b, self.positional), kwargs)


@frozen
class Method:
    """``first.name(...)``, a method of the first argument, with the arguments of a
    :class:`Function`; ``optional`` are written positionally up to the last one changed
    (``x.flatten()``, ``x.flatten(1)``, ``x.flatten(0, 2)``)."""

    name: str
    positional: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()

    def expr(self, b: Bound) -> x.Expr:
        shown = [n for n in self.optional if b.changed(n)]
        upto = self.optional.index(shown[-1]) + 1 if shown else 0
        args = _args(b, self.positional + self.optional[:upto])
        return x.Call(x.Attr(b.receiver, self.name), args, _kwargs(b, self))


@frozen
class Reduction:
    """``x.method()`` over all dims (``whole``: the method then, if it differs), else
    ``x.method(dim=d)`` and ``keepdim=True`` when kept."""

    method: str
    whole: str = ""

    def expr(self, b: Bound) -> x.Expr:
        dim, keep = b.py("dim"), b.py("keepdim")
        if dim is None and not keep:
            return x.Call(x.Attr(b.receiver, self.whole or self.method))
        kwargs = (("dim", b.arg("dim")),) + ((("keepdim", x.Lit(True)),) if keep else ())
        return x.Call(x.Attr(b.receiver, self.method), (), kwargs)


Form = Function | Method | Reduction


def _args(b: Bound, names: tuple[str, ...]) -> tuple:
    out: list = []
    for n in names:
        out += b.args(n)
    return tuple(out)


def _kwargs(b: Bound, form) -> tuple:
    pairs = [(n, b.arg(n)) for n in form.keywords if b.changed(n)]
    return tuple(pairs + [(n, b.arg(n)) for n in form.always])


# ---- a function and a call bound to it -----------------------------------------------------------

# Each parameter kind (an :class:`~nndsl.registry.args.ArgSpec`'s, maybe marked): what messages
# call it, and the test of an argument's ``py``. A ``?`` suffix also accepts none; a ``*`` prefix
# takes the remaining positional arguments. Dims and flags are written into code as literals,
# everything else as the expression it came with.
_KINDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "tensor": ("a tensor", lambda py: isinstance(py, Tensor)),
    "tensors": ("a list of tensors", lambda py: isinstance(py, (tuple, list))),
    "dim": ("an int", is_int),
    "size": ("an int", lambda py: is_int(py) or isinstance(py, Size)),
    "dims": ("an int or a tuple of ints", lambda py: is_int(py) or _all_ints(py)),
    "bool": ("`true` or `false`", lambda py: isinstance(py, bool)),
    "number": ("a number", lambda py: is_number(py) and not isinstance(py, bool)),
}


def _all_ints(py: object) -> bool:
    return isinstance(py, (tuple, list)) and all(is_int(i) for i in py)


@frozen
class Func:
    """One built-in function: its parameters, its type rule and how a call of it is written.

    ``rule`` takes the arguments' ``py`` by parameter name (defaults filled in) and gives the
    result's type; ``form`` writes the call. ``accepts``: the dtypes its first argument may
    have (``any``, ``nonbool`` or ``float``). ``example``: a call in the language.

    For ``nndsl summary --train``: ``saves``, what autograd keeps of a call
    (:mod:`nndsl.registry.saves`); ``grad``, whether a gradient flows through it; ``alias``,
    ``view`` when the result shares its argument's memory, ``cast`` when it does unless the
    dtype changes; ``autocast``, ``float32`` for a function autocast runs in float32.
    """

    name: str
    params: tuple[ArgSpec, ...]
    rule: Callable[[dict], Tensor]
    form: Form
    doc: str
    accepts: str = "any"
    example: str = ""
    saves: tuple[Saved, ...] = ()
    grad: bool = True
    alias: str = ""
    autocast: str = ""

    def __post_init__(self) -> None:
        if not self.example:
            object.__setattr__(self, "example", f"{self.name}(x)")

    def param(self, name: str) -> ArgSpec | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def signature(self) -> str:
        """The call as the language writes it, e.g. ``mean(x, dim=none, keepdim=false)``."""
        return f"{self.name}({', '.join(p.shown for p in self.params)})"


@frozen
class Bound:
    """A call's arguments bound to a function's parameters: ``given`` holds the Values written
    (a tuple of them for a variadic parameter), ``places`` where each was written, as a position
    or a keyword."""

    func: Func
    given: dict[str, object]
    places: dict[str, int | str]
    device: x.Expr | None = None  # where a tensor it creates goes (``x.device``)

    def py(self, name: str) -> object:
        """The argument's type or value; the default when it was not given."""
        p = self.func.param(name)
        if name not in self.given:
            return p.default
        v = self.given[name]
        return (
            tuple(_sized(i) for i in v) if p.variadic else _sized(v) if p.base == "size" else v.py
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
    def receiver(self) -> x.Expr:
        """The first argument, the receiver of a method call."""
        return self.given[self.func.params[0].name].expr

    def args(self, name: str) -> tuple:
        """An argument's expressions (several for a variadic parameter): dims and flags as
        literals, others as written."""
        p = self.func.param(name)
        if p.base in ("dim", "dims", "bool") or name not in self.given:
            values = self.py(name) if p.variadic else (self.py(name),)
            return tuple(x.constant(_plain(v)) for v in values)
        return tuple(v.expr for v in (self.given[name] if p.variadic else (self.given[name],)))

    def arg(self, name: str) -> x.Expr:
        return self.args(name)[0]


def _sized(v: Value) -> object:
    """A size argument as a dim that keeps the formula it was written as (``units``), in the
    words of the constructor: a forward's ``self.units`` is ``units`` there, and a size computed
    into a local of the forward is its number (a module built from it could not read it)."""
    if is_int(v.py) and getattr(v.py, "expr", None) is None:
        formula = _in_constructor(v.expr)
        text = None if formula is None else formula_text(formula)
        if text is not None and text != repr(int(v.py)):
            return Dim(v.py, text)
    return v.py


def _in_constructor(e: x.Expr) -> x.Expr | None:
    """``e`` with the constructor parameters a forward reads (``self.units``) as their names;
    None when it reads a local of the forward."""
    match e:
        case x.Attr(value=x.Name(id="self"), attr=attr):
            return x.Name(attr)
        case x.Name():
            return None
        case x.BinOp(op=op, left=a, right=b):
            a, b = _in_constructor(a), _in_constructor(b)
            return None if a is None or b is None else x.BinOp(op, a, b)
        case x.Unary(op=op, operand=a):
            a = _in_constructor(a)
            return None if a is None else x.Unary(op, a)
    return e


def _plain(py: object) -> object:
    if isinstance(py, (tuple, list)):
        return tuple(_plain(i) for i in py)
    return int(py) if is_int(py) else py


def bind_call(
    func: Func, args: list[Value], kwargs: dict[str, Value], device: x.Expr | None = None
) -> Bound:
    """Bind arguments as Python does, then check each one's kind; ``device``: where a tensor
    the function creates goes."""
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
    bound = Bound(func, given, places, device)
    for name, v in given.items():
        p = func.param(name)
        for j, i in enumerate(v if p.variadic else (v,)):
            _check_kind(func, p, i.py, bound.where((name, j)))
    return bound


def _check_kind(func: Func, p: ArgSpec, py: object, place: int | str | None) -> None:
    if p.base == "tensors" and isinstance(py, (tuple, list)):
        for i, item in enumerate(py):
            if not isinstance(item, Tensor):
                problem = f"needs a list of tensors, but item {i} is {describe(item)}"
                raise OpError(f"`{func.name}` {problem}", arg=place, item=i)
    if not (py is None and p.kind.endswith("?")) and not _KINDS[p.base][1](py):
        want = _KINDS[p.base][0] + " or `none`" * p.kind.endswith("?")
        for_what = "" if p is func.params[0] else f" for `{p.name}`"
        raise OpError(f"`{func.name}` needs {want}{for_what}, got {describe(py)}", arg=place)


def check_dtype(func: Func, bound: Bound) -> None:
    """Refuse a first argument of a dtype the function does not take, as torch would."""
    first = func.params[0].name
    dtype = bound.py(first).dtype
    if func.accepts == "float" and t.category(dtype) < 2:
        problem = f"`{func.name}` needs a floating-point tensor, got {dtype}"
    elif func.accepts == "nonbool" and dtype == "bool":
        problem = f"`{func.name}` does not work on bool tensors"
    else:
        return
    e = bound.given[first].expr
    fix = f"convert first: `{func.name}(float({e.id if isinstance(e, x.Name) else 'x'}))`"
    raise OpError(problem, help=fix, arg=bound.where(first))
