"""A training section's data sizes against the layers whose run depends on them.

- E0425: a batch norm trained on a batch of one sample where that leaves one value per channel
  (``BatchNorm1d`` over ``(B, C)``), which torch refuses in training; an instance norm over one
  spatial element, which it refuses at any batch.
- E0426: an ``Embedding`` read at ids beyond its rows: ids the data holds, or positions once
  the sizes known only at run time take the values the data gives them (``wpe(arange(T))``
  with ``T`` the samples' length), from the training data, its validation and test data and
  what ``predict`` feeds. Only a range whose ends the values reach refuses (:func:`_reached`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nndsl.check.data import DataInfo
from nndsl.check.fixes import call_at
from nndsl.check.ranges import Sizes, value_range
from nndsl.check.train_settings import training_samples
from nndsl.diagnostics.core import Fix, Label, Reported
from nndsl.ir import training as tr
from nndsl.ir.ranges import Interval
from nndsl.ir.shapes import fmt_shape

_BATCH_NORMS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
_INSTANCE_NORMS = ("InstanceNorm1d", "InstanceNorm2d")


def data_sizes(b, other: dict) -> None:
    """E0425 and E0426, once the rest of the section has checked without an error (``other``:
    the section's other settings, ``predict`` among them)."""
    if not b.failed:
        one_sample_norms(b, b.data)
        embedding_rows(b, other["predict"])


def _values_per_channel(shape: tuple) -> int | None:
    """The values each channel of one sample holds: the product of the dims after (B, C)."""
    rest = shape[2:]
    return math.prod(rest) if all(isinstance(d, int) for d in rest) else None


def _layer_span(b, row):
    """Where the layer of a summary row is declared: its node in the model's dataflow."""
    links = b.r.links(b.model.name)
    for n in links.nodes.values() if links is not None else ():
        if n.kind == "layer" and n.name == row.type and n.span and n.span.line == row.line:
            return n.span
    return None


def _smallest_batches(data: DataInfo) -> tuple[int, int, set[int]]:
    """The training samples, the batch and the sizes of the batches an epoch makes."""
    left, batch = training_samples(data)
    sizes = {min(batch, left)}
    if left > batch and left % batch and not data.drop_last:
        sizes.add(left % batch)
    return left, batch, sizes


def _batch_without_one(left: int, drop_last: bool) -> int | None:
    """The smallest batch of at least 2 whose epoch has no batch of one sample."""
    for size in range(2, left + 1):
        if drop_last or left % size != 1:
            return size
    return None


def one_sample_norms(b, data: DataInfo) -> None:
    """E0425 for the first norm layer that would see one value per channel in training."""
    known = data.samples is not None and not data.stream  # else the run says it
    left, batch, sizes = _smallest_batches(data) if known else (0, 0, set())
    for row in b.model.rows:
        shape = row.inputs[0] if row.inputs else None
        if row.type not in _BATCH_NORMS + _INSTANCE_NORMS or not isinstance(shape, tuple):
            continue
        if _values_per_channel(shape) != 1 or shape[0] != "B":
            continue
        labels = ()
        span = _layer_span(b, row)
        if row.type in _INSTANCE_NORMS:
            b.error(
                "E0425",
                f"`{row.path}` ({row.type} over {fmt_shape(shape)}) normalises each sample's "
                "channels over one value: torch needs more than one spatial element to train",
                span or b.node.span,
                help="normalise over more positions, or use a norm that spans the channels "
                "(`LayerNorm`, `GroupNorm`)",
            )
            raise Reported
        if left <= 0 or 1 not in sizes:  # no batch at all is E0418
            continue
        if span is not None:
            labels = (Label(span, f"{fmt_shape(shape)}: one value per channel and sample"),)
        _batch_of_one(b, data, row, shape, left, batch, labels)


def _batch_of_one(b, data: DataInfo, row, shape, left: int, batch: int, labels) -> None:
    where = data.setting_spans.get("batch", data.span)
    norm = f"`{row.path}` ({row.type} over {fmt_shape(shape)})"
    need = "a batch norm needs more than one value per channel in training"
    better = _batch_without_one(left, data.drop_last)
    if left == 1:
        message = f"data `{data.name}` leaves 1 sample to train on, so {norm} sees one: {need}"
        help, fix = "add samples, or hold out fewer", None
    elif min(batch, left) == 1:
        message = f"`batch 1` trains {norm} on one sample at a time: {need}"
        help = f"train on batches of at least 2 samples, e.g. `batch {better}`"
        fix = Fix(where, f"batch {better}") if "batch" in data.setting_spans else None
    else:
        message = (
            f"the last batch of each epoch holds one sample ({left} training samples in "
            f"batches of {batch}), on which {norm} fails: {need}"
        )
        help = f"add `drop_last true` to data `{data.name}`, or use another batch size"
        help += f", e.g. `batch {better}`" if better else ""
        fix = None
    b.error("E0425", message, where, labels=labels, help=help, fix=fix)
    raise Reported


# ---- Embedding rows against the sizes the data fixes --------------------------------------


@dataclass
class _Feeder:
    """What feeds the model: a data section, or ``predict``'s rows. ``shapes``, ``ranges``
    and ``spans`` by model input; ``ids``: whether its ids are those the script feeds (a
    held-out section's text is encoded by the training data's vocabulary, not its own)."""

    what: str
    shapes: dict
    ranges: dict
    spans: dict
    ids: bool = True


def _feeders(b, predict) -> list[_Feeder]:
    """The training data, its validation and test data, and what ``predict`` feeds."""
    names = (b.data.validation, b.data.test_data, predict and predict.data and predict.data.name)
    sections = [b.data] + [b.r.datas[n] for n in names if n and b.r.datas.get(n) is not None]
    out = [
        _Feeder(
            f"data `{d.name}`",
            {n: t.shape for n, t in d.tensors.items()},
            d.ranges,
            d.spans,
            d is b.data or d.vocabulary is None,
        )
        for d in sections
    ]
    inputs = [i for i in b.model.inputs if not i.optional]
    rows = _rows(predict.rows) if predict and predict.data is None and not predict.name else None
    if rows is not None and len(inputs) == 1 and not predict.steps:
        (shape, found), name = rows, inputs[0].name
        span = b.setting("predict").span
        out.append(
            _Feeder("`predict`", {name: shape}, {name: found} if found else {}, {name: span})
        )
    return out


def _rows(seq) -> tuple[tuple, tuple | None] | None:
    """The shape of nested rows of numbers and the range of their values; None when they are
    ragged or hold anything else."""
    if isinstance(seq, tr.Number):
        v = seq.value
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return ((), (v, v)) if ok else None
    if not isinstance(seq, tr.Seq) or not seq.items:
        return None
    parts = [_rows(x) for x in seq.items]
    if None in parts or len({p[0] for p in parts}) != 1 or any(p[1] is None for p in parts):
        return None
    lo, hi = min(p[1][0] for p in parts), max(p[1][1] for p in parts)
    return (len(parts), *parts[0][0]), (lo, hi)


def _bound_sizes(b, feeders: list[_Feeder]) -> dict[str, dict[int, tuple[_Feeder, str]]]:
    """Each symbol of the model's inputs (``T`` of ``idx: [T] long``) and the values what
    feeds the model gives it, each with the feeder and input that gives it."""
    found: dict[str, dict[int, tuple[_Feeder, str]]] = {}
    for inp in b.model.inputs:
        for f in feeders:
            have = f.shapes.get(inp.name)
            if have is None or len(have) != len(inp.shape):
                continue
            for want, size in zip(inp.shape[1:], have[1:]):
                if isinstance(want, str) and want.isidentifier() and isinstance(size, int):
                    found.setdefault(want, {}).setdefault(size, (f, inp.name))
    return found


def _input_ranges(b, feeders: list[_Feeder]) -> dict[str, tuple[Interval, list[_Feeder]]]:
    """Each model input whose values everything that feeds it knows: their range, and those
    feeders."""
    found = {}
    for inp in b.model.inputs:
        feeding = [f for f in feeders if inp.name in f.shapes]
        known = [f.ranges.get(inp.name) for f in feeding]
        if not feeding or None in known or not all(f.ids for f in feeding):
            continue
        lo, hi = min(r[0] for r in known), max(r[1] for r in known)
        if all(math.isfinite(v) for v in (lo, hi)):
            found[inp.name] = (Interval(lo, hi), feeding)
    return found


# ops of one tensor operand that take its least and greatest values to their own (with
# numbers or sizes as the other operands): the ends of their range are values they make
_END_TO_END = {"+", "-", "*", "long", "reshape", "flatten", "unsqueeze", "squeeze"}
_END_TO_END |= {"transpose", "permute"}


def _reached(links, node: int) -> bool:
    """Whether the ends of ``node``'s range are values it really makes, not only bounds: it
    is an input, an ``arange``, or one of :data:`_END_TO_END` of one such, through blocks'
    ports. Only then do ids past an Embedding's rows prove a run that fails."""
    for _ in range(len(links.nodes) + 1):
        n = links.nodes.get(node)
        if n is None or node in links.looped:
            return False
        if n.kind == "input" or (n.kind == "op" and n.name == "arange"):
            return True
        fed = links.fed.get(node, ())
        if len(fed) != 1 or not (n.kind == "port" or n.kind == "op" and n.name in _END_TO_END):
            return False
        node = fed[0]
    return False


def embedding_rows(b, predict=None) -> None:
    """E0426 for the first ``Embedding`` read at ids that its rows do not hold."""
    links = b.r.links(b.model.name)
    if links is None:
        return
    tables = [
        n for n in links.nodes.values() if n.kind == "layer" and n.name == "Embedding" and n.args
    ]
    if not tables:
        return
    feeders = _feeders(b, predict)
    bound, fed = _bound_sizes(b, feeders), _input_ranges(b, feeders)
    for n in tables:
        rows = n.args.get("num_embeddings")
        if not isinstance(rows, int):
            continue
        for p in links.fed.get(n.id, ()):
            sizes = Sizes(
                {k: tuple(sorted(v)) for k, v in bound.items()},
                {k: v[0] for k, v in fed.items()},
            )
            got = value_range(links, p, sizes).interval
            if not (math.isfinite(got.lo) and math.isfinite(got.hi)) or not _reached(links, p):
                continue
            if 0 <= got.lo and got.hi < rows:
                continue
            _beyond_rows(b, n, links.nodes.get(p), rows, got, sizes, (bound, fed))


def _beyond_rows(b, table, reader, rows: int, got, sizes: Sizes, known: tuple) -> None:
    (bound, fed), lo, hi = known, int(got.lo), int(got.hi)
    said, labels = [], [Label(table.span, f"`{table.attr}` has {rows} rows, 0 .. {rows - 1}")]
    for name in sorted(sizes.fed):
        _, feeding = fed[name]
        each = [(f, Interval(*f.ranges[name])) for f in feeding]
        said.append(f"`{name}` holds " + " and ".join(f"{_ends(r)} in {f.what}" for f, r in each))
        labels += [Label(f.spans[name], f"`{name}`: {_ends(r)}") for f, r in each]
    for name in sorted(sizes.read):
        for size, (f, tensor) in sorted(bound[name].items()):
            said.append(f"{name} is {size} in {f.what}")
            labels.append(Label(f.spans[tensor], f"{name} is {size}: samples of `{tensor}`"))
    why = f" ({', '.join(said)})" if said else ""
    message = f"`{table.attr}` is read at ids {lo} .. {hi}{why}, but it has {rows} rows"
    if lo < 0:
        help, fix = "an Embedding's ids start at 0", None
    else:
        help = f"give `{table.attr}` at least {hi + 1} rows"
        fix = _rows_fix(b, table.span, hi + 1)
    b.error(
        "E0426",
        message,
        reader.span if reader is not None and reader.span else table.span,
        labels=tuple(labels),
        help=help,
        fix=fix,
    )
    raise Reported


def _ends(interval: Interval) -> str:
    return f"{int(interval.lo)} .. {int(interval.hi)}"


def _rows_fix(b, span, need: int) -> Fix | None:
    """``Embedding(2, 64)`` as ``Embedding(64, 64)``: its first argument replaced."""
    for model in b.r.syntax.values():
        call = call_at(model, span)
        if call is None:
            continue
        for i, a in enumerate(call.args):
            if a.name == "num_embeddings" or (a.name is None and i == 0):
                return Fix(a.value.span, str(need))
    return None
