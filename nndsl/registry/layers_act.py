"""Registry entries: activation and dropout layers, parameterless and element-wise."""

from __future__ import annotations

from nndsl.ir.shapes import Shape
from nndsl.registry.layer_base import (
    Arg,
    Layer,
    _dim_index,
    _elementwise,
    _no_tensors,
    _same,
)

# --- activations -----------------------------------------------------------------------------

RELU = _elementwise(
    "ReLU", "Rectified linear unit, max(x, 0), element-wise.", functional="F.relu", clips="[0, inf)"
)
RELU6 = _elementwise(
    "ReLU6",
    "ReLU capped at 6, min(max(x, 0), 6), element-wise.",
    functional="F.relu6",
    prefix="relu6",
    clips="[0, 6]",
)
LEAKY_RELU = _elementwise(
    "LeakyReLU",
    "Leaky ReLU, x for x > 0 else negative_slope * x, element-wise.",
    Arg("negative_slope", "float", 0.01),
    functional="F.leaky_relu",
    positional=1,
    example="LeakyReLU(0.2)",
)
ELU = _elementwise(
    "ELU",
    "Exponential linear unit, x for x > 0 else alpha * (exp(x) - 1), element-wise.",
    Arg("alpha", "float", 1.0),
    functional="F.elu",
    clips="(-1, inf)",
)
GELU = _elementwise(
    "GELU",
    "Gaussian error linear unit x * Phi(x), element-wise; approximate='tanh' is faster.",
    Arg("approximate", "str", "none", choices=("none", "tanh")),
    functional="F.gelu",
    clips="[-0.17, inf)",
)
SILU = _elementwise(
    "SiLU",
    "Sigmoid linear unit (swish), x * sigmoid(x), element-wise.",
    functional="F.silu",
    clips="[-0.28, inf)",
)
HARDSWISH = _elementwise(
    "Hardswish",
    "Hard swish x * relu6(x + 3) / 6, a cheap SiLU, element-wise.",
    functional="F.hardswish",
    clips="[-0.375, inf)",
)
SIGMOID = _elementwise(
    "Sigmoid",
    "Logistic sigmoid 1 / (1 + exp(-x)), element-wise.",
    functional="torch.sigmoid",
    clips="(0, 1)",
    in_loss=("bce_with_logits",),
)
TANH = _elementwise(
    "Tanh", "Hyperbolic tangent, element-wise.", functional="torch.tanh", clips="(-1, 1)"
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
    clips="(0, inf)",
)

# --- dropout ---------------------------------------------------------------------------------

DROPOUT = _elementwise(
    "Dropout",
    "Zeroes each element with probability p while training and scales the rest by 1 / (1 - p).",
    Arg("p", "float", 0.5, min=0.0, max=1.0),
    positional=1,
    example="Dropout(0.1)",
    traits=frozenset({"dropout"}),
)
DROPOUT2D = Layer(
    name="Dropout2d",
    args=(Arg("p", "float", 0.5, min=0.0, max=1.0),),
    positional=1,
    ranks=(4,),
    layout="(B, C, H, W)",
    shape=_same,
    tensors=_no_tensors,
    doc="Zeroes whole channels with probability p while training (spatial dropout).",
    example="Dropout2d(0.2)",
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
    SIGMOID,
    TANH,
    SOFTMAX,
    LOG_SOFTMAX,
    SOFTPLUS,
)
DROPOUT_ENTRIES = (DROPOUT, DROPOUT2D)
