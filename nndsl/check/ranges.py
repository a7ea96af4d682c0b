"""The range of values a model's output (or any value of its dataflow) can take, from the
checked dataflow alone, before any torch runs.

:func:`value_range` walks back from a node of a model's :class:`~nndsl.ir.graph.Links` through
blocks, repeats and nested models (their ports), and gives an :class:`~nndsl.ir.ranges.Interval`
that holds every value the node can make: a layer that bounds its output gives its own range
(``Sigmoid`` [0, 1], ``ReLU6`` [0, 6], ``LogSoftmax`` (-inf, 0]), one that keeps or rearranges
values keeps its input's (``Flatten``, indexing, ``MaxPool2d``), ``Dropout`` widens it by its
``1 / (1 - p)``, and a forward's arithmetic and functions compute it (``1 - sigmoid(h)`` is
[0, 1]). Anything else, a ``Linear`` first of all, is unbounded: only a bound that follows from
the layers is claimed. The node that decided the range comes with it, for messages.
"""

from __future__ import annotations

import itertools
import math
import re

from nndsl.check.sizes import size_of
from nndsl.ir import graph as dg
from nndsl.ir.ranges import INF, UNBOUNDED, Interval
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import BY_FUNCTION, REGISTRY
from nndsl.util.frozen import frozen


@frozen(slots=True)
class Found:
    """A node's range, and the node that decided it (the last one to change it)."""

    interval: Interval
    origin: dg.LinkNode | None


class Sizes:
    """What the data fixes of a model's run: the values each size known only at run time
    takes (``{"T": (64,)}``: the samples' length) and the range of each input's values the
    data holds (``{"idx": Interval(0, 61)}``), and those a range has read (``read`` the
    sizes, ``fed`` the inputs)."""

    def __init__(self, values: dict[str, tuple[int, ...]], inputs: dict | None = None):
        self.values, self.inputs = values, inputs or {}
        self.read: set[str] = set()
        self.fed: set[str] = set()

    def input(self, node) -> Found:
        """An input node's range: what the data feeds it, where known."""
        if node.attr in self.inputs:
            self.fed.add(node.attr)
            return Found(self.inputs[node.attr], node)
        return Found(UNBOUNDED, node)

    def interval(self, formula: str) -> Interval:
        """The values of a size formula (``T - 1``) over every value of its sizes; unbounded
        where one of them is not fixed.

        >>> Sizes({"T": (8, 64)}).interval("T - 1")
        Interval(lo=7, hi=63)
        """
        names = sorted(set(_NAME.findall(formula)))
        if not names or any(n not in self.values for n in names):
            return UNBOUNDED
        if math.prod(len(self.values[n]) for n in names) > _COMBINATIONS:
            return UNBOUNDED
        found = [
            size_of(formula, dict(zip(names, each)))
            for each in itertools.product(*(self.values[n] for n in names))
        ]
        if not found or None in found:
            return UNBOUNDED
        self.read.update(names)
        return Interval(min(found), max(found))


_NAME = re.compile(r"[A-Za-z_]\w*")
_COMBINATIONS = 256


def first_output(links: dg.Links) -> int | None:
    """The node of a model's first output (the one a loss compares with the targets)."""
    first = links.outputs
    while isinstance(first, tuple):
        if not first:
            return None
        first = first[0]
    return first


def output_range(links: dg.Links) -> Found:
    """The range of a model's first output."""
    node = first_output(links)
    return Found(UNBOUNDED, None) if node is None else value_range(links, node)


def value_range(links: dg.Links, node_id: int, sizes: Sizes | None = None) -> Found:
    """The range of what ``node_id`` makes. Iterative, so that a model of many thousand layers
    needs no deep recursion; a value that depends on itself (a loop, a shared layer applied to
    its own output) is unbounded where it comes round again. ``sizes``: the values the sizes
    known only at run time take (``T`` of the data's samples); without them a size such as
    ``arange(T)``'s is unbounded."""
    done: dict[int, Found] = {}
    open_: set[int] = set()
    stack = [node_id]
    while stack:
        n = stack[-1]
        if n in done:
            stack.pop()
            continue
        node = links.nodes.get(n)
        reads = links.fed.get(n, ()) if _reads(node) else ()
        if n not in open_:
            open_.add(n)
            todo = [p for p in reads if p not in done and p not in open_]
            if todo:
                stack.extend(todo)
                continue
        if reads and n in links.looped:  # a loop's later passes are not recorded
            done[n] = Found(UNBOUNDED, node)
        else:
            inputs = [done.get(p, Found(UNBOUNDED, None)) for p in reads]
            done[n] = _transfer(node, inputs, sizes)
        stack.pop()
    return done[node_id]


# ---- what each node does to the range -----------------------------------------------------

_KEEP_LAYERS = {
    "Identity",
    "Flatten",
    "Unflatten",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "PixelShuffle",
    "PixelUnshuffle",
}
_DROPOUT = {"Dropout", "Dropout1d", "Dropout2d"}
_CLAMPS = {"ReLU", "ReLU6", "Hardtanh"}  # clip the input: a bounded input stays bounded
_KEEP_OPS = {
    "float",
    "mean",
    "amax",
    "amin",
    "max",
    "min",
    "reshape",
    "flatten",
    "transpose",
    "permute",
    "squeeze",
    "unsqueeze",
}
_FIXED_OPS = {
    "sin": Interval(-1, 1),
    "cos": Interval(-1, 1),
    "argmax": Interval(0, INF),
    "zeros_like": Interval(0, 0),
    "ones_like": Interval(1, 1),
    "rand_like": Interval(0, 1),
    **{op: Interval(0, 1) for op in ("==", "!=", "<", "<=", ">", ">=")},  # bools
}
_READING_OPS = {"+", "-", "*", "/", "**", "%", "abs", "exp", "log", "sqrt", "clamp"}
_READING_OPS |= {"maximum", "minimum", "where", "long", "prod", "cat", "stack", "relu"}


def _reads(node) -> bool:
    """Whether ``node``'s range depends on its inputs' (a Linear's, a Sigmoid's do not)."""
    if node is None or node.kind in ("input", "tensor"):
        return False
    if node.kind == "layer":
        name = node.name
        return name in _KEEP_LAYERS or name in _DROPOUT or name in _CLAMPS or _pads(name)
    if node.kind == "op":
        name = node.name
        return (
            not isinstance(name, str) or name in _KEEP_OPS or name in _READING_OPS or name == "[]"
        )
    return True  # ports and outputs pass a value on


def _pads(name: str) -> bool:
    return name.startswith(("ZeroPad", "ConstantPad", "AvgPool")) or name == "Upsample"


def _transfer(node, inputs: list[Found], sizes: Sizes | None = None) -> Found:
    if node is not None and node.kind == "input" and sizes is not None:
        return sizes.input(node)
    if node is None or node.kind in ("input", "tensor"):
        return Found(UNBOUNDED, node)
    if node.kind == "layer":
        return _passed(node, inputs, _layer(node, _hull(inputs)))
    if node.kind == "op":
        return _passed(node, inputs, _op(node, inputs, sizes))
    return _passed(node, inputs, _hull(inputs))


def _passed(node, inputs: list[Found], interval: Interval) -> Found:
    """The node's range; it is its own origin unless it passed one input's range on as it was."""
    if node.kind == "op" and node.name in _ARITHMETIC:
        return Found(interval, node)
    same = [f for f in inputs if f.interval == interval and f.origin is not None]
    if same and (node.kind in ("port", "output") or len(inputs) == 1):
        return same[0]
    return Found(interval, node)


def _hull(inputs: list[Found]) -> Interval:
    if not inputs:
        return UNBOUNDED
    out = inputs[0].interval
    for f in inputs[1:]:
        out = out.hull(f.interval)
    return out


def _layer(node, x: Interval) -> Interval:
    name, a = node.name, node.args or {}
    if name in _KEEP_LAYERS:
        return x
    if name in _DROPOUT:
        p = a.get("p", 0.5)
        return Interval(0, 0) if p >= 1 else (x * Interval(1 / (1 - p), 1 / (1 - p))).hull(_ZERO)
    if name == "ReLU":
        return x.clamped(0)
    if name == "ReLU6":
        return x.clamped(0, 6)
    if name == "Hardtanh":
        return x.clamped(a.get("min_val", -1.0), a.get("max_val", 1.0))
    if name.startswith("ZeroPad"):
        return x.hull(_ZERO)
    if name.startswith("ConstantPad"):
        value = a.get("value")
        return x.hull(Interval(value, value)) if isinstance(value, (int, float)) else UNBOUNDED
    if name.startswith("AvgPool"):
        if a.get("divisor_override") is not None:
            return UNBOUNDED
        padded = a.get("padding", 0) not in (0, (0,), (0, 0), (0, 0, 0))
        return x.hull(_ZERO) if padded and a.get("count_include_pad", True) else x
    if name == "Upsample":  # nearest picks values, the linear modes average them
        return x if a.get("mode", "nearest") in _AVERAGING else UNBOUNDED
    layer = REGISTRY.get(name)
    return Interval.parse(layer.clips) if layer is not None and layer.clips else UNBOUNDED


_ZERO = Interval(0, 0)
_AVERAGING = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear")


def _op(node, inputs: list[Found], sizes: Sizes | None = None) -> Interval:
    name = node.name
    operands = _Operands(node, inputs, sizes)
    if not isinstance(name, str) or name == "[]":  # an index: what it picks of its tensor
        return operands.get(0)
    if name in _FIXED_OPS:
        return _FIXED_OPS[name]
    if name in _KEEP_OPS:
        return operands.get("x")
    if name in _ARITHMETIC and len(operands) == 2:
        return _ARITHMETIC[name](operands.get(0), operands.get(1))
    if name == "-" and len(operands) == 1:
        return -operands.get(0)
    if name in _FUNCTIONS:
        return _FUNCTIONS[name](operands)
    layer = BY_FUNCTION.get(name)  # sigmoid, tanh, softmax, log_softmax, gelu, silu...
    if layer is not None and layer.clips:
        return Interval.parse(layer.clips)
    return UNBOUNDED


class _Operands:
    """An op's operands, by position (operators) or by parameter name (functions): a number
    as itself, a tensor as the hull of the ranges its input edges bring."""

    def __init__(self, node, inputs: list[Found], sizes: Sizes | None = None):
        a = node.args or {}
        formulas = a.get("formulas", {}) if sizes is not None else {}
        spec = FUNCTIONS.get(node.name) if isinstance(node.name, str) else None
        names = {i: p.name for i, p in enumerate(spec.params)} if spec else {}
        edges: dict = {}
        for key, found in zip(a.get("in", ()), inputs):
            edges.setdefault(key, []).append(found)
        complete = len(a.get("in", ())) == len(inputs)
        self.values: dict = {}
        for key in a.get("keys", ()):
            if key in formulas:
                value = sizes.interval(formulas[key])
            elif key in a:
                number = a[key]
                known = isinstance(number, (int, float)) and math.isfinite(number)
                value = Interval(number, number) if known else UNBOUNDED
            else:
                value = _hull(edges[key]) if complete and key in edges else UNBOUNDED
            self.values[names.get(key, key)] = value

    def __len__(self) -> int:
        return len(self.values)

    def get(self, key) -> Interval:
        """Operand ``key``; unbounded when it is not given."""
        return self.values.get(key, UNBOUNDED)

    def number(self, key) -> float | None:
        """Operand ``key`` when it is one number, else None."""
        value = self.values.get(key)
        return value.lo if value is not None and value.lo == value.hi else None


def _modulo(a: Interval, b: Interval) -> Interval:
    if b.lo == b.hi and b.lo > 0:  # torch's remainder takes the divisor's sign
        return Interval(0, b.lo)
    return UNBOUNDED


_ARITHMETIC = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a.power(b.lo) if b.lo == b.hi and math.isfinite(b.lo) else UNBOUNDED,
    "%": _modulo,
}


def _abs(o: _Operands) -> Interval:
    x = o.get("x")
    return Interval(0, max(-x.lo, x.hi)).clamped(max(x.lo, -x.hi, 0))


def _clamp(o: _Operands) -> Interval:
    lo, hi = o.number("min"), o.number("max")
    return o.get("x").clamped(-INF if lo is None else lo, INF if hi is None else hi)


def _prod(o: _Operands) -> Interval:
    x = o.get("x")
    for bound in (Interval(0, 1), Interval(-1, 1)):
        if x.within(bound):
            return bound
    return UNBOUNDED


def _nonnegative(fn):
    def rule(o: _Operands) -> Interval:
        x = o.get("x")
        return x.image(fn) if x.lo >= 0 else UNBOUNDED

    return rule


def _both(o: _Operands, pick) -> Interval:
    a, b = o.get("a"), o.get("b")
    return Interval(pick(a.lo, b.lo), pick(a.hi, b.hi))


def _arange(o: _Operands) -> Interval:
    """``arange(n)``: 0 .. n - 1 (no value at all for an n below 1)."""
    n = o.get("n")
    return Interval(0, max(n.hi - 1, 0)) if n.hi < INF else Interval(0, INF)


_FUNCTIONS = {
    "arange": _arange,
    "abs": _abs,
    "exp": lambda o: o.get("x").image(math.exp),
    "log": _nonnegative(lambda v: -INF if v == 0 else math.log(v)),
    "sqrt": _nonnegative(math.sqrt),
    "clamp": _clamp,
    "relu": lambda o: o.get("x").clamped(0),
    "maximum": lambda o: _both(o, max),
    "minimum": lambda o: _both(o, min),
    "where": lambda o: o.get("a").hull(o.get("b")),
    "long": lambda o: o.get("x").hull(_ZERO),  # truncation moves values towards 0
    "prod": _prod,
    "cat": lambda o: o.get("tensors"),
    "stack": lambda o: o.get("tensors"),
}
