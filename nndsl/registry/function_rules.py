"""The type rules of the built-in functions (:mod:`nndsl.registry.functions`): each takes a call's
arguments' types by parameter name and gives the result's type."""

from __future__ import annotations

from collections.abc import Callable

from nndsl.ir import shape_rules as rules
from nndsl.ir import tensors as t
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import OpError, Tensor


def same(a: dict) -> Tensor:
    return a["x"]


def floating(a: dict) -> Tensor:
    return Tensor(a["x"].shape, t.to_float(a["x"].dtype))


def cast(dtype: str) -> Callable[[dict], Tensor]:
    return lambda a: Tensor(a["x"].shape, dtype)


def along(a: dict) -> Tensor:
    t.axis(a["dim"], a["x"].shape, "dim")
    return a["x"]


def clamp(a: dict) -> Tensor:
    bounds = [v for v in (a["min"], a["max"]) if v is not None]
    if not bounds:
        raise OpError("`clamp` needs `min`, `max` or both", help="e.g. `clamp(x, min=0)`")
    return Tensor(a["x"].shape, t.result_type(a["x"], *bounds))


def pair(a: dict) -> Tensor:
    return Tensor(t.broadcast(a["a"].shape, a["b"].shape), t.result_type(a["a"], a["b"]))


def where(a: dict) -> Tensor:
    if a["cond"].dtype != "bool":
        problem = f"`where` needs a bool condition, got {a['cond'].dtype}"
        raise OpError(problem, help="make one with a comparison, e.g. `x > 0`", arg="cond")
    shape = t.broadcast(t.broadcast(a["cond"].shape, a["a"].shape), a["b"].shape)
    return Tensor(shape, t.result_type(a["a"], a["b"]))


def reduce(dtype: Callable[[str], str]) -> Callable[[dict], Tensor]:
    return lambda a: Tensor(
        rules.reduce_shape(a["x"].shape, a["dim"], a["keepdim"]), dtype(a["x"].dtype)
    )


def picked(dtype: Callable[[str], str], name: str) -> Callable[[dict], Tensor]:
    """A reduction that picks one of the values (``max``, ``argmax``...): there must be some,
    where torch raises for an empty dim ("Expected reduction dim 1 to have non-zero size")."""
    dims_of = rules.reduced_dims

    def rule(a: dict) -> Tensor:
        shape = a["x"].shape
        for d in dims_of(shape, a["dim"]):
            if d < len(shape) and shape[d] == 0:
                raise OpError(
                    f"`{name}` of no values: dim {d} of {fmt_shape(shape)} has size 0",
                    help="pick a dim that holds values, or check the slice that emptied it",
                    arg="x",
                )
            if d < len(shape) and shape[d] is None:
                raise OpError(
                    f"`{name}` may have no values: dim {d} of {fmt_shape(shape)} has a size the "
                    "checker does not know (`?`), which may be 0",
                    help="make that size known first: slice a size known only at run time "
                    "with `1:`, `:-1` or `:`",
                    arg="x",
                )
        return reduce(dtype)(a)

    return rule


def prod(a: dict) -> Tensor:
    if a["keepdim"] and a["dim"] is None:
        raise OpError("`prod` keeps dims only along a given `dim`", arg="keepdim")
    return reduce(wide)(a)


def kept(dtype: str) -> str:
    return dtype


def wide(dtype: str) -> str:
    return dtype if t.category(dtype) == 2 else "int64"


def shaped(shape_rule: Callable[..., tuple], *names: str) -> Callable[[dict], Tensor]:
    """A rule that changes only the shape, as ``shape_rule(shape, *arguments)``."""
    return lambda a: Tensor(shape_rule(a["x"].shape, *(a[n] for n in names)), a["x"].dtype)


def joined(shape_rule: Callable[[list, int], tuple]) -> Callable[[dict], Tensor]:
    def rule(a: dict) -> Tensor:
        shape = shape_rule([x.shape for x in a["tensors"]], a["dim"])
        return Tensor(shape, t.result_type(*a["tensors"]))

    return rule
