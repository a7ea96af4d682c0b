"""Registry entries: pooling, padding and resampling layers."""

from __future__ import annotations

import math
from collections.abc import Callable

from nndsl.ir.shapes import Shape, ShapeError, known, pool_out
from nndsl.registry.layer_base import Arg, Layer, _check, _no_tensors, _tuple
from nndsl.registry.layers_conv import _LAYOUTS
from nndsl.registry.saves import INPUT, MAX_INDICES, Saved

# --- pooling ---------------------------------------------------------------------------------


def _pool_shape(nd: int) -> Callable[[dict, Shape], Shape]:
    def shape(a: dict, x: Shape) -> Shape:
        k, p = _tuple(a, "kernel_size", nd), _tuple(a, "padding", nd)
        s = k if a["stride"] is None else _tuple(a, "stride", nd)
        d = _tuple(a, "dilation", nd) if "dilation" in a else (1,) * nd
        for ki, pi in zip(k, p):
            _check(
                2 * pi <= ki,
                f"padding {pi} is more than half the kernel size {ki}",
                arg="padding",
                help=f"use padding <= {ki // 2}",
            )
        out = []
        for i, size in enumerate(x[-nd:]):
            try:
                out.append(pool_out(size, k[i], s[i], p[i], d[i], a["ceil_mode"]))
            except ShapeError as e:
                raise ShapeError(e.message, help=e.help, arg="kernel_size") from None
        return (*x[:-nd], *out)

    return shape


def _max_pool(nd: int, example: str) -> Layer:
    return Layer(
        name=f"MaxPool{nd}d",
        args=(  # return_indices is left out: the stack passes on one tensor
            Arg("kernel_size", "ints", min=1),
            Arg("stride", "ints?", None, min=1),
            Arg("padding", "ints", 0, min=0),
            Arg("dilation", "ints", 1, min=1),
            Arg("ceil_mode", "bool", False),
        ),
        positional=1,
        ranks=(nd + 2,),
        layout=_LAYOUTS[nd],
        shape=_pool_shape(nd),
        tensors=_no_tensors,
        functional=f"F.max_pool{nd}d",
        doc=f"{nd}-D max pooling over {_LAYOUTS[nd]}; stride defaults to kernel_size.",
        example=example,
        prefix="pool",
        saves=MAX_INDICES,
    )


MAX_POOL1D = _max_pool(1, "MaxPool1d(2)")
MAX_POOL2D = _max_pool(2, "MaxPool2d(2)")
MAX_POOL3D = _max_pool(3, "MaxPool3d(2)")


def _avg_pool(nd: int, example: str) -> Layer:
    divisor = (Arg("divisor_override", "int?", None, min=1),) if nd > 1 else ()
    return Layer(
        name=f"AvgPool{nd}d",
        args=(
            Arg("kernel_size", "ints", min=1),
            Arg("stride", "ints?", None, min=1),
            Arg("padding", "ints", 0, min=0),
            Arg("ceil_mode", "bool", False),
            Arg("count_include_pad", "bool", True),
            *divisor,
        ),
        positional=1,
        ranks=(nd + 2,),
        layout=_LAYOUTS[nd],
        shape=_pool_shape(nd),
        tensors=_no_tensors,
        functional=f"F.avg_pool{nd}d",
        doc=f"{nd}-D average pooling over {_LAYOUTS[nd]}; stride defaults to kernel_size.",
        example=example,
        prefix="pool",
        saves=INPUT,
    )


AVG_POOL1D = _avg_pool(1, "AvgPool1d(2)")
AVG_POOL2D = _avg_pool(2, "AvgPool2d(2)")
AVG_POOL3D = _avg_pool(3, "AvgPool3d(2)")


def _adaptive_shape(nd: int) -> Callable[[dict, Shape], Shape]:
    def shape(a: dict, x: Shape) -> Shape:
        size = _tuple(a, "output_size", nd)  # a none entry keeps that input size
        return (*x[:2], *(x[2 + i] if size[i] is None else size[i] for i in range(nd)))

    return shape


def _adaptive(kind: str, nd: int, doc: str) -> Layer:
    return Layer(
        name=f"Adaptive{kind}Pool{nd}d",
        args=(Arg("output_size", "ints", min=1),),
        positional=1,
        ranks=(nd + 2,),
        layout=_LAYOUTS[nd],
        shape=_adaptive_shape(nd),
        tensors=_no_tensors,
        functional=f"F.adaptive_{kind.lower()}_pool{nd}d",
        doc=doc,
        example=f"Adaptive{kind}Pool{nd}d(1)",
        prefix="pool",
        # to one value a channel, an average is a mean, which keeps nothing
        saves=MAX_INDICES if kind == "Max" else (Saved("input", when="partial"),),
    )


ADAPTIVE_AVG_POOL1D = _adaptive("Avg", 1, "Average pooling to a fixed output_size L_out.")
ADAPTIVE_AVG_POOL2D = _adaptive(
    "Avg", 2, "Average pooling to a fixed output_size (H_out, W_out), whatever the input size."
)
ADAPTIVE_MAX_POOL1D = _adaptive("Max", 1, "Max pooling to a fixed output_size L_out.")
ADAPTIVE_MAX_POOL2D = _adaptive(
    "Max", 2, "Max pooling to a fixed output_size (H_out, W_out), whatever the input size."
)

# --- padding ---------------------------------------------------------------------------------


def _pad_shape(nd: int, mode: str) -> Callable[[dict, Shape], Shape]:
    """(left, right) for the last dim, then (top, bottom) for the one before, as torch pads."""

    def shape(a: dict, x: Shape) -> Shape:
        pad = _tuple(a, "padding", 2 * nd)
        out = list(x)
        for i in range(nd):
            dim, before, after = len(x) - 1 - i, pad[2 * i], pad[2 * i + 1]
            size = x[dim]
            _check(
                mode != "reflect" or not known(size) or max(before, after) < size,
                f"reflection padding {max(before, after)} must be below the size {size} "
                "it reflects",
                arg="padding",
            )
            out[dim] = size + before + after if known(size) else None
        return tuple(out)

    return shape


_PADS = {
    "Zero": ("zeros", "Pads the borders with zeros"),
    "Constant": ("constant", "Pads the borders with `value`"),
    "Reflection": ("reflect", "Pads the borders with their mirror image (the edge not repeated)"),
    "Replication": ("replicate", "Pads the borders by repeating the edge values"),
}


def _pad(kind: str, nd: int) -> Layer:
    mode, doc = _PADS[kind]
    value = (Arg("value", "float"),) if kind == "Constant" else ()
    sides = "(left, right)" if nd == 1 else "(left, right, top, bottom)"
    return Layer(
        name=f"{kind}Pad{nd}d",
        args=(Arg("padding", "ints", min=0), *value),
        positional=1 + len(value),
        ranks=(nd + 1, nd + 2),
        layout=_LAYOUTS[nd],
        shape=_pad_shape(nd, mode),
        tensors=_no_tensors,
        doc=f"{doc}; padding is one size or {sides}.",
        example=f"{kind}Pad{nd}d(1{', 0.5' if value else ''})",
        prefix="pad",
        saves=INPUT if kind in ("Reflection", "Replication") else (),
    )


PAD_ENTRIES = tuple(_pad(kind, nd) for kind in _PADS for nd in (1, 2))

# --- resampling ------------------------------------------------------------------------------

_MODE_RANKS = {"nearest": (3, 4, 5), "linear": (3,), "bilinear": (4,), "bicubic": (4,)}
_MODE_RANKS["trilinear"] = (5,)


def _upsample_shape(a: dict, x: Shape) -> Shape:
    size, scale, mode = a["size"], a["scale_factor"], a["mode"]
    _check(
        (size is None) != (scale is None),
        "Upsample takes either size or scale_factor",
        arg="size" if size is not None else "scale_factor",
        help="write `Upsample(scale_factor=2)` or `Upsample(size=(H, W))`",
    )
    _check(
        len(x) in _MODE_RANKS[mode],
        f"mode={mode!r} resamples a {' or '.join(f'{r}-D' for r in _MODE_RANKS[mode])} input, "
        f"not a {len(x)}-D one",
        arg="mode",
    )
    _check(
        a["align_corners"] is None or mode in ("linear", "bilinear", "bicubic", "trilinear"),
        "align_corners only applies to the linear, bilinear, bicubic and trilinear modes",
        arg="align_corners",
    )
    nd = len(x) - 2
    if size is not None:
        return (*x[:2], *_tuple(a, "size", nd))
    _check(scale > 0, f"scale_factor must be above 0, got {scale}", arg="scale_factor")
    return (*x[:2], *(math.floor(d * scale) if known(d) else None for d in x[2:]))


UPSAMPLE = Layer(
    name="Upsample",
    args=(
        Arg("size", "ints?", None, min=1),
        Arg("scale_factor", "float?", None),
        Arg("mode", "str", "nearest", choices=tuple(_MODE_RANKS)),
        Arg("align_corners", "bool?", None),
    ),
    ranks=(3, 4, 5),
    layout="(B, C, L), (B, C, H, W) or (B, C, D, H, W)",
    shape=_upsample_shape,
    tensors=_no_tensors,
    doc="Resizes the spatial dims to size, or by scale_factor, with the interpolation mode.",
    example='Upsample(scale_factor=2, mode="bilinear")',
    prefix="up",
)


def _pixel_shuffle_shape(a: dict, x: Shape) -> Shape:
    r = a["upscale_factor"]
    c = x[1]
    _check(
        not known(c) or c % (r * r) == 0,
        f"PixelShuffle needs channels divisible by upscale_factor**2 = {r * r}, got {c}",
        arg="upscale_factor",
    )
    grown = (d * r if known(d) else None for d in x[2:])
    return (x[0], c // (r * r) if known(c) else None, *grown)


def _pixel_unshuffle_shape(a: dict, x: Shape) -> Shape:
    r = a["downscale_factor"]
    for d in x[2:]:
        _check(
            not known(d) or d % r == 0,
            f"PixelUnshuffle needs H and W divisible by downscale_factor {r}, got {d}",
            arg="downscale_factor",
        )
    shrunk = (d // r if known(d) else None for d in x[2:])
    return (x[0], x[1] * r * r if known(x[1]) else None, *shrunk)


PIXEL_SHUFFLE = Layer(
    name="PixelShuffle",
    args=(Arg("upscale_factor", "int", min=1),),
    positional=1,
    ranks=(4,),
    layout="(B, C * r * r, H, W)",
    shape=_pixel_shuffle_shape,
    tensors=_no_tensors,
    functional="F.pixel_shuffle",
    doc="Moves channels into space: (B, C * r * r, H, W) to (B, C, H * r, W * r).",
    example="PixelShuffle(2)",
    prefix="shuffle",
)
PIXEL_UNSHUFFLE = Layer(
    name="PixelUnshuffle",
    args=(Arg("downscale_factor", "int", min=1),),
    positional=1,
    ranks=(4,),
    layout="(B, C, H * r, W * r)",
    shape=_pixel_unshuffle_shape,
    tensors=_no_tensors,
    functional="F.pixel_unshuffle",
    doc="Moves space into channels: (B, C, H * r, W * r) to (B, C * r * r, H, W).",
    example="PixelUnshuffle(2)",
    prefix="shuffle",
)

POOL_ENTRIES = (
    MAX_POOL1D,
    MAX_POOL2D,
    MAX_POOL3D,
    AVG_POOL1D,
    AVG_POOL2D,
    AVG_POOL3D,
    ADAPTIVE_AVG_POOL1D,
    ADAPTIVE_AVG_POOL2D,
    ADAPTIVE_MAX_POOL1D,
    ADAPTIVE_MAX_POOL2D,
)
RESAMPLE_ENTRIES = (UPSAMPLE, PIXEL_SHUFFLE, PIXEL_UNSHUFFLE)
