"""The layer registry: every built-in layer described once.

The checker reads ``args``, ``ranks``, ``shape``, ``tensors``, ``state``, ``weights`` and
``prefix``; the lints read ``traits``, ``clips`` and ``in_loss``; the codegen reads ``torch``,
``positional``, ``functional``, ``call``, ``stack_inputs`` and ``stack_kwargs``; the training
script reads ``channels_last``; the docs and summary read ``doc`` and ``macs``. No other
module keeps a table of layer names. Adding a layer is adding one entry (in ``layers_dense``,
``layers_act``, ``layers_norm``, ``layers_conv``, ``layers_pool``, ``layers_seq`` or
``layers_attn``, next to its family, and in its family's tuple of entries, which ``ALL`` below
lists), and adding its cases to ``tests/test_layers.py``.
The types :class:`Arg` and :class:`Layer` live in ``layers_base`` and are re-exported here.

Conventions for entries:

- ``args`` lists the torch constructor arguments in torch's positional order, with torch's names
  (keyword-only ones such as ``BatchNorm2d.bias`` last). Arguments that make no sense in the
  language are left out: ``device``, ``dtype``, ``_weight``, ``return_indices``; ``inplace``
  is kept where torch has it (``ReLU(inplace=true)``, as torchvision writes it).
  DSL positional arguments fill the non-inferred ones in order (``Linear(8)`` is
  ``out_features=8``); when the user passes one more positional argument than that, they fill
  every argument in order, the explicit form (``Linear(2, 8)``), and the checker compares the
  explicit value with the inferred.
- ``positional`` is how many leading arguments generated code writes positionally
  (``nn.Conv2d(1, 16, 5, padding=2)``); the rest are written by keyword, and only when they
  differ from the default or have ``emit`` set.
- ``shape(a, x)`` gets ``a``, the complete argument dict (defaults and inferred values filled in),
  and ``x``, the input shape (batch first, already checked against ``ranks``), and returns the
  output shape. It raises :class:`~nndsl.ir.shapes.ShapeError` with a clear message on bad input,
  wherever torch would reject it. Dims copied from the input flow through unchanged (a ``Dim``
  keeps its text, ``"B"`` stays ``"B"``); a dim computed from a symbolic one is ``None``.
  For a layer with ``inputs=2`` (``Bilinear``), ``x`` is the first input's shape.
- ``tensors(a)`` lists the module's parameters and buffers as ``(kind, shape, trainable)``,
  exactly as torch's ``named_parameters()`` then ``named_buffers()`` list them (names, shapes,
  order); a tensor of a torch-internal submodule is named by its dotted path
  (``out_proj.weight``). ``Layer.params(a)``, the trainable count, is derived from it.
"""

from __future__ import annotations

from nndsl.ir.shapes import MissingArgument, RankError, Shape, ShapeError, known
from nndsl.registry.args import REQUIRED
from nndsl.registry.layer_base import Arg, Layer
from nndsl.registry.layers_act import (
    ACTIVATION_ENTRIES,
    DROPOUT,
    DROPOUT2D,
    DROPOUT_ENTRIES,
    ELU,
    GELU,
    LEAKY_RELU,
    LOG_SOFTMAX,
    RELU,
    SIGMOID,
    SILU,
    SOFTMAX,
    SOFTPLUS,
    TANH,
)
from nndsl.registry.layers_attn import (
    ATTENTION_ENTRIES,
    MULTIHEAD_ATTENTION,
    TRANSFORMER_DECODER_LAYER,
    TRANSFORMER_ENCODER_LAYER,
)
from nndsl.registry.layers_conv import (
    CONV1D,
    CONV2D,
    CONV_ENTRIES,
    CONV_TRANSPOSE2D,
)
from nndsl.registry.layers_dense import (
    BILINEAR,
    EMBEDDING,
    EMBEDDING_ENTRIES,
    FLATTEN,
    IDENTITY,
    LINEAR,
    LINEAR_ENTRIES,
    SHAPE_ENTRIES,
    UNFLATTEN,
)
from nndsl.registry.layers_norm import (
    BATCH_NORM1D,
    BATCH_NORM2D,
    GROUP_NORM,
    LAYER_NORM,
    NORM_ENTRIES,
)
from nndsl.registry.layers_pool import (
    ADAPTIVE_AVG_POOL2D,
    AVG_POOL2D,
    MAX_POOL1D,
    MAX_POOL2D,
    PAD_ENTRIES,
    POOL_ENTRIES,
    RESAMPLE_ENTRIES,
)
from nndsl.registry.layers_seq import GRU, LSTM, RECURRENT_ENTRIES, RNN

__all__ = [
    "REQUIRED",
    "Arg",
    "Layer",
    "ALL",
    "REGISTRY",
    "BY_FUNCTION",
    "lookup",
    "uses_channels_last",
    "check_rank",
    "complete_args",
    "LINEAR",
    "BILINEAR",
    "IDENTITY",
    "FLATTEN",
    "UNFLATTEN",
    "RELU",
    "LEAKY_RELU",
    "ELU",
    "GELU",
    "SILU",
    "SIGMOID",
    "TANH",
    "SOFTMAX",
    "LOG_SOFTMAX",
    "SOFTPLUS",
    "DROPOUT",
    "DROPOUT2D",
    "BATCH_NORM1D",
    "BATCH_NORM2D",
    "LAYER_NORM",
    "GROUP_NORM",
    "EMBEDDING",
    "CONV1D",
    "CONV2D",
    "CONV_TRANSPOSE2D",
    "MAX_POOL1D",
    "MAX_POOL2D",
    "AVG_POOL2D",
    "ADAPTIVE_AVG_POOL2D",
    "RNN",
    "LSTM",
    "GRU",
    "MULTIHEAD_ATTENTION",
    "TRANSFORMER_DECODER_LAYER",
    "TRANSFORMER_ENCODER_LAYER",
]


def check_rank(layer: Layer, x: Shape) -> None:
    """Raise when the input rank is not one the layer accepts.

    >>> check_rank(CONV2D, ("B", 2))
    Traceback (most recent call last):
    ...
    nndsl.ir.shapes.RankError: Conv2d expects a 4-D input (B, C, H, W) but receives a 2-D one
    """
    if layer.ranks is not None and len(x) not in layer.ranks:
        want = " or ".join(f"{r}-D" for r in layer.ranks)
        layout = f" {layer.layout}" if layer.layout else ""
        raise RankError(
            f"{layer.name} expects a {want} input{layout} but receives a {len(x)}-D one"
        )


def complete_args(layer: Layer, given: dict, x: Shape) -> dict:
    """The full argument dict: user values, then inferred values, then defaults.

    Raises ShapeError when an argument is missing or cannot be inferred from ``x``.
    Comparing an explicit value with the inferred one is the checker's job.

    >>> complete_args(LINEAR, {"out_features": 8}, ("B", 2))
    {'in_features': 2, 'out_features': 8, 'bias': True}
    """
    out = {}
    for arg in layer.args:
        if arg.name in given:
            out[arg.name] = given[arg.name]
        elif arg.infer is not None:
            value = arg.infer(x)
            if isinstance(value, str):  # a size of the input known only at run time
                raise ShapeError(
                    f"cannot infer {arg.name} of {layer.name}: it is the input's size {value}, "
                    "known only when the model runs, and a layer's size is fixed when it is built",
                    help=_RUN_TIME_HELP,
                    arg=arg.name,
                )
            if not known(value):
                raise ShapeError(
                    f"cannot infer {arg.name} of {layer.name}: that size of the input is not known",
                    help=f"give {arg.name}=... explicitly",
                    arg=arg.name,
                )
            out[arg.name] = value
        elif arg.default is REQUIRED:
            raise MissingArgument(
                f"{layer.name} needs the argument `{arg.name}`",
                help=f"write `{layer.name}({arg.name}=...)`",
                arg=arg.name,
            )
        else:
            out[arg.name] = arg.default
    return out


_RUN_TIME_HELP = (
    "give that dim a fixed size where the input is declared, or bring a dim of fixed size "
    "there first (e.g. with `transpose`)"
)

ALL: tuple[Layer, ...] = (
    *LINEAR_ENTRIES,  # Linear, Bilinear
    *SHAPE_ENTRIES,  # Identity, Flatten, Unflatten
    *ACTIVATION_ENTRIES,  # ReLU ... Softplus
    *DROPOUT_ENTRIES,  # Dropout, Dropout2d
    *NORM_ENTRIES,  # BatchNorm1d ... 3d, InstanceNorm1d, 2d, LayerNorm, RMSNorm, GroupNorm
    *EMBEDDING_ENTRIES,  # Embedding
    *CONV_ENTRIES,  # Conv1d ... 3d, ConvTranspose1d ... 3d
    *POOL_ENTRIES,  # MaxPool1d ... 3d, AvgPool1d ... 3d, AdaptiveAvg/MaxPool1d, 2d
    *PAD_ENTRIES,  # ZeroPad, ConstantPad, ReflectionPad, ReplicationPad; 1d and 2d
    *RESAMPLE_ENTRIES,  # Upsample, PixelShuffle, PixelUnshuffle
    *RECURRENT_ENTRIES,  # RNN, LSTM, GRU
    *ATTENTION_ENTRIES,  # MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer
)
REGISTRY: dict[str, Layer] = {layer.name: layer for layer in ALL}
assert len(REGISTRY) == len(ALL), "two registry entries share a name"
# Each layer by the name of its functional form (``relu`` for ``F.relu``): a forward's function of
# that name computes the same, so it shares the layer's traits.
BY_FUNCTION: dict[str, Layer] = {
    layer.functional.rpartition(".")[2]: layer for layer in ALL if layer.functional
}


def uses_channels_last(types) -> bool:
    """Whether any of the layer ``types`` (names) keeps a model's images in NHWC memory."""
    return any(getattr(REGISTRY.get(t), "channels_last", False) for t in types)


def lookup(name: str) -> Layer | None:
    """The registry entry for a DSL layer name, or None."""
    return REGISTRY.get(name)
