"""``nndsl summary``: the layer table of ``nndsl check`` with multiply-accumulates, and totals of
parameters, buffers, MACs and activation memory for one batch size, all without torch.

Everything comes from the checker's summary rows (:class:`nndsl.ir.nodes.Row`): each row's output
shape, the shapes it receives and its parameter and buffer tensors; totals of parameters and
buffers come from :func:`nndsl.check.parameters.model_tensors`, which lists a shared module once.

MACs (one multiply and one add) per forward pass, with ``numel`` counting the batch; each rule is
the ``macs`` of the layer's registry entry:

- ``Linear``: numel(out) * in_features; ``Bilinear``: numel(out) * in1_features * in2_features.
- ``Conv1d``/``Conv2d``: numel(out) * in_channels / groups * prod(kernel_size);
  ``ConvTranspose2d``: numel(in) * out_channels / groups * prod(kernel_size).
- ``RNN``/``GRU``/``LSTM``: B * T * sum over layers and directions of G * H * (in + H), with
  G = 1, 3, 4 gates, H the hidden size and ``in`` that layer's input size.
- ``MultiheadAttention`` (query length L, key length S, embed_dim E): B * (L*E*E + 2*S*E*E +
  2*L*S*E + L*E*E): the projections, the scores, the weighted sum and the output projection.
- ``TransformerEncoderLayer`` (dim_feedforward F): the self-attention above with S = L, plus
  B * 2 * L * E * F for the feed-forward layers, plus its two LayerNorms.
- ``TransformerDecoderLayer``: its self-attention (S = L), its attention over the memory (S the
  memory's length), the feed-forward layers and its three LayerNorms.
- ``BatchNorm*``, ``LayerNorm``, ``GroupNorm``: numel(out) (a scale and shift per element).
- Everything else (activations, pooling, dropout, reshaping, ``Embedding`` lookups): 0.

Biases, activations and the functions of a hand-written ``forward`` are not counted. A block,
repeat or nested model is the sum of the layers inside; a shared layer counts at every use.
"""

from __future__ import annotations

import math

from nndsl.check.parameters import model_tensors
from nndsl.ir import nodes as ir
from nndsl.registry.layer_base import count_macs
from nndsl.registry.layers import REGISTRY
from nndsl.tools.sizes import UnknownSize, dim_size, human
from nndsl.tools.summary import layer_table, uncounted
from nndsl.tools.summary_flags import TRAIN_ONLY

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}
TENSOR_ROWS = ("Parameter", "Buffer")


def full_summary(program: ir.ProgramIR, batch: int, sizes: dict[str, int] | None = None) -> str:
    return "\n".join(model_summary(m, batch, sizes) for m in program.models)


def sized(shape, sizes: dict[str, int]) -> list[tuple[int, ...]]:
    """The tensors a row's shape describes (a :class:`~nndsl.ir.nodes.Results` is flattened, a
    value that is not a tensor left out), every symbol replaced by its size in ``sizes``; raises
    :class:`UnknownSize` for a symbol without one, or for a size the checker could not know.

    >>> sized(ir.Results([("B", 1), ("B", 8)]), {"B": 4}), sized((8,), {}), sized((), {})
    ([(4, 1), (4, 8)], [(8,)], [()])
    """
    if isinstance(shape, ir.Results):
        return [t for x in shape for t in sized(x, sizes)]
    return [] if shape is None else [tuple(dim_size(d, sizes) for d in shape)]


def _numel(shapes) -> int:
    return sum(math.prod(s) for s in shapes)


def layer_macs(row: ir.Row, out: list, ins: list) -> int:
    """MACs of one layer row, by its registry entry's rule; 0 for anything else."""
    layer = REGISTRY.get(row.type)
    if layer is None:
        return 0
    return count_macs(layer, {kind: shape for kind, shape, _ in row.tensors}, out, ins)


def _containers(rows) -> set[int]:
    """Rows whose layers are rows of their own below them (blocks, repeats, nested models):
    counting them too would count their last layer's output twice. A custom layer, whose only
    rows below are its own parameters and buffers, is a layer."""
    out = set()
    for i, row in enumerate(rows):
        for below in rows[i + 1 :]:
            if below.depth <= row.depth:
                break
            if below.type not in TENSOR_ROWS:
                out.add(i)
                break
    return out


def _fmt(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def row_macs(
    m: ir.ModelInfo, batch: int, sizes: dict[str, int] | None = None
) -> tuple[list[int | None], set[str]]:
    """The MACs column of ``nndsl summary``: each row's MACs (a block, repeat or nested model
    the sum of the layers inside; None where a size is unknown), and the unknown size names."""
    rows = m.rows
    containers = _containers(rows)
    shown, _, unknown = _per_row(rows, containers, {**(sizes or {}), "B": batch})
    for i in sorted(containers, reverse=True):  # a container sums the layers below it
        below = []
        for j in range(i + 1, len(rows)):
            if rows[j].depth <= rows[i].depth:
                break
            if rows[j].depth == rows[i].depth + 1:
                below.append(shown[j])
        shown[i] = None if None in below else sum(below)
    return shown, unknown


def model_summary(m: ir.ModelInfo, batch: int, sizes: dict[str, int] | None = None) -> str:
    rows = m.rows
    shown, unknown = row_macs(m, batch, sizes)
    cells = ["-" if r.type in TENSOR_ROWS else _fmt(shown[i]) for i, r in enumerate(rows)]
    out = layer_table(m, ("MACs", cells))

    n = totals(m, batch, sizes)
    dtype = n["dtype"]
    partial = f" (layers with sizes {', '.join(sorted(unknown))} left out)" if unknown else ""
    out.append(f"  Total params: {n['params']:,} (shared weights counted once{uncounted(m)})")
    out.append(f"  Trainable params: {n['trainable']:,}")
    out.append(f"  Non-trainable params: {n['non_trainable']:,}")
    out.append(
        f"  Buffers: {n['buffers']:,} values in {n['buffer_tensors']} tensors "
        "(running statistics and constants; not parameters)"
    )
    short = f" ({human(n['macs'], ('', 'K', 'M', 'G', 'T'), 1000)})" if n["macs"] >= 1000 else ""
    out.append(f"  MACs (batch {batch}): {n['macs']:,}{short}{partial}")
    out.append(
        f"  Activation memory (batch {batch}): {n['memory']:,} bytes "
        f"({human(n['memory'], ('B', 'KiB', 'MiB', 'GiB'), 1024)}): every layer "
        f"output, {dtype} ({DTYPE_BYTES[dtype]} bytes a value){partial}"
    )
    return "\n".join(out) + "\n"


def _per_row(rows, containers: set[int], sizes: dict[str, int]) -> tuple[list, list, set]:
    """Each row's MACs and output values (0 for containers and tensor rows, None where a size is
    unknown), and the unknown size names."""
    macs: list[int | None] = [0] * len(rows)
    memory: list[int | None] = [0] * len(rows)
    unknown: set[str] = set()
    for i, r in enumerate(rows):
        if i in containers or r.type in TENSOR_ROWS:
            continue
        try:
            out = sized(r.shape, sizes)
            ins = [s for shape in r.inputs for s in sized(shape, sizes)]
            macs[i], memory[i] = layer_macs(r, out, ins), _numel(out)
        except UnknownSize as err:
            unknown.add(err.name)
            macs[i] = memory[i] = None
    return macs, memory, unknown


def totals(m: ir.ModelInfo, batch: int, sizes: dict[str, int] | None = None) -> dict:
    """The numbers at the bottom of the table: params (all parameters), trainable,
    non_trainable, buffers (values), buffer_tensors, macs, memory (bytes), dtype and unknown
    (size names that left layers out)."""
    macs, memory, unknown = _per_row(m.rows, _containers(m.rows), {**(sizes or {}), "B": batch})
    tensors = model_tensors(m)
    dtype = next((t.dtype for t in m.inputs if t.dtype in DTYPE_BYTES), "float32")
    params = sum(math.prod(t.shape) for t in tensors if t.trainable)
    buffers = [t for t in tensors if not t.trainable]
    return {
        "params": params,
        "trainable": params,  # every parameter nndsl generates requires grad
        "non_trainable": 0,
        "buffers": sum(math.prod(t.shape) for t in buffers),
        "buffer_tensors": len(buffers),
        "macs": sum(x for x in macs if x is not None),
        "memory": sum(x for x in memory if x is not None) * DTYPE_BYTES[dtype],
        "dtype": dtype,
        "unknown": unknown,
    }


def command(args, text: str, report) -> int:
    """``nndsl summary``: 0 printed, 1 diagnostics, 2 usage (bad --size, unknown model)."""
    import sys
    from pathlib import Path

    from nndsl.compiler import analyze

    sizes = {}
    for item in args.size or ():
        name, _, value = item.partition("=")
        if not name.isidentifier() or not value.isdigit() or int(value) < 1:
            print(
                f"nndsl: error: --size takes NAME=N with N at least 1, not {item!r}",
                file=sys.stderr,
            )
            return 2
        sizes[name] = int(value)
    alone = [f"--{f.replace('_', '-')}" for f in TRAIN_ONLY if getattr(args, f) is not None]
    if alone and not args.train:
        print(f"nndsl: error: {alone[0]} goes with --train", file=sys.stderr)
        return 2
    if args.batch is not None and args.batch < 1:
        print("nndsl: error: --batch must be at least 1", file=sys.stderr)
        return 2
    result = analyze(text, Path(args.file).parent)
    report(result.diagnostics)
    if not result.ok:
        return 1
    if args.train:
        from nndsl.tools.memory_plan import command as train_command

        return train_command(args, result.program, args.file, sizes)
    models = [m for m in result.program.models if args.model in (None, m.name)]
    if not models:
        names = ", ".join(m.name for m in result.program.models) or "none"
        print(
            f"nndsl: error: no model `{args.model}` in {args.file}; it has {names}", file=sys.stderr
        )
        return 2
    batch = 64 if args.batch is None else args.batch
    sys.stdout.write("\n".join(model_summary(m, batch, sizes) for m in models))
    return 0
