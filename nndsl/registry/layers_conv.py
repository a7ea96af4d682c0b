"""Registry entries: convolution and pooling layers."""

from __future__ import annotations

from collections.abc import Callable

from nndsl.ir.shapes import Shape, ShapeError, conv_transpose_out, known, pool_out
from nndsl.registry.layer_base import (
    Arg,
    Layer,
    TensorSpec,
    _channels,
    _check,
    _no_tensors,
    _tuple,
    _weight_bias,
    _window,
    numel,
)
from nndsl.registry.layer_base import size as _size

_LAYOUTS = {1: "(B, C, L)", 2: "(B, C, H, W)"}

# --- convolution -----------------------------------------------------------------------------


def _conv_args(nd: int) -> tuple[Arg, ...]:
    return (
        Arg("in_channels", "int", infer=_channels, min=1),
        Arg("out_channels", "int", min=1),
        Arg("kernel_size", "ints", min=1),
        Arg("stride", "ints", 1, min=1),
        Arg("padding", "ints", 0, min=0),
        Arg("dilation", "ints", 1, min=1),
        Arg("groups", "int", 1, min=1),
        Arg("bias", "bool", True),
        Arg("padding_mode", "str", "zeros", choices=("zeros", "reflect", "replicate", "circular")),
    )


def _groups_ok(a: dict) -> None:
    for name in ("in_channels", "out_channels"):
        if a[name] % a["groups"]:
            raise ShapeError(
                f"{name} ({a[name]}) is not divisible by groups ({a['groups']})", arg="groups"
            )


def _conv_shape(nd: int) -> Callable[[dict, Shape], Shape]:
    def shape(a: dict, x: Shape) -> Shape:
        _groups_ok(a)
        if isinstance(a["padding"], str):  # "same" / "valid"
            raise ShapeError("string padding is not supported yet; give a number", arg="padding")
        k, s, p, d = (_tuple(a, n, nd) for n in ("kernel_size", "stride", "padding", "dilation"))
        mode, sizes = a["padding_mode"], x[2:]
        for size, pad in zip(sizes, p):  # torch pads these modes from the input itself
            _check(
                not known(size)
                or mode not in ("reflect", "circular")
                or pad < size + (mode == "circular"),
                f"padding {pad} is too large for padding_mode={mode!r} on an input of size {size}",
                arg="padding",
            )
        return (
            x[0],
            a["out_channels"],
            *(_window(sizes[i], k[i], s[i], p[i], d[i]) for i in range(nd)),
        )

    return shape


def _conv_tensors(nd: int, transposed: bool = False) -> Callable[[dict], tuple[TensorSpec, ...]]:
    """weight (out, in / groups, *kernel), or (in, out / groups, *kernel) when transposed."""

    def tensors(a: dict) -> tuple[TensorSpec, ...]:
        k = _tuple(a, "kernel_size", nd)
        cin, cout, g = a["in_channels"], a["out_channels"], a["groups"]
        lead = (cin, cout // g) if transposed else (cout, cin // g)
        return _weight_bias((*lead, *k), a["bias"] and cout)

    return tensors


def _conv_macs(t: dict, out: list, ins: list) -> int:
    """numel(out) * in_channels / groups * prod(kernel_size)."""
    w = t["weight"]
    return numel(out[:1]) * _size(w) // w[0]


def _conv_transpose_macs(t: dict, out: list, ins: list) -> int:
    """numel(in) * out_channels / groups * prod(kernel_size)."""
    w = t["weight"]
    return numel(ins[:1]) * _size(w) // w[0]


_BIASED = frozenset({"biased"})


def _conv(nd: int, example: str) -> Layer:
    return Layer(
        name=f"Conv{nd}d",
        args=_conv_args(nd),
        positional=3,
        ranks=(nd + 2,),
        layout=_LAYOUTS[nd],
        shape=_conv_shape(nd),
        tensors=_conv_tensors(nd),
        doc=f"{nd}-D convolution over {_LAYOUTS[nd]}; in_channels is inferred.",
        example=example,
        prefix="conv",
        macs=_conv_macs,
        traits=_BIASED,
        channels_last=nd == 2,  # convolutions run faster on NHWC images
    )


CONV1D = _conv(1, "Conv1d(32, 3, padding=1)")
CONV2D = _conv(2, "Conv2d(16, 5, padding=2)")


def _conv_transpose2d_shape(a: dict, x: Shape) -> Shape:
    _groups_ok(a)
    k, s, p, op, d = (
        _tuple(a, n, 2) for n in ("kernel_size", "stride", "padding", "output_padding", "dilation")
    )
    out = []
    for i, size in enumerate(x[2:]):
        _check(
            op[i] < s[i] or op[i] < d[i],
            f"output_padding ({op[i]}) must be smaller than stride ({s[i]}) or dilation ({d[i]})",
            arg="output_padding",
        )
        n = conv_transpose_out(size, k[i], s[i], p[i], op[i], d[i])
        _check(
            n is None or n >= 1,
            f"padding {p[i]} leaves no output for an input of size {size} "
            f"(kernel {k[i]}, stride {s[i]})",
            arg="padding",
        )
        out.append(n)
    return (x[0], a["out_channels"], *out)


CONV_TRANSPOSE2D = Layer(
    name="ConvTranspose2d",
    args=(
        Arg("in_channels", "int", infer=_channels, min=1),
        Arg("out_channels", "int", min=1),
        Arg("kernel_size", "ints", min=1),
        Arg("stride", "ints", 1, min=1),
        Arg("padding", "ints", 0, min=0),
        Arg("output_padding", "ints", 0, min=0),
        Arg("groups", "int", 1, min=1),
        Arg("bias", "bool", True),
        Arg("dilation", "ints", 1, min=1),
    ),
    positional=3,
    ranks=(4,),
    layout="(B, C, H, W)",
    shape=_conv_transpose2d_shape,
    tensors=_conv_tensors(2, transposed=True),
    doc="2-D transposed convolution (learned upsampling) over (B, C, H, W); "
    "in_channels is inferred.",
    example="ConvTranspose2d(16, 2, stride=2)",
    prefix="deconv",
    macs=_conv_transpose_macs,
    traits=_BIASED,
)

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
    )


MAX_POOL1D = _max_pool(1, "MaxPool1d(2)")
MAX_POOL2D = _max_pool(2, "MaxPool2d(2)")

AVG_POOL2D = Layer(
    name="AvgPool2d",
    args=(
        Arg("kernel_size", "ints", min=1),
        Arg("stride", "ints?", None, min=1),
        Arg("padding", "ints", 0, min=0),
        Arg("ceil_mode", "bool", False),
        Arg("count_include_pad", "bool", True),
        Arg("divisor_override", "int?", None, min=1),
    ),
    positional=1,
    ranks=(4,),
    layout="(B, C, H, W)",
    shape=_pool_shape(2),
    tensors=_no_tensors,
    functional="F.avg_pool2d",
    doc="2-D average pooling over (B, C, H, W); stride defaults to kernel_size.",
    example="AvgPool2d(2)",
    prefix="pool",
)


def _adaptive_shape(a: dict, x: Shape) -> Shape:
    size = _tuple(a, "output_size", 2)  # a none entry keeps that input size
    return (x[0], x[1], *(x[2 + i] if size[i] is None else size[i] for i in range(2)))


ADAPTIVE_AVG_POOL2D = Layer(
    name="AdaptiveAvgPool2d",
    args=(Arg("output_size", "ints", min=1),),
    positional=1,
    ranks=(4,),
    layout="(B, C, H, W)",
    shape=_adaptive_shape,
    tensors=_no_tensors,
    functional="F.adaptive_avg_pool2d",
    doc="Average pooling to a fixed output_size (H_out, W_out), whatever the input size.",
    example="AdaptiveAvgPool2d(1)",
    prefix="pool",
)

CONV_ENTRIES = (CONV1D, CONV2D, CONV_TRANSPOSE2D)
POOL_ENTRIES = (MAX_POOL1D, MAX_POOL2D, AVG_POOL2D, ADAPTIVE_AVG_POOL2D)
