"""How a trained model and its data sit in memory: the dtype of the weights, and which inputs
are kept in channels-last (NHWC) layout."""

from __future__ import annotations

from nndsl.ir import nodes as ir
from nndsl.ir.tensors import FLOAT_DTYPES
from nndsl.registry.layers import uses_channels_last


def weights_dtype(model: ir.ModelInfo) -> str:
    """The floating dtype the model's inputs are declared in, when it is one other than
    float32: the weights must be in it too, or the first layer would refuse the data."""
    floats = {t.dtype for t in model.inputs if t.dtype in FLOAT_DTYPES}
    return floats.pop() if len(floats) == 1 and floats != {"float32"} else ""


def channels_last(model: ir.ModelInfo, data: ir.DataCode) -> tuple[str, ...]:
    """The inputs to keep in channels-last memory: the 4-D ones of a model with a layer that
    wants it, when the data is held in memory (the values do not change)."""
    if data.stream or not uses_channels_last(row.type for row in model.rows):
        return ()
    return tuple(t.name for t in model.inputs if len(t.shape) == 4 and not t.optional)
