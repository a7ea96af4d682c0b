"""The built-in functions a Transformer's forward needs besides the others: tensors made from
sizes (``arange``, ``ones``, ``zeros``, on the device of the forward's input), the masks of
attention (``tril``, ``triu``, ``masked_fill``) and ``scaled_dot_product_attention``. Entries
as in :mod:`nndsl.registry.functions`, which holds the rest of the table."""

from __future__ import annotations

from nndsl.ir import tensors as t
from nndsl.ir.shapes import fmt_dim, fmt_shape
from nndsl.ir.tensors import OpError, Tensor, dim_conflict
from nndsl.registry.args import ArgSpec
from nndsl.registry.calls import Func, Function, Method
from nndsl.registry.operators import is_int
from nndsl.registry.saves import INPUT, OUTPUT

# ---- type rules ---------------------------------------------------------------------------------


def _sizes_ok(sizes: tuple, name: str) -> tuple:
    for i, n in enumerate(sizes):
        if is_int(n) and n < 0:
            raise OpError(f"`{name}` needs sizes of 0 or more, not {n}", arg=("sizes", i))
    return tuple(sizes)


def _arange(a: dict) -> Tensor:
    n = a["n"]
    if is_int(n) and n < 0:
        raise OpError(f"`arange` needs a size of 0 or more, not {n}", arg="n")
    return Tensor((n,), "int64")


def _filled(name: str):
    return lambda a: Tensor(_sizes_ok(a["sizes"], name), "float32")


def _triangle(name: str):
    def rule(a: dict) -> Tensor:
        if len(a["x"].shape) < 2:
            raise OpError(
                f"`{name}` needs a tensor of 2 dims or more, got {fmt_shape(a['x'].shape)}",
                arg="x",
            )
        return a["x"]

    return rule


def _masked_fill(a: dict) -> Tensor:
    x, mask = a["x"], a["mask"]
    if mask.dtype != "bool":
        raise OpError(
            f"`masked_fill` needs a bool mask, got {mask.dtype}",
            help="make one with a comparison, e.g. `m == 0`",
            arg="mask",
        )
    return Tensor(t.broadcast(x.shape, mask.shape), x.dtype)


def _attention(a: dict) -> Tensor:
    """``(..., L, E)``, ``(..., S, E)``, ``(..., S, Ev)`` give ``(..., L, Ev)``; the dims before
    the last two broadcast."""
    q, k, v = a["q"], a["k"], a["v"]
    for name in ("q", "k", "v"):
        if len(a[name].shape) < 2:
            shape = fmt_shape(a[name].shape)
            raise OpError(f"`{name}` needs 2 dims or more, (..., L, E), got {shape}", arg=name)
    for name in ("k", "v"):
        if a[name].dtype != q.dtype:
            problem = f"q, k and v need one dtype, but q is {q.dtype} and {name} {a[name].dtype}"
            raise OpError(problem, arg=name)
    _same_dim(q.shape[-1], k.shape[-1], "the query and key sizes (E)", "k")
    _same_dim(k.shape[-2], v.shape[-2], "the key and value lengths (S)", "v")
    batch = t.broadcast(
        t.broadcast(q.shape[:-2], k.shape[:-2], "q and k cannot broadcast their batch dims"),
        v.shape[:-2],
        "v cannot broadcast its batch dims with q and k",
    )
    scores = batch + (q.shape[-2], k.shape[-2])
    mask = a["attn_mask"]
    if mask is not None:
        _mask_ok(mask, scores, q.dtype)
        if a["is_causal"]:
            raise OpError(
                "give `attn_mask` or `is_causal=true`, not both",
                help="`is_causal=true` is the mask of a decoder: leave `attn_mask` out",
                arg="is_causal",
            )
    p = a["dropout_p"]
    if not 0 <= p <= 1:
        raise OpError(f"`dropout_p` is a probability from 0 to 1, not {p}", arg="dropout_p")
    return Tensor(batch + (q.shape[-2], v.shape[-1]), q.dtype)


def _same_dim(x, y, what: str, arg: str) -> None:
    why = dim_conflict(x, y)
    if why is not None:
        raise OpError(f"{what} differ: {fmt_dim(x)} and {fmt_dim(y)}{why}", arg=arg)


def _mask_ok(mask: Tensor, scores: tuple, dtype: str) -> None:
    if mask.dtype != "bool" and t.category(mask.dtype) < 2:
        raise OpError(
            f"`attn_mask` is bool (true: attend) or float (added to the scores), "
            f"not {mask.dtype}",
            arg="attn_mask",
        )
    what = f"`attn_mask` {fmt_shape(mask.shape)} does not broadcast to the scores"
    if len(mask.shape) > len(scores):
        raise OpError(f"{what} {fmt_shape(scores)}", arg="attn_mask")
    try:
        fits = t.broadcast(mask.shape, scores, what) == tuple(scores)
    except OpError as err:
        raise OpError(err.message, arg="attn_mask") from None
    if not fits:
        raise OpError(f"{what} {fmt_shape(scores)}", arg="attn_mask")


# ---- the entries ---------------------------------------------------------------------------------

_X = (ArgSpec("x", "tensor"),)
_SIZES = (ArgSpec("sizes", "*size"),)
_DIAGONAL = (*_X, ArgSpec("diagonal", "dim", 0))
_ATTENTION = (
    ArgSpec("q", "tensor"),
    ArgSpec("k", "tensor"),
    ArgSpec("v", "tensor"),
    ArgSpec("attn_mask", "tensor?", None),
    ArgSpec("dropout_p", "number", 0.0),
    ArgSpec("is_causal", "bool", False),
    ArgSpec("scale", "number?", None),
)

ATTENTION_FUNCTIONS = (
    Func(
        "arange",
        (ArgSpec("n", "size"),),
        _arange,
        Function("torch.arange", ("n",), device=True),
        "int64 positions 0 to n - 1; n may be a size such as `T`",
        example="arange(T)",
    ),
    Func(
        "ones",
        _SIZES,
        _filled("ones"),
        Function("torch.ones", ("sizes",), device=True),
        "float32 ones of the given sizes, which may be sizes such as `T`",
        example="ones(T, T)",
    ),
    Func(
        "zeros",
        _SIZES,
        _filled("zeros"),
        Function("torch.zeros", ("sizes",), device=True),
        "float32 zeros of the given sizes, which may be sizes such as `T`",
        example="zeros(T, 4)",
    ),
    Func(
        "tril",
        _DIAGONAL,
        _triangle("tril"),
        Function("torch.tril", ("x",), keywords=("diagonal",)),
        "the lower triangle of the last two dims (those above `diagonal` set to 0)",
        example="tril(x)",
    ),
    Func(
        "triu",
        _DIAGONAL,
        _triangle("triu"),
        Function("torch.triu", ("x",), keywords=("diagonal",)),
        "the upper triangle of the last two dims (those below `diagonal` set to 0)",
        example="triu(x, diagonal=1)",
    ),
    Func(
        "masked_fill",
        (*_X, ArgSpec("mask", "tensor"), ArgSpec("value", "number")),
        _masked_fill,
        Method("masked_fill", ("mask", "value")),
        "x with `value` where the bool `mask` (broadcast to x) is true",
        example="masked_fill(x, mask, 0.0)",
    ),
    Func(
        "scaled_dot_product_attention",
        _ATTENTION,
        _attention,
        Function(
            "F.scaled_dot_product_attention",
            ("q", "k", "v"),
            keywords=("attn_mask", "dropout_p", "is_causal", "scale"),
        ),
        "softmax(q @ k^T / sqrt(E)) @ v of (..., L, E), (..., S, E), (..., S, Ev) gives "
        "(..., L, Ev); a bool `attn_mask` is true where q may attend",
        "float",
        "scaled_dot_product_attention(q, k, v, is_causal=true)",
        # the fused kernels keep q, k, v and the output (and one float per query row)
        saves=(*INPUT, *OUTPUT),
    ),
)
