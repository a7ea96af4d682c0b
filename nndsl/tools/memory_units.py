"""The sizes a :class:`~nndsl.registry.saves.Saved` counts in: how many values one unit of a
call's fresh tensor is, from its inputs, its output and its arguments (see
:mod:`nndsl.registry.saves` for what each unit means)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def units(size: str, operands: list, out, args: Mapping, params: int) -> int:
    """The values of one ``size`` unit for a call with these tensors (Held), output and args."""
    x = next((o for o in operands if o is not None), None)
    shape = x.shape if x is not None else out.shape if out is not None else ()
    b = shape[0] if shape else 1
    c = shape[1] if len(shape) > 1 else 1
    if size in _RECURRENT:
        return _recurrent(size, shape, args, out)
    if size in _ATTENTION:
        return _attention(size, operands, shape, args)
    simple = {
        "input": math.prod(shape),
        "output": out.numel if out is not None else 0,
        "weights": params,
        "channels": c,
        "instances": b * c,
        "groups": b * int(args.get("num_groups", 1)),
    }
    if size in simple:
        return simple[size]
    if size == "rows":
        normalized = args.get("normalized_shape", shape[-1:] if shape else ())
        normalized = normalized if isinstance(normalized, (tuple, list)) else (normalized,)
        return math.prod(shape) // max(1, math.prod(int(d) for d in normalized))
    if size == "padded":
        return _padded(shape, args)
    raise ValueError(f"unknown saved size {size!r}")


def _padded(shape: tuple, args: Mapping) -> int:
    """A convolution's input as padded by a padding_mode other than zeros."""
    spatial = shape[2:]
    pad = args.get("padding", 0)
    if isinstance(pad, str):  # "same" or "valid": about the input itself
        return math.prod(shape)
    pads = pad if isinstance(pad, (tuple, list)) else (pad,) * len(spatial)
    return math.prod(shape[:2]) * math.prod(d + 2 * int(p) for d, p in zip(spatial, pads))


_RECURRENT = ("steps", "states", "wide", "hidden", "layer inputs", "layer outputs")
_ATTENTION = ("scores", "self scores", "keys", "head rows", "ff", "tokens")


def _recurrent(size: str, shape: tuple, args: Mapping, out) -> int:
    """Recurrent units, over every layer and direction; the input is (B, T, I)."""
    b, t, i = shape[-3:] if len(shape) >= 3 else (1, *shape[-2:])
    d = 2 if args.get("bidirectional") else 1
    layers = int(args.get("num_layers", 1))
    h = int(args.get("hidden_size") or (out.shape[-1] // d if out is not None else 1))
    if size == "layer inputs":  # the input once a direction, then each later layer's input
        return d * b * t * i + (layers - 1) * b * t * d * h
    if size == "layer outputs":  # those of every layer but the last
        return (layers - 1) * b * t * d * h
    if size == "wide":
        widths = [max(i, h)] + [max(d * h, h)] * (layers - 1)
        return d * b * (t + 1) * sum(widths)
    per = {"steps": b * t * h, "states": b * (t + 1) * h, "hidden": b * h}[size]
    return per * layers * d


def _attention(size: str, operands: list, shape: tuple, args: Mapping) -> int:
    """Attention units: the query (B, L, E), keys S long (a second operand, or the query)."""
    b, length = (shape + (1, 1))[:2]
    keys = [o for o in operands if o is not None]
    source = keys[1].shape[1] if len(keys) > 1 and len(keys[1].shape) > 1 else length
    heads = int(args.get("num_heads") or args.get("nhead") or 1)
    return {
        "scores": b * heads * length * source,
        "self scores": b * heads * length * length,
        "keys": math.prod(keys[1].shape) if len(keys) > 1 else math.prod(shape),
        "head rows": b * heads * length,
        "ff": b * length * int(args.get("dim_feedforward", 2048)),
        "tokens": b * length,
    }[size]
