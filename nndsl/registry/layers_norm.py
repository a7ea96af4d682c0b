"""Registry entries: normalisation layers (batch, instance, layer, RMS and group norms)."""

from __future__ import annotations

from nndsl.ir.shapes import Shape, fmt_shape, known
from nndsl.registry.layer_base import (
    Arg,
    Layer,
    TensorSpec,
    _channels,
    _check,
    _last,
    _same,
    _weight_bias,
    numel,
)
from nndsl.registry.saves import INPUT, NORM_STATS, Saved

# --- normalisation ---------------------------------------------------------------------------


def _batch_norm_tensors(a: dict) -> tuple[TensorSpec, ...]:
    c = int(a["num_features"])
    affine = _weight_bias((c,), a["bias"] and c) if a["affine"] else ()
    stats = (("running_mean", (c,), False), ("running_var", (c,), False))
    counter = (("num_batches_tracked", (), False),)
    return affine + (stats + counter if a["track_running_stats"] else ())


def _norm_macs(t: dict, out: list, ins: list) -> int:
    return numel(out[:1])  # a scale and shift per element


def _batch_norm(name: str, ranks: tuple[int, ...], layout: str) -> Layer:
    return Layer(
        name=name,
        args=(
            Arg("num_features", "int", infer=_channels, min=1),
            Arg("eps", "float", 1e-5, min=0.0),
            Arg("momentum", "float?", 0.1, min=0.0, max=1.0),
            Arg("affine", "bool", True),
            Arg("track_running_stats", "bool", True),
            Arg("bias", "bool", True),  # keyword-only in torch, after device/dtype
        ),
        positional=1,
        ranks=ranks,
        layout=layout,
        shape=_same,
        tensors=_batch_norm_tensors,
        doc=f"Batch normalisation over {layout} per channel; num_features is inferred.",
        example=f"{name}()",
        prefix="bn",
        macs=_norm_macs,
        traits=frozenset({"centres"}),
        saves=(*INPUT, *NORM_STATS),
    )


BATCH_NORM1D = _batch_norm("BatchNorm1d", (2, 3), "(B, C) or (B, C, L)")
BATCH_NORM2D = _batch_norm("BatchNorm2d", (4,), "(B, C, H, W)")
BATCH_NORM3D = _batch_norm("BatchNorm3d", (5,), "(B, C, D, H, W)")


def _instance_norm(nd: int, layout: str) -> Layer:
    return Layer(
        name=f"InstanceNorm{nd}d",
        args=(
            Arg("num_features", "int", infer=_channels, min=1),
            Arg("eps", "float", 1e-5, min=0.0),
            Arg("momentum", "float?", 0.1, min=0.0, max=1.0),
            Arg("affine", "bool", False),
            Arg("track_running_stats", "bool", False),
            Arg("bias", "bool", True),  # keyword-only in torch, after device/dtype
        ),
        positional=1,
        ranks=(nd + 2,),
        layout=layout,
        shape=_same,
        tensors=_batch_norm_tensors,
        doc=f"Instance normalisation over {layout}: each sample's channels on their own.",
        example=f"InstanceNorm{nd}d(affine=true)",
        prefix="norm",
        macs=_norm_macs,
        traits=frozenset({"centres"}),
        saves=_INSTANCE_SAVES,
    )


# a batch norm over (1, B * C, ...): the statistics, and the weights and running statistics
# repeated for each sample
_INSTANCE_SAVES = (
    *INPUT,
    Saved("new", "instances", 2, "float32"),
    Saved("new", "instances", 1, "float32", when="affine"),
    Saved("new", "instances", 2, "float32", when="tracking"),
)
INSTANCE_NORM1D = _instance_norm(1, "(B, C, L)")
INSTANCE_NORM2D = _instance_norm(2, "(B, C, H, W)")


def _trailing_shape(name: str):
    """The shape rule of a norm over the trailing dims ``normalized_shape``."""

    def shape(a: dict, x: Shape) -> Shape:
        ns = a["normalized_shape"]
        ns = tuple(ns) if isinstance(ns, (tuple, list)) else (ns,)
        tail = tuple(x[len(x) - len(ns) :])
        _check(
            len(ns) < len(x) and all(not known(d) or d == n for d, n in zip(tail, ns)),
            f"{name} normalizes trailing dims {fmt_shape(ns)} but the input is {fmt_shape(x)}",
            arg="normalized_shape",
            help="normalized_shape must equal the last dims of the input",
        )
        return x

    return shape


def _layer_norm_tensors(a: dict) -> tuple[TensorSpec, ...]:
    ns = a["normalized_shape"]
    dims = tuple(int(d) for d in ns) if isinstance(ns, (tuple, list)) else (int(ns),)
    if not a["elementwise_affine"]:
        return ()
    return (("weight", dims, True),) + ((("bias", dims, True),) if a.get("bias") else ())


LAYER_NORM = Layer(
    name="LayerNorm",
    args=(
        Arg("normalized_shape", "ints", infer=_last, min=1),
        Arg("eps", "float", 1e-5, min=0.0),
        Arg("elementwise_affine", "bool", True),
        Arg("bias", "bool", True),
    ),
    positional=1,
    ranks=(2, 3, 4, 5),
    layout="(B, *, normalized_shape)",
    shape=_trailing_shape("LayerNorm"),
    tensors=_layer_norm_tensors,
    doc="Layer normalisation over the last dim (normalized_shape is inferred from it).",
    example="LayerNorm()",
    prefix="norm",
    macs=_norm_macs,
    saves=(*INPUT, Saved("new", "rows", 2, "float32")),  # the mean and inverse std of each row
    autocast="float32",
)


def _group_norm_shape(a: dict, x: Shape) -> Shape:
    c, g = a["num_channels"], a["num_groups"]
    _check(c % g == 0, f"num_channels ({c}) is not divisible by num_groups ({g})", arg="num_groups")
    return x


GROUP_NORM = Layer(
    name="GroupNorm",
    args=(
        Arg("num_groups", "int", min=1),
        Arg("num_channels", "int", infer=_channels, min=1),
        Arg("eps", "float", 1e-5, min=0.0),
        Arg("affine", "bool", True),
        Arg("bias", "bool", True),  # keyword-only in torch, after device/dtype
    ),
    positional=2,
    ranks=(2, 3, 4, 5),
    layout="(B, C, *)",
    shape=_group_norm_shape,
    tensors=lambda a: (
        _weight_bias((a["num_channels"],), a["bias"] and a["num_channels"]) if a["affine"] else ()
    ),
    doc="Group normalisation: channels split into num_groups groups; num_channels is inferred.",
    example="GroupNorm(8)",
    prefix="norm",
    macs=_norm_macs,
    saves=(*INPUT, Saved("new", "groups", 2, "float32")),
    autocast="float32",
)

RMS_NORM = Layer(
    name="RMSNorm",
    args=(
        Arg("normalized_shape", "ints", infer=_last, min=1),
        Arg("eps", "float?", None, min=0.0),
        Arg("elementwise_affine", "bool", True),
    ),
    positional=1,
    ranks=(2, 3, 4, 5),
    layout="(B, *, normalized_shape)",
    shape=_trailing_shape("RMSNorm"),
    tensors=_layer_norm_tensors,
    doc="RMS normalisation over the last dim: x / rms(x), scaled; no mean, no bias.",
    example="RMSNorm()",
    prefix="norm",
    macs=_norm_macs,
    # for the input's gradient x and each row's 1 / rms; for the weight's, x / rms
    saves=(
        Saved("input", when="input grad"),
        Saved("new", "rows", 1, "float32", when="input grad"),
        Saved("new", "input", when="affine"),
    ),
)

NORM_ENTRIES = (
    BATCH_NORM1D,
    BATCH_NORM2D,
    BATCH_NORM3D,
    INSTANCE_NORM1D,
    INSTANCE_NORM2D,
    LAYER_NORM,
    RMS_NORM,
    GROUP_NORM,
)
