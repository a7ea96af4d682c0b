"""Registry entries: activation and dropout layers, parameterless and element-wise."""

from __future__ import annotations

from nndsl.ir.shapes import Shape, fmt_shape, known
from nndsl.registry.layer_base import (
    Arg,
    Layer,
    _check,
    _dim_index,
    _elementwise,
    _no_tensors,
    _same,
)
from nndsl.registry.saves import INPUT, INPUT_AND_COPY, OUTPUT, Saved

_INPLACE = Arg("inplace", "bool", False)  # torch's own flag: overwrite the input
_CHANNEL_NOISE = (Saved("new", "instances", when="dropping"),)  # one value a channel

# --- activations -----------------------------------------------------------------------------

RELU = _elementwise(
    "ReLU",
    "Rectified linear unit, max(x, 0), element-wise.",
    _INPLACE,
    functional="F.relu",
    clips="[0, inf)",
    saves=OUTPUT,
)
RELU6 = _elementwise(
    "ReLU6",
    "ReLU capped at 6, min(max(x, 0), 6), element-wise.",
    _INPLACE,
    functional="F.relu6",
    saves=INPUT,
    prefix="relu6",
    clips="[0, 6]",
)
LEAKY_RELU = _elementwise(
    "LeakyReLU",
    "Leaky ReLU, x for x > 0 else negative_slope * x, element-wise.",
    Arg("negative_slope", "float", 0.01),
    _INPLACE,
    functional="F.leaky_relu",
    saves=INPUT,
    positional=1,
    example="LeakyReLU(0.2)",
)
ELU = _elementwise(
    "ELU",
    "Exponential linear unit, x for x > 0 else alpha * (exp(x) - 1), element-wise.",
    Arg("alpha", "float", 1.0),
    _INPLACE,
    functional="F.elu",
    saves=INPUT,
    clips="(-1, inf)",
)
GELU = _elementwise(
    "GELU",
    "Gaussian error linear unit x * Phi(x), element-wise; approximate='tanh' is faster.",
    Arg("approximate", "str", "none", choices=("none", "tanh")),
    functional="F.gelu",
    saves=INPUT,
    clips="[-0.17, inf)",
)
SILU = _elementwise(
    "SiLU",
    "Sigmoid linear unit (swish), x * sigmoid(x), element-wise.",
    _INPLACE,
    functional="F.silu",
    saves=INPUT,
    clips="[-0.28, inf)",
)
HARDSWISH = _elementwise(
    "Hardswish",
    "Hard swish x * relu6(x + 3) / 6, a cheap SiLU, element-wise.",
    _INPLACE,
    functional="F.hardswish",
    saves=INPUT,
    clips="[-0.375, inf)",
)
HARDSIGMOID = _elementwise(
    "Hardsigmoid",
    "Piecewise-linear sigmoid relu6(x + 3) / 6, element-wise.",
    _INPLACE,
    functional="F.hardsigmoid",
    saves=INPUT,
    clips="[0, 1]",
)
MISH = _elementwise(
    "Mish",
    "x * tanh(softplus(x)), a smooth ReLU, element-wise.",
    _INPLACE,
    functional="F.mish",
    saves=INPUT,
    clips="[-0.31, inf)",
)
SELU = _elementwise(
    "SELU",
    "Scaled ELU, self-normalising with its fixed scale and alpha, element-wise.",
    _INPLACE,
    functional="F.selu",
    saves=INPUT,
    clips="(-1.7581, inf)",
)
CELU = _elementwise(
    "CELU",
    "Continuously differentiable ELU, x for x > 0 else alpha * (exp(x / alpha) - 1).",
    Arg("alpha", "float", 1.0),
    _INPLACE,
    functional="F.celu",
    saves=INPUT,
    example="CELU(0.5)",
    positional=1,
)


def _hardtanh_shape(a: dict, x: Shape) -> Shape:
    _check(
        a["max_val"] > a["min_val"],
        f"max_val ({a['max_val']}) must be above min_val ({a['min_val']})",
        arg="max_val",
    )
    return x


HARDTANH = Layer(
    name="Hardtanh",
    args=(Arg("min_val", "float", -1.0), Arg("max_val", "float", 1.0), _INPLACE),
    positional=2,
    layout="(B, *)",
    shape=_hardtanh_shape,
    tensors=_no_tensors,
    functional="F.hardtanh",
    saves=INPUT,
    doc="x clamped to min_val .. max_val (-1 .. 1 by default), element-wise.",
    example="Hardtanh(-2, 2)",
)
SOFTSIGN = _elementwise(
    "Softsign",
    "x / (1 + |x|), element-wise.",
    functional="F.softsign",
    saves=INPUT_AND_COPY,  # x and 1 + |x|
)
LOG_SIGMOID = _elementwise(
    "LogSigmoid",
    "log(sigmoid(x)), computed stably, element-wise.",
    functional="F.logsigmoid",
    saves=INPUT_AND_COPY,  # x and a buffer of its size
    clips="(-inf, 0)",
)
TANHSHRINK = _elementwise(
    "Tanhshrink",
    "x - tanh(x), element-wise.",
    functional="F.tanhshrink",
    saves=(Saved("new", "input"),),  # tanh(x)
)
HARDSHRINK = _elementwise(
    "Hardshrink",
    "x where |x| > lambd, else 0, element-wise.",
    Arg("lambd", "float", 0.5, min=0.0),
    functional="F.hardshrink",
    saves=INPUT,
    positional=1,
)
SOFTSHRINK = _elementwise(
    "Softshrink",
    "x moved lambd towards 0, and 0 within lambd of it, element-wise.",
    Arg("lambd", "float", 0.5, min=0.0),
    functional="F.softshrink",
    saves=INPUT,
    positional=1,
)
THRESHOLD = _elementwise(
    "Threshold",
    "x where x > threshold, else value, element-wise.",
    Arg("threshold", "float"),
    Arg("value", "float"),
    _INPLACE,
    functional="F.threshold",
    saves=INPUT,
    positional=2,
    example="Threshold(0.1, 0.0)",
)


def _prelu_shape(a: dict, x: Shape) -> Shape:
    n = a["num_parameters"]
    _check(
        n == 1 or (len(x) >= 2 and (not known(x[1]) or x[1] == n)),
        f"num_parameters ({n}) must be 1 or the number of channels, dim 1 of {fmt_shape(x)}",
        arg="num_parameters",
    )
    return x


PRELU = Layer(
    name="PReLU",
    args=(Arg("num_parameters", "int", 1, min=1), Arg("init", "float", 0.25)),
    positional=1,
    layout="(B, C, *)",
    shape=_prelu_shape,
    tensors=lambda a: (("weight", (a["num_parameters"],), True),),
    doc="Leaky ReLU whose negative slope is learned: one, or one per channel (dim 1).",
    example="PReLU(16)",
    prefix="prelu",
    saves=INPUT,
    autocast="half",
)


def _glu_shape(a: dict, x: Shape) -> Shape:
    d = _dim_index(a, "dim", len(x))
    size = x[d]
    _check(
        not known(size) or size % 2 == 0,
        f"GLU halves dim {a['dim']}, whose size {size} is odd",
        arg="dim",
    )
    return (*x[:d], size // 2 if known(size) else None, *x[d + 1 :])


GLU = Layer(
    name="GLU",
    args=(Arg("dim", "int", -1),),
    positional=1,
    layout="(B, *)",
    shape=_glu_shape,
    tensors=_no_tensors,
    functional="F.glu",
    saves=INPUT,
    doc="Gated linear unit: the first half of dim times the sigmoid of the second half.",
    example="GLU()",
)
SIGMOID = _elementwise(
    "Sigmoid",
    "Logistic sigmoid 1 / (1 + exp(-x)), element-wise.",
    functional="torch.sigmoid",
    saves=OUTPUT,
    clips="(0, 1)",
    in_loss=("bce_with_logits",),
)
TANH = _elementwise(
    "Tanh",
    "Hyperbolic tangent, element-wise.",
    functional="torch.tanh",
    clips="(-1, 1)",
    saves=OUTPUT,
)


def _softmax_shape(a: dict, x: Shape) -> Shape:
    _dim_index(a, "dim", len(x))
    return x


def _softmax(name: str, functional: str, doc: str, clips: str) -> Layer:
    return Layer(
        name=name,
        # torch's default dim=None is deprecated and guesses; the DSL uses the last dim and says so.
        args=(Arg("dim", "int", -1, emit=True),),
        layout="(B, *)",
        shape=_softmax_shape,
        tensors=_no_tensors,
        functional=functional,
        doc=doc,
        example=f"{name}()",
        clips=clips,
        in_loss=("cross_entropy",),
        saves=OUTPUT,
        autocast="float32",
    )


SOFTMAX = _softmax(
    "Softmax",
    "F.softmax",
    "Softmax along dim (the last by default): exp(x) / sum(exp(x)).",
    "(0, 1)",
)
LOG_SOFTMAX = _softmax(
    "LogSoftmax",
    "F.log_softmax",
    "Log of the softmax along dim (the last by default).",
    "(-inf, 0]",
)
SOFTPLUS = _elementwise(
    "Softplus",
    "Smooth ReLU log(1 + exp(beta * x)) / beta, linear above threshold, element-wise.",
    Arg("beta", "float", 1.0),
    Arg("threshold", "float", 20.0),
    functional="F.softplus",
    saves=INPUT,
    autocast="float32",
    clips="(0, inf)",
)

# --- dropout ---------------------------------------------------------------------------------

DROPOUT = _elementwise(
    "Dropout",
    "Zeroes each element with probability p while training and scales the rest by 1 / (1 - p).",
    Arg("p", "float", 0.5, min=0.0, max=1.0),
    _INPLACE,
    positional=1,
    example="Dropout(0.1)",
    saves=(Saved("new", "output", dtype="mask", when="dropping"),),
    traits=frozenset({"dropout"}),
)
ALPHA_DROPOUT = _elementwise(
    "AlphaDropout",
    "Dropout for SELU networks: keeps the mean and variance of its input.",
    Arg("p", "float", 0.5, min=0.0, max=1.0),
    _INPLACE,
    positional=1,
    example="AlphaDropout(0.1)",
    saves=(Saved("new", "input", when="dropping"),),  # its noise, in the input's dtype
    prefix="dropout",
    traits=frozenset({"dropout"}),
)
DROPOUT1D = Layer(
    name="Dropout1d",
    args=(Arg("p", "float", 0.5, min=0.0, max=1.0), _INPLACE),
    positional=1,
    ranks=(3,),
    layout="(B, C, L)",
    shape=_same,
    tensors=_no_tensors,
    doc="Zeroes whole channels of a sequence with probability p while training.",
    example="Dropout1d(0.2)",
    saves=_CHANNEL_NOISE,
    prefix="dropout",
    traits=frozenset({"dropout"}),
)
DROPOUT2D = Layer(
    name="Dropout2d",
    args=(Arg("p", "float", 0.5, min=0.0, max=1.0), _INPLACE),
    positional=1,
    ranks=(4,),
    layout="(B, C, H, W)",
    shape=_same,
    tensors=_no_tensors,
    doc="Zeroes whole channels with probability p while training (spatial dropout).",
    example="Dropout2d(0.2)",
    saves=_CHANNEL_NOISE,
    prefix="dropout",
    traits=frozenset({"dropout"}),
)

ACTIVATION_ENTRIES = (
    RELU,
    RELU6,
    LEAKY_RELU,
    ELU,
    GELU,
    SILU,
    HARDSWISH,
    HARDSIGMOID,
    MISH,
    SELU,
    CELU,
    HARDTANH,
    SOFTSIGN,
    LOG_SIGMOID,
    TANHSHRINK,
    HARDSHRINK,
    SOFTSHRINK,
    THRESHOLD,
    PRELU,
    GLU,
    SIGMOID,
    TANH,
    SOFTMAX,
    LOG_SOFTMAX,
    SOFTPLUS,
)
DROPOUT_ENTRIES = (DROPOUT, DROPOUT1D, DROPOUT2D, ALPHA_DROPOUT)
