"""Registry entries: linear, shape and embedding layers."""

from __future__ import annotations

from nndsl.ir.shapes import Shape, fmt_shape, known, merged, product
from nndsl.registry.layer_base import (
    Arg,
    Layer,
    TensorSpec,
    _check,
    _dim_index,
    _elementwise,
    _last,
    _no_tensors,
    _weight_bias,
    numel,
)
from nndsl.registry.saves import HALF_WEIGHTS, INPUT, TRAINED_INPUT

# --- linear ----------------------------------------------------------------------------------


def _linear_shape(a: dict, x: Shape) -> Shape:
    return (*x[:-1], a["out_features"])


def _linear_tensors(a: dict) -> tuple[TensorSpec, ...]:
    out = a["out_features"]
    return _weight_bias((out, a["in_features"]), a["bias"] and out)


LINEAR = Layer(
    name="Linear",
    args=(
        Arg("in_features", "int", infer=_last, min=1),
        Arg("out_features", "int", min=1),
        Arg("bias", "bool", True),
    ),
    positional=2,
    # torch accepts any rank, but a Linear straight after a conv stack is almost always a
    # missing Flatten: the checker accepts features (B, F) and sequences (B, T, F) only.
    ranks=(2, 3),
    layout="(B, in_features) or (B, T, in_features)",
    shape=_linear_shape,
    tensors=_linear_tensors,
    doc="Affine map y = x W^T + b over the last dim; in_features is inferred.",
    example="Linear(8)",
    prefix="fc",
    macs=lambda t, out, ins: numel(out[:1]) * t["weight"][1],
    traits=frozenset({"biased"}),
    saves=(*TRAINED_INPUT, HALF_WEIGHTS),
    autocast="half",
)

# The checker passes a layer's first input only, so in1_features is inferred from it and
# in2_features (the second input's last dim) must be given: Bilinear(in2_features, out_features).
BILINEAR = Layer(
    name="Bilinear",
    args=(
        Arg("in1_features", "int", infer=_last, min=1),
        Arg("in2_features", "int", min=1),
        Arg("out_features", "int", min=1),
        Arg("bias", "bool", True),
    ),
    positional=3,
    ranks=(2, 3, 4, 5),
    layout="(B, *, in1_features) and (B, *, in2_features)",
    inputs=2,
    shape=_linear_shape,
    tensors=lambda a: _weight_bias(
        (a["out_features"], a["in1_features"], a["in2_features"]), a["bias"] and a["out_features"]
    ),
    doc="Bilinear map x1^T A x2 + b of two inputs; in1_features is inferred, in2_features is not.",
    example="Bilinear(16, 8)",
    macs=lambda t, out, ins: numel(out[:1]) * t["weight"][1] * t["weight"][2],
    saves=(*INPUT, HALF_WEIGHTS),  # both inputs
    autocast="half",
)

# --- shape -----------------------------------------------------------------------------------

IDENTITY = _elementwise(
    "Identity", "Passes the input through unchanged.", traits=frozenset({"view"})
)


def _flatten_shape(a: dict, x: Shape) -> Shape:
    start, end = _dim_index(a, "start_dim", len(x)), _dim_index(a, "end_dim", len(x))
    _check(
        start <= end,
        f"start_dim ({a['start_dim']}) comes after end_dim ({a['end_dim']}) for a {len(x)}-D input",
        arg="start_dim",
    )
    return (*x[:start], merged(tuple(x[start : end + 1])), *x[end + 1 :])


FLATTEN = Layer(
    name="Flatten",
    # start_dim is emitted: torch.flatten's own default is 0, nn.Flatten's is 1.
    args=(Arg("start_dim", "int", 1, emit=True), Arg("end_dim", "int", -1)),
    positional=1,
    layout="(B, *)",
    shape=_flatten_shape,
    tensors=_no_tensors,
    functional="torch.flatten",
    doc="Flattens dims start_dim..end_dim into one, by default all but the batch.",
    example="Flatten()",
    traits=frozenset({"view"}),
)


def _unflatten_shape(a: dict, x: Shape) -> Shape:
    d, sizes = _dim_index(a, "dim", len(x)), a["unflattened_size"]
    _check(
        isinstance(sizes, (tuple, list)),
        f"unflattened_size must be a tuple of sizes but is {sizes!r}",
        arg="unflattened_size",
        help=f"write ({sizes},)",
    )
    sizes = tuple(sizes)
    _check(
        all(isinstance(s, int) and (s >= 1 or s == -1) for s in sizes)
        and list(sizes).count(-1) <= 1,
        f"unflattened_size {sizes} must hold sizes >= 1, and at most one -1",
        arg="unflattened_size",
    )
    rest, size = product(tuple(s for s in sizes if s != -1) or (1,)), x[d]
    if -1 in sizes:
        _check(
            not known(size) or size % rest == 0,
            f"unflattened_size {sizes} cannot split dim {d} of size {size}: "
            f"{size} is not divisible by {rest}",
            arg="unflattened_size",
        )
        fill = size // rest if known(size) else None
        sizes = tuple(fill if s == -1 else s for s in sizes)
    else:
        _check(
            not known(size) or rest == size,
            f"unflattened_size {sizes} multiplies to {int(rest)}, but dim {d} of the input "
            f"{fmt_shape(x)} has size {size}",
            arg="unflattened_size",
        )
    return (*x[:d], *sizes, *x[d + 1 :])


UNFLATTEN = Layer(
    name="Unflatten",
    args=(Arg("dim", "int"), Arg("unflattened_size", "ints", min=-1)),
    positional=2,
    layout="(B, *)",
    shape=_unflatten_shape,
    tensors=_no_tensors,
    doc="Splits dim into the sizes unflattened_size (one of them may be -1).",
    example="Unflatten(1, (32, 7, 7))",
    traits=frozenset({"view"}),
)

# --- embedding -------------------------------------------------------------------------------


def _embedding_shape(a: dict, x: Shape) -> Shape:
    n, pad = a["num_embeddings"], a["padding_idx"]
    _check(
        pad is None or -n <= pad < n,
        f"padding_idx {pad} is out of range for num_embeddings {n}",
        arg="padding_idx",
        help=f"use an index in [{-n}, {n})",
    )
    return (*x, a["embedding_dim"])


EMBEDDING = Layer(
    name="Embedding",
    args=(
        Arg("num_embeddings", "int", min=1),
        Arg("embedding_dim", "int", min=1),
        Arg("padding_idx", "int?", None),
        Arg("max_norm", "float?", None, min=0.0),
        Arg("norm_type", "float", 2.0),
        Arg("scale_grad_by_freq", "bool", False),
        Arg("sparse", "bool", False),
    ),
    positional=2,
    layout="(B, *) of token ids",
    in_dtype="long",
    out_dtype="float32",
    shape=_embedding_shape,
    tensors=lambda a: _weight_bias((a["num_embeddings"], a["embedding_dim"])),
    doc="Lookup table mapping token ids (long) to embedding_dim-vectors.",
    example="Embedding(10000, 128)",
    prefix="embed",
    saves=TRAINED_INPUT,  # the ids
)

LINEAR_ENTRIES = (LINEAR, BILINEAR)
SHAPE_ENTRIES = (IDENTITY, FLATTEN, UNFLATTEN)
EMBEDDING_ENTRIES = (EMBEDDING,)
