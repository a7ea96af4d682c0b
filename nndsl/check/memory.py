"""Dtypes and memory: which dtypes a layer and a model's inputs may take, the dtype of a trained
model's weights, and which inputs are kept in channels-last (NHWC) layout."""

from __future__ import annotations

from nndsl.check.flow import Flow, from_label
from nndsl.diagnostics.core import Diagnostic, Label
from nndsl.ir import nodes as ir
from nndsl.ir.dtypes import FLOAT_DTYPES
from nndsl.lang import syntax as s
from nndsl.registry.layers import Layer, uses_channels_last


def weights_dtype(model: ir.ModelInfo) -> str:
    """The floating dtype the model's inputs are declared in, when it is one other than
    float32: the weights must be in it too, or the first layer would refuse the data."""
    floats = {t.dtype for t in model.inputs if t.dtype in FLOAT_DTYPES}
    return floats.pop() if len(floats) == 1 and floats != {"float32"} else ""


def dtype_refused(layer: Layer, flow: Flow, call: s.Call) -> Diagnostic | None:
    """E0306 for a layer given floating values where it takes integer ids, or the reverse."""
    floating = flow.dtype.startswith(("float", "bfloat"))
    if (layer.in_dtype == "long") != floating and not (
        layer.in_dtype == "long" and flow.dtype == "bool"
    ):
        return None
    ids = layer.in_dtype == "long"
    want = "integer (int64) ids" if ids else "floating-point values"
    return Diagnostic(
        "E0306",
        f"{layer.name} expects {want} but receives {flow.dtype}",
        call.span,
        labels=from_label(flow),
        help="declare the input as `long`, e.g. `x: [16] long`" if ids else None,
    )


def mixed_floats(model: s.Model, inputs: list[ir.TensorInfo]) -> Diagnostic | None:
    """E0106 for a model whose inputs are declared in two floating dtypes: its weights have one,
    so the layers that take the other input would refuse it at the first step."""
    seen: dict[str, int] = {}
    for i, t in enumerate(inputs):
        if t.dtype in FLOAT_DTYPES:
            seen.setdefault(t.dtype, i)
            first = min(seen.values())
            if len(seen) > 1:
                one, other = model.inputs[first], model.inputs[i]
                return Diagnostic(
                    "E0106",
                    f"`{other.name}` is {t.dtype} but `{one.name}` is {inputs[first].dtype}; "
                    "a model's weights have one floating dtype",
                    other.dtype_span or other.span,
                    labels=(Label(one.span, inputs[first].dtype),),
                    help="declare the floating inputs alike, and convert the data if need be",
                )
    return None


def channels_last(model: ir.ModelInfo, data: ir.DataCode) -> tuple[str, ...]:
    """The inputs to keep in channels-last memory: the 4-D ones of a model with a layer that
    wants it, when the data is held in memory (the values do not change)."""
    if data.stream or not uses_channels_last(row.type for row in model.rows):
        return ()
    return tuple(t.name for t in model.inputs if len(t.shape) == 4 and not t.optional)
