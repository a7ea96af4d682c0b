"""The built-in functions of a hand-written ``forward``: one :class:`~nndsl.registry.calls.Func`
each, with its parameters, its type rule over the arguments and its call form (data: the torch
function or method, and which arguments it writes by keyword).

:func:`call` checks a call of one and gives a :class:`~nndsl.ir.values.Value`: the result's type
and the :mod:`nndsl.ir.expr` expression of the call. The type rules live in
:mod:`nndsl.ir.tensors`; the operators are in :mod:`nndsl.registry.operators`.
"""

from __future__ import annotations

import ast
import re

from nndsl.ir import expr as x
from nndsl.ir import shape_rules as rules
from nndsl.ir.shapes import Size
from nndsl.ir.tensors import OpError, Tensor
from nndsl.ir.values import Value, literal
from nndsl.registry import function_rules as r
from nndsl.registry.args import ArgSpec
from nndsl.registry.calls import Func, Function, Method, Reduction, bind_call, check_dtype
from nndsl.registry.functions_attention import ATTENTION_FUNCTIONS
from nndsl.registry.saves import INPUT, OUTPUT, Saved
from nndsl.util.naming import suggest


def call(
    name: str, args: list[Value], kwargs: dict[str, Value], device: x.Expr | None = None
) -> Value:
    """A call of the built-in function ``name``: the result's type and expression; ``device``
    is where a tensor it creates goes (the forward's input's, ``x.device``).

    An error's ``arg`` is the position (int) or keyword (str) of the argument at fault.
    """
    func = FUNCTIONS.get(name)
    if func is None:
        raise OpError(f"`{name}` is not a built-in function", help=suggest(name, FUNCTIONS))
    bound = bind_call(func, args, kwargs, device)
    if func.params[0].base == "tensor":
        check_dtype(func, bound)
    try:
        py = func.rule({p.name: bound.py(p.name) for p in func.params})
    except OpError as e:
        raise OpError(e.message, help=e.help, arg=bound.where(e.arg), item=e.item) from None
    return Value(py, func.form.expr(bound))


def function_rows() -> list[tuple[str, str, x.Expr]]:
    """(signature, doc, the example's generated expression) for each function, for the docs."""
    return [(f.signature, f.doc, _example_expr(f)) for f in FUNCTIONS.values()]


def _example_expr(func: Func) -> x.Expr:
    text = re.sub(r"\b(none|true|false)\b", lambda m: m[1].capitalize(), func.example)
    node = ast.parse(text, mode="eval").body
    args = [_example_value(a) for a in node.args]
    kwargs = {k.arg: _example_value(k.value) for k in node.keywords}
    return func.form.expr(bind_call(func, args, kwargs, x.Attr(x.Name("x"), "device")))


def _example_value(node: ast.expr) -> Value:
    """An example's argument; a name stands for a tensor, whose shape writing code never needs,
    and a capital letter for a size known at run time (``T``)."""
    if isinstance(node, ast.Name) and len(node.id) == 1 and node.id.isupper():
        return Value(Size(node.id), x.Name(node.id))
    if isinstance(node, ast.Name):
        return Value(Tensor((), "float32"), x.Name(node.id))
    if isinstance(node, ast.List):
        items = [_example_value(n) for n in node.elts]
        return Value([v.py for v in items], x.List(tuple(v.expr for v in items)))
    return literal(ast.literal_eval(node))


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
        Func("relu", _X, r.same, Function("F.relu", ("x",)), "max(x, 0)", "nonbool", saves=OUTPUT),
        Func(
            "gelu",
            _X,
            r.same,
            Function("F.gelu", ("x",)),
            "Gaussian error linear unit",
            "float",
            saves=INPUT,
        ),
        Func(
            "silu", _X, r.same, Function("F.silu", ("x",)), "x * sigmoid(x)", "float", saves=INPUT
        ),
        Func(
            "sigmoid",
            _X,
            r.floating,
            Function("torch.sigmoid", ("x",)),
            "1 / (1 + exp(-x))" + _FL,
            saves=OUTPUT,
        ),
        Func(
            "tanh",
            _X,
            r.floating,
            Function("torch.tanh", ("x",)),
            "hyperbolic tangent" + _FL,
            saves=OUTPUT,
        ),
        Func(
            "softmax",
            _SOFTMAX,
            r.along,
            Function("F.softmax", ("x",), always=("dim",)),
            "exponentials scaled to sum to 1 along `dim`",
            "float",
            "softmax(x, dim=1)",
            saves=OUTPUT,
            autocast="float32",
        ),
        Func(
            "log_softmax",
            _SOFTMAX,
            r.along,
            Function("F.log_softmax", ("x",), always=("dim",)),
            "the log of `softmax`, computed stably",
            "float",
            "log_softmax(x, dim=1)",
            saves=OUTPUT,
            autocast="float32",
        ),
        Func("abs", _X, r.same, Method("abs"), "absolute value", "nonbool", saves=INPUT),
        Func(
            "exp",
            _X,
            r.floating,
            Method("exp"),
            "e to the power x" + _FL,
            saves=OUTPUT,
            autocast="float32",
        ),
        Func(
            "log",
            _X,
            r.floating,
            Method("log"),
            "natural logarithm" + _FL,
            saves=INPUT,
            autocast="float32",
        ),
        Func("sqrt", _X, r.floating, Method("sqrt"), "square root" + _FL, saves=OUTPUT),
        Func("sin", _X, r.floating, Method("sin"), "sine" + _FL, saves=INPUT),
        Func("cos", _X, r.floating, Method("cos"), "cosine" + _FL, saves=INPUT),
        Func(
            "clamp",
            _CLAMP,
            r.clamp,
            Method("clamp", keywords=("min", "max")),
            "limit values to [min, max]; give one bound or both",
            example="clamp(x, min=0)",
            saves=INPUT,
        ),
        Func(
            "maximum",
            _AB,
            r.pair,
            Function("torch.maximum", ("a", "b")),
            "the larger of a and b, element by element",
            example="maximum(a, b)",
            saves=INPUT,
        ),
        Func(
            "minimum",
            _AB,
            r.pair,
            Function("torch.minimum", ("a", "b")),
            "the smaller of a and b, element by element",
            example="minimum(a, b)",
            saves=INPUT,
        ),
        Func(
            "where",
            _WHERE,
            r.where,
            Function("torch.where", ("cond", "a", "b")),
            "a where the bool `cond` is true, else b",
            example="where(mask, a, b)",
            saves=(Saved("input", index=0),),
        ),
        Func("float", _X, r.cast("float32"), Method("float"), "convert to float32", alias="cast"),
        Func("long", _X, r.cast("int64"), Method("long"), "convert to int64", grad=False),
        Func(
            "mean",
            _REDUCE,
            r.reduce(r.kept),
            Reduction("mean"),
            "mean" + _OVER,
            "float",
            "mean(x, dim=1)",
        ),
        Func(
            "sum",
            _REDUCE,
            r.reduce(r.wide),
            Reduction("sum"),
            "sum" + _OVER + _WIDE,
            example="sum(x, dim=1)",
            autocast="float32",
        ),
        Func(
            "prod",
            _REDUCE1,
            r.prod,
            Reduction("prod"),
            "product over one `dim` (all dims when none)" + _WIDE,
            example="prod(x, dim=1)",
            saves=(*INPUT, *OUTPUT),
            autocast="float32",
        ),
        Func(
            "amax",
            _REDUCE,
            r.picked(r.kept, "amax"),
            Reduction("amax"),
            "largest value" + _OVER,
            example="amax(x, dim=1)",
            saves=(*INPUT, *OUTPUT),
        ),
        Func(
            "amin",
            _REDUCE,
            r.picked(r.kept, "amin"),
            Reduction("amin"),
            "smallest value" + _OVER,
            example="amin(x, dim=1)",
            saves=(*INPUT, *OUTPUT),
        ),
        Func(
            "max",
            _REDUCE,
            r.picked(r.kept, "max"),
            Reduction("amax", "max"),
            "largest value" + _OVER + "; values only, as `amax`",
            example="max(x, dim=1)",
            saves=(*INPUT, *OUTPUT),
        ),
        Func(
            "min",
            _REDUCE,
            r.picked(r.kept, "min"),
            Reduction("amin", "min"),
            "smallest value" + _OVER + "; values only, as `amin`",
            example="min(x, dim=1)",
            saves=(*INPUT, *OUTPUT),
        ),
        Func(
            "argmax",
            _REDUCE1,
            r.picked(lambda dtype: "int64", "argmax"),
            Reduction("argmax"),
            "int64 index of the largest value along `dim` (in the flattened tensor when none)",
            "nonbool",
            "argmax(x, dim=1)",
            grad=False,
        ),
        Func(
            "reshape",
            (*_X, ArgSpec("sizes", "*size")),
            r.shaped(rules.reshape_shape, "sizes"),
            Method("reshape", ("sizes",)),
            "the same elements in a new shape; one size may be -1",
            example="reshape(x, -1, 28, 28)",
            alias="view",
        ),
        Func(
            "flatten",
            (*_X, ArgSpec("start_dim", "dim", 0), ArgSpec("end_dim", "dim", -1)),
            r.shaped(rules.flatten_shape, "start_dim", "end_dim"),
            Method("flatten", optional=("start_dim", "end_dim")),
            "merge dims `start_dim` to `end_dim` into one",
            example="flatten(x, 1)",
            alias="view",
        ),
        Func(
            "transpose",
            (*_X, ArgSpec("dim0", "dim"), ArgSpec("dim1", "dim")),
            r.shaped(rules.transpose_shape, "dim0", "dim1"),
            Method("transpose", ("dim0", "dim1")),
            "swap two dims",
            example="transpose(x, 1, 2)",
            alias="view",
        ),
        Func(
            "permute",
            (*_X, ArgSpec("dims", "*dim")),
            r.shaped(rules.permute_shape, "dims"),
            Method("permute", ("dims",)),
            "reorder the dims, naming each once",
            example="permute(x, 0, 2, 1)",
            alias="view",
        ),
        Func(
            "squeeze",
            _ONE_DIM,
            r.shaped(rules.squeeze_shape, "dim"),
            Method("squeeze", ("dim",)),
            "remove `dim`, which must have size 1",
            example="squeeze(x, 1)",
            alias="view",
        ),
        Func(
            "unsqueeze",
            _ONE_DIM,
            r.shaped(rules.unsqueeze_shape, "dim"),
            Method("unsqueeze", ("dim",)),
            "insert a dim of size 1 at `dim`",
            example="unsqueeze(x, 1)",
            alias="view",
        ),
        Func(
            "cat",
            _JOIN,
            r.joined(rules.cat_shape),
            Function("torch.cat", ("tensors",), keywords=("dim",)),
            "join tensors along an existing `dim`",
            example="cat([a, b], dim=1)",
        ),
        Func(
            "stack",
            _JOIN,
            r.joined(rules.stack_shape),
            Function("torch.stack", ("tensors",), keywords=("dim",)),
            "join equal-shaped tensors along a new `dim`",
            example="stack([a, b], dim=1)",
        ),
        Func(
            "zeros_like",
            _X,
            r.same,
            Function("torch.zeros_like", ("x",)),
            "zeros of x's shape and dtype",
            grad=False,
        ),
        Func(
            "ones_like",
            _X,
            r.same,
            Function("torch.ones_like", ("x",)),
            "ones of x's shape and dtype",
            grad=False,
        ),
        Func(
            "detach",
            _X,
            r.same,
            Method("detach"),
            "the same values, through which no gradient flows back",
            grad=False,
            alias="view",
        ),
        Func(
            "randn_like",
            _X,
            r.same,
            Function("torch.randn_like", ("x",)),
            "standard normal samples of x's shape and dtype",
            "float",
            grad=False,
        ),
        Func(
            "rand_like",
            _X,
            r.same,
            Function("torch.rand_like", ("x",)),
            "uniform samples in [0, 1) of x's shape and dtype",
            "float",
            grad=False,
        ),
        *ATTENTION_FUNCTIONS,
    )
}
