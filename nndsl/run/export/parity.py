"""The check after writing: the written file, loaded back, against the eager PyTorch model in
eval mode, on new random inputs at two sets of sizes; the largest absolute difference of any
output value at each. A ``.pt2`` file runs as ``torch.export.load(path).module()``, an ONNX
file in onnxruntime when it is installed (without it the check is skipped, and says so)."""

from __future__ import annotations

from pathlib import Path

import torch

from nndsl.run.export import sizes as sized
from nndsl.run.export.checks import shown
from nndsl.run.export.errors import NEEDS_EXTRA, ExportError, first_line


def output_count(returns) -> int:
    """How many tensors a model returns, nested tuples flattened."""
    return sum(output_count(r) for r in returns) if isinstance(returns, tuple) else 1


def leaves(value) -> list[torch.Tensor]:
    """The tensors of a returned value, nested tuples and lists flattened in order."""
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in leaves(v)]
    return [value] if isinstance(value, torch.Tensor) else []


def largest_difference(expected, got) -> float:
    """The largest absolute difference between the tensors of two returned values; infinite
    when they differ in number, shape, or where a value is not a number."""
    a, b = leaves(expected), leaves(got)
    if len(a) != len(b):
        return float("inf")
    largest = 0.0
    for x, y in zip(a, b):
        y = torch.as_tensor(y)
        if tuple(x.shape) != tuple(y.shape):
            return float("inf")
        if x.numel() == 0:
            continue
        x, y = x.detach().double(), y.detach().double()
        gap = (x - y).abs()
        gap = torch.where(x.isnan() & y.isnan(), torch.zeros_like(gap), gap)
        largest = max(largest, float(gap.nan_to_num(float("inf")).max()))
    return largest


def check(
    fmt: str,
    path: Path,
    model: torch.nn.Module,
    plan: sized.Plan,
    high: int,
    tolerance: float,
    name: str,
) -> tuple[tuple[tuple[dict[str, int], float], ...], str]:
    """The differences at each set of sizes, and "" (or, unchecked, why not and no
    differences); ExportError for one over ``tolerance``."""
    run = _runner(fmt, path, plan)
    if isinstance(run, str):
        return (), run
    found = []
    for seed, sizes in enumerate(plan.checks, start=1):
        inputs = sized.example(plan, sizes, high, seed)
        at = shown(sizes, plan.dynamic)
        with torch.no_grad():
            expected = model(*inputs)
        try:
            got = run(inputs)
        except Exception as err:
            raise ExportError(
                f"the exported {name} fails at {at}: {type(err).__name__}: "
                f"{first_line(str(err))}"
            ) from None
        gap = largest_difference(expected, got)
        if not gap <= tolerance:
            raise ExportError(
                f"the exported {name} does not match the PyTorch model: the largest absolute "
                f"difference at {at} is {gap:.3g}, over the tolerance {tolerance:g}; nothing "
                "was written"
            )
        found.append((sizes, gap))
    return tuple(found), ""


def _runner(fmt: str, path: Path, plan: sized.Plan):
    """A function from inputs to the file's outputs; or why the file cannot be run here."""
    if fmt == "torch.export":
        module = torch.export.load(path).module()
        return lambda inputs: module(*inputs)
    try:
        import onnxruntime
    except ImportError:
        return f"parity not checked: running an ONNX file needs onnxruntime: {NEEDS_EXTRA}"
    if any(t.dtype == "bfloat16" for t in plan.inputs):
        return "parity not checked: onnxruntime takes no bfloat16 inputs from numpy"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}  # an input the graph never reads is left out

    def run(inputs):
        feed = {t.name: x.numpy() for t, x in zip(plan.inputs, inputs) if t.name in names}
        return [torch.from_numpy(y) for y in session.run(None, feed)]

    return run
