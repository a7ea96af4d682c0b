"""Expressions and statements of generated code, as data: what the checker produces and
:mod:`nndsl.codegen.expr` writes as Python.

In the spirit of Python's :mod:`ast`, but only what nndsl emits. Nodes are frozen and compare
by value (a literal by the text it is written as: ``True`` is not ``1``, and ``8`` as the
source wrote it is ``8``), so identical block specialisations still share one generated
class. Precedence and parentheses are the writer's business, not the checker's.

One rendering lives here besides the writer: :func:`formula_text`, the text of a size formula
(``width * 2``) as shapes keep it (:class:`nndsl.ir.shapes.Dim` ``expr``), in shape comments
and in messages. It covers only what a size can be computed from (literals, names, attributes,
tuples, lists, indexing and arithmetic) and agrees with the writer on those.
"""

from __future__ import annotations

import math

from nndsl.util.frozen import frozen

# ---- expressions -------------------------------------------------------------------------------


@frozen(slots=True, eq=False)
class Lit:
    """A Python constant: int, float, bool, None, str or ``...``; ``text`` keeps a number as the
    source wrote it (``1e-3``)."""

    value: object
    text: str | None = None

    def _key(self) -> str:
        return self.text if self.text is not None else literal_text(self.value)

    def __eq__(self, other: object) -> bool:
        return type(other) is Lit and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@frozen(slots=True)
class Name:
    """A local, a parameter, or a module-level name (``torch``, ``F``, ``self``)."""

    id: str


@frozen(slots=True)
class Attr:
    """``value.attr``: ``self.fc1``, ``torch.matmul``, the method of ``x.float()``."""

    value: Expr
    attr: str


@frozen(slots=True)
class Call:
    """``func(*args, **kwargs)``; ``kwargs`` as (name, value) pairs in order."""

    func: Expr
    args: tuple = ()
    kwargs: tuple = ()


@frozen(slots=True)
class BinOp:
    """``left op right``: arithmetic, ``@`` or a comparison."""

    op: str
    left: Expr
    right: Expr


@frozen(slots=True)
class Unary:
    """``-operand`` or ``+operand``."""

    op: str
    operand: Expr


@frozen(slots=True)
class Slice:
    """``start:stop:step`` inside an :class:`Index`; a part left out is None."""

    start: Expr | None = None
    stop: Expr | None = None
    step: Expr | None = None


@frozen(slots=True)
class Index:
    """``value[items]``; items are expressions (``Lit(...)`` for ``...``, ``Lit(None)`` for a
    new axis) and :class:`Slice`; no items is ``value[()]``."""

    value: Expr
    items: tuple


@frozen(slots=True)
class Tuple:
    items: tuple


@frozen(slots=True)
class List:
    items: tuple


@frozen(slots=True)
class IfExp:
    """``then if cond else orelse``."""

    cond: Expr
    then: Expr
    orelse: Expr


@frozen(slots=True)
class Formula:
    """A size formula as a shape keeps it (a :class:`~nndsl.ir.shapes.Dim`'s ``expr``, such as
    ``32 * 7 * 7``), used where generated code passes that size on."""

    text: str


Expr = Lit | Name | Attr | Call | BinOp | Unary | Index | Tuple | List | IfExp | Formula

SELF = Name("self")
NONE = Lit(None)


def dotted(path: str) -> Expr:
    """``torch.nn.functional`` as nested attributes of a name."""
    head, *rest = path.split(".")
    e: Expr = Name(head)
    for part in rest:
        e = Attr(e, part)
    return e


def self_attr(attr: str) -> Attr:
    """``self.<attr>``: a module, parameter or stored constructor argument."""
    return Attr(SELF, attr)


def call(func: str, *args: Expr, **kwargs: Expr) -> Call:
    """A call of a dotted function: ``call("torch.cat", xs, dim=Lit(1))``."""
    return Call(dotted(func), args, tuple(kwargs.items()))


def method(receiver: Expr, name: str, *args: Expr, kwargs: tuple = ()) -> Call:
    """``receiver.name(args)``."""
    return Call(Attr(receiver, name), args, kwargs)


def constant(py: object) -> Expr:
    """A Python value as the expression that writes it; tuples and lists item by item."""
    if isinstance(py, tuple):
        return Tuple(tuple(constant(x) for x in py))
    if isinstance(py, list):
        return List(tuple(constant(x) for x in py))
    if isinstance(py, int) and type(py) not in (int, bool):
        return Lit(int(py))  # a Dim is written, and compares, as the int it is
    return Lit(py)


_INT_LITS: dict[int, Lit] = {}


def _int_lit(v: int) -> Lit:
    """One shared literal per int a size is written as (sizes repeat, nodes are immutable)."""
    lit = _INT_LITS.get(v)
    if lit is None:
        lit = Lit(v)
        if len(_INT_LITS) < 4096:
            _INT_LITS[v] = lit
    return lit


def of_dim(d: object) -> Expr:
    """A size as generated code passes it on: its formula when it has one (``width``)."""
    text = getattr(d, "expr", None)
    if text is None:
        return _int_lit(int(d)) if isinstance(d, int) else constant(d)
    if text.isidentifier():
        return Name(text)
    return Lit(int(text)) if text.isdigit() else Formula(text)


# ---- statements: a graph-style forward ---------------------------------------------------------


@frozen(slots=True)
class Shown:
    """A tensor's shape as a shape comment shows it: dims as ints, symbols, or the formula
    of a size computed from constructor parameters (``"width * 2"``)."""

    dims: tuple


# The type a comment shows: Shown, a tuple of those (nested as values are), or None for a
# value that is not a tensor.
ShownType = Shown | tuple | None


@frozen(slots=True)
class Assign:
    """``target = value  # comment``; a target is a :class:`Name` or a :class:`Tuple` of
    targets (unpacking). ``type``: the value's type for the shape comment."""

    target: Expr
    value: Expr
    type: ShownType = None


@frozen(slots=True)
class Return:
    """``return a, b  # types``: ``types`` holds one shown type per value."""

    values: tuple
    types: tuple = ()


@frozen(slots=True)
class While:
    cond: Expr
    body: tuple  # statements; none is ``pass``


@frozen(slots=True)
class If:
    """``if cond: body else: orelse``; an empty ``orelse`` writes no ``else``. Either branch may
    be :data:`UNSEEN` while a block's class is put together from its uses."""

    cond: Expr
    body: tuple
    orelse: tuple = ()


@frozen(slots=True)
class Unseen:
    """A part of a block's class that the use at hand does not build: the branch of an ``if``
    its condition leaves out, the copies of a ``repeat`` 0 times, the statements after a
    branch that returns. Another use of the class may build it; what no use builds is left out
    of the class (:mod:`nndsl.check.unify`)."""


UNSEEN = Unseen()


Stmt = Assign | Return | While | If


# ---- size formulas as text ----------------------------------------------------------------------

_ATOM, _POWER, _UNARY, _TERM, _SUM = 5, 4, 3, 2, 1
_PREC = {"+": _SUM, "-": _SUM, "*": _TERM, "/": _TERM, "//": _TERM, "%": _TERM, "**": _POWER}


def formula_text(e: Expr) -> str | None:
    """The text of a constant expression or size formula, as shapes and messages write it;
    None for anything else (a call, a comparison).

    >>> formula_text(BinOp("*", BinOp("+", Name("w"), Lit(1)), Lit(2)))
    '(w + 1) * 2'
    """
    if type(e) is Lit and e.text is not None:
        return e.text
    try:
        return _text(e)[0]
    except _NotFormula:
        return None


class _NotFormula(Exception):
    pass


def literal_text(py: object) -> str:
    """A Python constant as text: ``3``, ``"a'b"``, ``float("inf")``, ``...``."""
    if py is Ellipsis:
        return "..."
    if isinstance(py, float) and not math.isfinite(py):
        return f'float("{py}")'
    text = repr(py)
    if isinstance(py, str) and "'" in text and '"' not in py:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def _text(e: Expr) -> tuple[str, int]:
    if isinstance(e, Lit):
        text = e.text if e.text is not None else literal_text(e.value)
        return text, _UNARY if text.startswith("-") else _ATOM
    if isinstance(e, Name):
        return e.id, _ATOM
    if isinstance(e, Formula):
        return e.text, 0
    if isinstance(e, (Tuple, List)):
        inner = ", ".join(_text(x)[0] for x in e.items)
        if isinstance(e, List):
            return f"[{inner}]", _ATOM
        return (f"({inner},)" if len(e.items) == 1 else f"({inner})"), _ATOM
    if isinstance(e, Attr):
        value = _wrap(e.value, _ATOM)
        if value.replace("_", "").isdigit():  # `2.real` would read as the number `2.`
            value = f"({value})"
        return f"{value}.{e.attr}", _ATOM
    if isinstance(e, Index):
        parts = [_slice_text(i) if isinstance(i, Slice) else _text(i)[0] for i in e.items]
        return f"{_wrap(e.value, _ATOM)}[{', '.join(parts) or '()'}]", _ATOM
    if isinstance(e, Unary) and e.op != "not":
        return e.op + _wrap(e.operand, _UNARY), _UNARY
    if isinstance(e, BinOp) and e.op in _PREC:
        prec = _PREC[e.op]
        if e.op == "**":
            return f"{_wrap(e.left, _ATOM)} ** {_wrap(e.right, _UNARY)}", prec
        return f"{_wrap(e.left, prec)} {e.op} {_wrap(e.right, prec + 1)}", prec
    raise _NotFormula


def _slice_text(i: Slice) -> str:
    start, stop, step = ("" if p is None else _text(p)[0] for p in (i.start, i.stop, i.step))
    return f"{start}:{stop}:{step}" if step else f"{start}:{stop}"


def _wrap(e: Expr, need: int) -> str:
    text, prec = _text(e)
    return f"({text})" if prec < need else text
