"""The sizes and example inputs of an export: which dims stay dynamic, the sizes the model is
traced at and checked at, and random inputs of the declared shapes and dtypes.

A size the model's inputs name (``B``, ``T``) is dynamic unless ``--size T=16`` fixes it; every
number in a shape stays fixed. The model is traced at one set of sizes and checked at two
others: the batch at 3, then 1 and 7 (a batch of one is how an exported model is often run, and
the size torch.export is most likely to have fixed), every other size at 12, 20, ... then 16,
24, ... and 24, 40, ...; the sizes of one set differ, so that torch.export cannot take two of
them to be one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nndsl.ir import nodes as ir
from nndsl.run.export.errors import usage

BATCH = "B"
_TRACE_BATCH, _CHECK_BATCHES = 3, (1, 7)


@dataclass(frozen=True)
class Plan:
    """The inputs of one export: each input's name, shape (ints and size names) and dtype; the
    dynamic sizes, the sizes traced at and the two sets of sizes checked at."""

    inputs: tuple[ir.TensorInfo, ...]
    dynamic: tuple[str, ...]
    trace: dict[str, int]
    checks: tuple[dict[str, int], ...]

    def axes(self) -> dict[tuple[str, int], str]:
        """Each dynamic (input name, dim) -> the size's name."""
        return {
            (t.name, k): d for t in self.inputs for k, d in enumerate(t.shape) if d in self.dynamic
        }

    def export_shapes(self) -> tuple[dict[int, object], ...]:
        """``dynamic_shapes`` for torch.export: ``Dim.DYNAMIC`` on every dynamic dim. (A named
        ``Dim`` refuses the ranges a model implies, such as T >= 5 before a convolution of
        kernel 5; ``DYNAMIC`` takes them and still refuses a size the code fixes.)"""
        return tuple(
            {k: torch.export.Dim.DYNAMIC for k, d in enumerate(t.shape) if d in self.dynamic}
            for t in self.inputs
        )

    def named_shapes(self) -> tuple[dict[int, str], ...]:
        """The same dims by their size's name: the ONNX exporter names its axes after them."""
        return tuple(
            {k: d for k, d in enumerate(t.shape) if d in self.dynamic} for t in self.inputs
        )


def plan(model: ir.ModelInfo, fixed: dict[str, int]) -> Plan:
    """The plan for ``model`` with the sizes ``fixed`` (``--size``) given; ExportError for a
    size the model does not name."""
    names: list[str] = []
    for t in model.inputs:
        for d in t.shape:
            if isinstance(d, str) and d not in names:
                if not d.isidentifier():
                    raise usage(f"{model.name}'s input {t.name} has the size `{d}`: not a name")
                names.append(d)
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        known = ", ".join(names) or "none"
        raise usage(f"{model.name} has no size {', '.join(unknown)} (its sizes: {known})")
    dynamic = tuple(n for n in names if n not in fixed)
    others = [n for n in dynamic if n != BATCH]

    def sizes(batch: int, first: int, step: int) -> dict[str, int]:
        made = {n: first + step * i for i, n in enumerate(others)}
        return {**made, **({BATCH: batch} if BATCH in dynamic else {}), **fixed}

    trace = sizes(_TRACE_BATCH, 12, 8)
    checks = (sizes(_CHECK_BATCHES[0], 16, 8), sizes(_CHECK_BATCHES[1], 24, 16))
    return Plan(tuple(model.inputs), dynamic, trace, checks)


def example(plan: Plan, sizes: dict[str, int], high: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Random inputs at ``sizes``: normal floats, integers in ``0 .. high - 1``, random bools."""
    generator = torch.Generator().manual_seed(seed)
    made = []
    for t in plan.inputs:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in t.shape)
        dtype = getattr(torch, t.dtype)
        if dtype.is_floating_point:
            made.append(torch.randn(shape, generator=generator).to(dtype))
        elif dtype == torch.bool:
            made.append(torch.randint(0, 2, shape, generator=generator).bool())
        else:
            top = min(high, torch.iinfo(dtype).max + 1)
            made.append(torch.randint(0, top, shape, generator=generator, dtype=dtype))
    return tuple(made)


def weights_dtype(model: ir.ModelInfo) -> torch.dtype | None:
    """The dtype of the weights when the model's floating inputs are not float32 (the checker
    allows one floating dtype a model); None for float32."""
    floats = {t.dtype for t in model.inputs if getattr(torch, t.dtype).is_floating_point}
    floats.discard("float32")
    return getattr(torch, floats.pop()) if floats else None


def tolerance(model: ir.ModelInfo) -> float:
    """The largest difference accepted by default: 1e-4, or 1e-2 for weights in float16 or
    bfloat16, which carry about three significant digits."""
    return 1e-2 if weights_dtype(model) in (torch.float16, torch.bfloat16) else 1e-4


def index_bound(model: nn.Module) -> int:
    """Integer inputs are drawn below this: the smallest embedding table of the model, where it
    has one (integer inputs are almost always its ids), else 2 (0 and 1 index anything)."""
    tables = [m.num_embeddings for m in model.modules() if isinstance(m, nn.Embedding)]
    tables += [m.num_embeddings for m in model.modules() if isinstance(m, nn.EmbeddingBag)]
    return min(tables, default=2)
