"""Registry entries: convolution layers, plain and transposed, in 1, 2 and 3 dims."""

from __future__ import annotations

from collections.abc import Callable

from nndsl.ir.shapes import Shape, ShapeError, conv_transpose_out, known
from nndsl.registry.layer_base import (
    Arg,
    Layer,
    TensorSpec,
    _channels,
    _check,
    _tuple,
    _weight_bias,
    _window,
    numel,
)
from nndsl.registry.layer_base import size as _size
from nndsl.registry.saves import Saved

_LAYOUTS = {1: "(B, C, L)", 2: "(B, C, H, W)", 3: "(B, C, D, H, W)"}

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


# the input or, padded other than with zeros, the padded copy (and the input, which a reflection
# or replication pad keeps for its own gradient); under autocast its weights' copy
_CONV_SAVES = (
    Saved("input", when="zero padded"),
    Saved("new", "padded", when="padded"),
    Saved("input", when="reflected"),
    Saved("new", "weights"),
)


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
        saves=_CONV_SAVES,
        autocast="half",
        channels_last=nd == 2,  # convolutions run faster on NHWC images
    )


CONV1D = _conv(1, "Conv1d(32, 3, padding=1)")
CONV2D = _conv(2, "Conv2d(16, 5, padding=2)")
CONV3D = _conv(3, "Conv3d(8, 3, padding=1)")


def _conv_transpose_shape(nd: int) -> Callable[[dict, Shape], Shape]:
    def shape(a: dict, x: Shape) -> Shape:
        _groups_ok(a)
        k, s, p, op, d = (
            _tuple(a, n, nd)
            for n in ("kernel_size", "stride", "padding", "output_padding", "dilation")
        )
        out = []
        for i, size in enumerate(x[2:]):
            _check(
                op[i] < s[i] or op[i] < d[i],
                f"output_padding ({op[i]}) must be smaller than stride ({s[i]}) "
                f"or dilation ({d[i]})",
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

    return shape


def _conv_transpose(nd: int, example: str) -> Layer:
    return Layer(
        name=f"ConvTranspose{nd}d",
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
        ranks=(nd + 2,),
        layout=_LAYOUTS[nd],
        shape=_conv_transpose_shape(nd),
        tensors=_conv_tensors(nd, transposed=True),
        doc=f"{nd}-D transposed convolution (learned upsampling) over {_LAYOUTS[nd]}; "
        "in_channels is inferred.",
        example=example,
        prefix="deconv",
        macs=_conv_transpose_macs,
        traits=_BIASED,
        saves=_CONV_SAVES,
        autocast="half",
    )


CONV_TRANSPOSE1D = _conv_transpose(1, "ConvTranspose1d(16, 4, stride=2)")
CONV_TRANSPOSE2D = _conv_transpose(2, "ConvTranspose2d(16, 2, stride=2)")
CONV_TRANSPOSE3D = _conv_transpose(3, "ConvTranspose3d(8, 2, stride=2)")

CONV_ENTRIES = (CONV1D, CONV2D, CONV3D, CONV_TRANSPOSE1D, CONV_TRANSPOSE2D, CONV_TRANSPOSE3D)
