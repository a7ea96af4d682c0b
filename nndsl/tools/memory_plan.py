"""``nndsl summary --train``: the memory one device needs to train a train section, planned
without torch.

Per device, in bytes: the parameters (and buffers) in the weights' dtype (autocast keeps them,
the master weights, in float32); their gradients, for the parameters that train only (a frozen
one has none); the optimizer's state, as many tensors a trained parameter as its registry
entry's ``state`` says, in the weights' dtype; and the activations autograd keeps for the
backward of a step (:mod:`nndsl.tools.memory_step`), at the batch each device gets. With
``fsdp`` over N processes the first three are sharded, a 1/N each, and one unit of the model
(the largest top-level layer, block or repeated block) is gathered whole while it runs; with
``ddp`` every process holds them all. Activations grow linearly with the batch, so the largest
batch that fits a device's memory is solved for: (memory - what does not grow) / what a sample
adds.

The total is a sum, an upper bound of the peak: gradients fill in as the backward frees the
activations. Not counted: the CUDA context, the allocator's caching and fragmentation, kernels'
temporary workspaces, DDP's gradient buckets, Adam's one-value step count per tensor.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field

from nndsl.check.parameters import model_tensors
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.registry.training import OPTIMIZERS
from nndsl.tools.memory_saved import BYTES
from nndsl.tools.memory_step import saved_bytes
from nndsl.tools.sizes import UnknownSize, human


class PlanError(Exception):
    """A plan the flags make impossible (one line for the user)."""


@dataclass
class Plan:
    """One train section's figures, per device. ``rows``: (figure, bytes, what it counts);
    ``fixed`` the bytes a batch does not change, ``per_sample`` what each sample of a device's
    batch adds."""

    title: str
    batch: int
    nproc: int
    strategy: str
    precision: str = "fp32"
    rows: list[tuple[str, int, str]] = field(default_factory=list)
    fixed: int = 0
    per_sample: int = 0

    @property
    def total(self) -> int:
        return sum(b for _, b, _ in self.rows)

    def largest_batch(self, memory: int) -> int | None:
        """The largest batch a device fits in ``memory`` bytes; None when not even one."""
        if self.per_sample <= 0:
            return None
        most = (memory - self.fixed) // self.per_sample
        return most if most >= 1 else None


def plan(
    program: ir.ProgramIR,
    t: ir.TrainIR,
    batch: int | None = None,
    nproc: int = 1,
    strategy: str | None = None,
    device: str = "cuda",
    sizes: dict[str, int] | None = None,
) -> Plan:
    """The figures of train section ``t`` for a global ``batch`` (default: the section's) over
    ``nproc`` processes, each holding everything (``ddp``) or a shard (``fsdp``; default: as the
    section's ``distributed`` says); raises PlanError when the batch does not split evenly over
    them."""
    strategy = strategy or ("fsdp" if t.fsdp else "ddp")
    config = {f.name: f.default for f in t.config}
    batch = batch or int(config.get("batch_size", 32))
    if batch % nproc:
        raise PlanError(f"the batch of {batch} does not split evenly over {nproc} processes")
    models = _models(program, t)
    title = f"train {', '.join(m.name for _, m in models)} (line {t.source_line})"
    precision = {"bf16": "bf16 autocast", "fp16": "fp16 autocast"}.get(t.precision, "fp32")
    out = Plan(title, batch, nproc, strategy, precision)
    _weight_rows(out, t, models, config, nproc if strategy == "fsdp" else 1)
    sizes = {**(sizes or {})}
    one, two = (saved_bytes(program, t, b, device, sizes) for b in (1, 2))
    out.per_sample = two - one
    kept = saved_bytes(program, t, batch // nproc, device, sizes)
    note = f"kept for the backward of {batch // nproc:,} samples, by {device} kernels"
    out.rows.append(("Saved activations", kept, note))
    out.fixed = out.total - kept + (one - out.per_sample)
    return out


def _weight_rows(out: Plan, t: ir.TrainIR, models, config: dict, shard: int) -> None:
    """The rows of the parameters, buffers, gradients, optimizer state and, sharded, the
    gathered layer."""
    dtype = t.weights_dtype or "float32"
    wbytes = BYTES[dtype]
    params = {name: math.prod(p.shape) for _, name, p in _tensors(models) if p.trainable}
    trained = {n: v for n, v in params.items() if n not in t.frozen}
    buffers = sum(
        math.prod(p.shape) * (8 if p.kind.endswith("num_batches_tracked") else wbytes)
        for _, _, p in _tensors(models)
        if not p.trainable
    )
    cut = f"; a 1/{shard} shard" if shard > 1 else ""
    master = " (the master weights of autocast)" if t.precision != "fp32" else ""
    values = sum(params.values())
    out.rows.append(
        ("Parameters", _shard(values * wbytes, shard), f"{values:,} values, {dtype}{master}{cut}")
    )
    if buffers:
        out.rows.append(("Buffers", buffers, "running statistics and constants"))
    values = sum(trained.values())
    frozen = f", not the {len(params) - len(trained)} frozen tensors" * (len(trained) < len(params))
    note = f"{values:,} values: the parameters that train{frozen}{cut}"
    out.rows.append(("Gradients", _shard(values * wbytes, shard), note))
    state, about = _state(t, trained, config)
    out.rows.append(
        ("Optimizer state", _shard(state * wbytes, shard), f"{state:,} values: {about}{cut}")
    )
    if shard > 1:  # under bf16, gathered in bfloat16 (the kit's MixedPrecisionPolicy)
        unit, values = _largest_unit(models)
        half = t.precision == "bf16"
        note = f"{unit}, whole while it runs" + (", in bfloat16" if half else "")
        out.rows.append(("Gathered layer", values * (BYTES["bfloat16"] if half else wbytes), note))


def _shard(nbytes: int, shard: int) -> int:
    return -(-nbytes // shard)


def _models(program: ir.ProgramIR, t: ir.TrainIR) -> list[tuple[str, ir.ModelInfo]]:
    """(key in the script's ModuleDict, or "" for one model; the model) of a section."""
    infos = {m.name: m for m in program.models}
    if t.models:
        return [(key, infos[name]) for key, name in t.models]
    return [("", infos[t.model])]


def _tensors(models) -> list:
    """(model key, name as the optimizer sees it, ParamTensor) of every tensor of the models."""
    return [
        (key, f"{key}.{p.name}" if key else p.name, p)
        for key, info in models
        for p in model_tensors(info)
    ]


def _state(t: ir.TrainIR, trained: dict[str, int], config: dict) -> tuple[int, str]:
    """The optimizer state's values, and a line saying what they are."""
    if t.steps:
        total, about = 0, []
        for s in t.steps:
            mine = {n: v for n, v in trained.items() if n.startswith(f"{s.attr}.")}
            values, line = _optimizer_state(s.optimizer, mine, config, f"{s.attr}.")
            total += values
            about.append(f"{s.attr}: {line}")
        return total, "; ".join(about)
    return _optimizer_state(t.optimizer, trained, config, "")


def _optimizer_state(opt: tr.Optimizer, trained: dict, config: dict, prefix: str):
    spec = next((s for s in OPTIMIZERS.values() if s.torch == opt.call.target), None)
    if spec is None:
        return 0, f"{opt.call.target}: state not known"
    base = {a.name: a.default for a in spec.args}
    base.update({a.name: _value(a.value, config) for a in opt.call.args if a.name})
    groups = {
        prefix + name: {a.name: _value(a.value, config) for a in g.options if a.name}
        for g in opt.groups
        for name in g.names
    }
    total, counts = 0, set()
    for name, values in trained.items():
        options = {**base, **groups.get(name, {})}
        count = sum(n for arg, n in spec.state if not arg or options.get(arg))
        total += values * count
        counts.add(count)
    shown = " or ".join(str(c) for c in sorted(counts)) if counts else "0"
    which = [arg for arg, _ in spec.state if arg and base.get(arg)]
    with_ = f" with {', '.join(which)}" if which else ""
    tensors = "tensor" if shown == "1" else "tensors"
    return total, f"{spec.name}{with_}, {shown} {tensors} a trained parameter"


def _value(value: object, config: dict) -> object:
    """A training value as Python: a ``cfg.`` reference is the config field's default."""
    if isinstance(value, tr.Ref):
        return config.get(value.name.removeprefix("cfg."))
    if isinstance(value, tr.Number):
        return value.value
    return value


def _largest_unit(models) -> tuple[str, int]:
    """The largest unit FSDP gathers: a top-level layer or block, or one block of a repeat."""
    best = ("", 0)
    for key, info in models:
        repeat = False
        for row in info.rows:
            if row.depth == 0:
                repeat = row.type.startswith("repeat")
            if row.depth == (1 if repeat else 0) and row.params > best[1]:
                best = (".".join(p for p in (key, row.path or row.type) if p), row.params)
    return best


# ---- the command ------------------------------------------------------------------------------

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40})


def memory_size(text: str) -> int | None:
    """``80GB`` (10^9 bytes a GB), ``80GiB`` (2^30), ``512 MB``, ``1000000``: the bytes, or
    None for what is not a size.

    >>> memory_size("80GB"), memory_size("1.5 GiB"), memory_size("12"), memory_size("8 gb")
    (80000000000, 1610612736, 12, 8000000000)
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m and _UNITS.get(m[2].upper())
    return int(float(m[1]) * unit) if unit else None


def render(p: Plan, memory: int | None = None, memory_text: str = "") -> str:
    """The plan as ``nndsl summary --train`` prints it."""
    each = p.batch // p.nproc
    procs = f"{p.nproc} processes" if p.nproc > 1 else "1 process"
    lines = [
        f"{p.title}, per device: batch {p.batch:,} ({each:,} a device, {procs}, {p.strategy}), "
        + p.precision
    ]
    rows = [*p.rows, ("Total", p.total, "the sum: an upper bound of the peak")]
    width = max(len(r[0]) for r in rows)
    digits = max(len(f"{r[1]:,}") for r in rows)
    for name, nbytes, note in rows:
        size = human(nbytes, ("B", "KiB", "MiB", "GiB", "TiB"), 1024)
        lines.append(f"  {name:<{width}}  {nbytes:>{digits},} B  {size:>10}  {note}")
    lines.append(
        f"  Each sample a device adds {p.per_sample:,} B of activations; {p.fixed:,} B do not "
        "grow with the batch"
    )
    if memory is not None:
        most = p.largest_batch(memory)
        if most is None:
            lines.append(f"  Does not fit {memory_text} even at a batch of 1 a device")
        else:
            all_ = f" ({most * p.nproc:,} over {p.nproc} processes)" if p.nproc > 1 else ""
            lines.append(f"  Largest batch that fits {memory_text}: {most:,} a device{all_}")
    return "\n".join(lines) + "\n"


def command(args, program: ir.ProgramIR, file: str, sizes: dict[str, int]) -> int:
    """``nndsl summary --train``: 0 printed, 2 usage (no such section, a bad flag)."""
    memory = None
    if args.device_memory is not None:
        memory = memory_size(args.device_memory)
        if memory is None:
            return _usage(f"--device-memory takes a size such as 80GB, not {args.device_memory!r}")
    nproc = 1 if args.nproc is None else args.nproc
    strategy, device = args.strategy, args.device or "cuda"
    if nproc < 1:
        return _usage("--nproc must be at least 1")
    trains = [t for t in program.trains if args.model in (None, t.model, *dict(t.models).values())]
    if not trains:
        which = f" trains `{args.model}`" if args.model else ""
        return _usage(f"no train section in {file}{which}")
    out = []
    for t in trains:
        try:
            p = plan(program, t, args.batch, nproc, strategy, device, sizes)
        except PlanError as e:
            return _usage(str(e))
        except UnknownSize as e:
            if e.name == "?":
                return _usage(f"a shape in {t.model}'s activations has a size not known")
            return _usage(f"the activations need a size for {e.name}: give --size {e.name}=N")
        out.append(render(p, memory, args.device_memory))
    sys.stdout.write("\n".join(out))
    return 0


def _usage(message: str) -> int:
    print(f"nndsl: error: {message}", file=sys.stderr)
    return 2
