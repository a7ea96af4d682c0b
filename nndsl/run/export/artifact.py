"""Export one model, write the file, and check it against the model it came from.

The model class is the generated model module, executed in memory as ``nndsl.load`` does (under
a file name beside the source, ``add.nn:model.py``, which tracebacks and torch's messages
show). torch.export traces it once; the ``.pt2`` file is that program saved, the ``.onnx`` file
that program converted by torch.onnx's dynamo exporter. The file is written into a fresh
folder beside the destination and moved into place only once the written file, loaded back
(``torch.export.load``, or onnxruntime), has given the model's outputs at two sets of sizes.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import io
import linecache
import logging
import os
import shutil
import sys
import tempfile
import time
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from nndsl.ir import nodes as ir
from nndsl.run.export import checks, parity
from nndsl.run.export import sizes as sized
from nndsl.run.export import weights as weight_files
from nndsl.run.export.errors import (
    ExportError,
    explain_export,
    explain_onnx,
    first_line,
    where,
)
from nndsl.util.user_modules import importable

SEED = 0  # the fresh initialisation exported without --weights, and the example inputs


@dataclass(frozen=True)
class Exported:
    """What an export wrote and found: the model, the file and its format, the dynamic sizes,
    the largest absolute difference from the PyTorch model at each set of sizes checked (none,
    with ``skipped`` saying why, when it could not be checked), the seconds spent exporting and
    checking, whether the weights were the model's fresh initialisation, and the tolerance."""

    model: str
    path: Path
    format: str
    dynamic: tuple[str, ...]
    differences: tuple[tuple[dict[str, int], float], ...]
    skipped: str
    seconds: float
    check_seconds: float
    fresh: bool
    tolerance: float


@dataclass(frozen=True)
class Request:
    """What to export: the checked program (its text and file name, its folder), the model,
    the destination, the weights to load, the sizes fixed by ``--size`` and the tolerance."""

    program: ir.ProgramIR
    text: str
    source_name: str
    folder: Path
    model: str | None
    output: Path
    weights: Path | None = None
    sizes: dict[str, int] | None = None
    tolerance: float | None = None  # default: sizes.tolerance(the model)


def export(req: Request) -> Exported:
    """Export ``req.model`` to ``req.output`` and check it; ExportError when refused, when the
    model does not export or when the file does not give the model's outputs (then nothing is
    written)."""
    fmt = checks.request(req.output, req.weights, req.tolerance)
    chosen = checks.pick_model(req.program, req.model, req.source_name)
    info = next(m for m in req.program.models if m.name == chosen)
    plan = sized.plan(info, req.sizes or {})
    tolerance = sized.tolerance(info) if req.tolerance is None else req.tolerance
    model, model_file = _instantiate(req, info)
    high = sized.index_bound(model)
    args = sized.example(plan, plan.trace, high, SEED)
    _run_twice(model, args, info.name)
    start = time.perf_counter()
    with _quiet():
        try:
            program = torch.export.export(model, args, dynamic_shapes=plan.export_shapes())
        except Exception as err:
            at = where(err, model_file, req.program, req.source_name)
            why = explain_export(err, plan.axes(), at)
            raise ExportError(f"cannot export {info.name}: {why}") from None
    req.output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{req.output.name}.", dir=req.output.parent))
    try:
        written = staging / req.output.name
        _write(fmt, program, args, plan, info, written)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        check = parity.check(fmt, written, model, plan, high, tolerance, info.name)
        for file in sorted(staging.iterdir()):  # the ONNX weights of a large model beside it
            os.replace(file, req.output.parent / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    differences, skipped = check
    return Exported(
        info.name, req.output, fmt, plan.dynamic, differences, skipped, seconds,
        time.perf_counter() - start, req.weights is None, tolerance,
    )  # fmt: skip


def _write(fmt: str, program, args, plan: sized.Plan, info: ir.ModelInfo, path: Path) -> None:
    if fmt == "torch.export":
        torch.export.save(program, path)
        return
    outputs = parity.output_count(info.returns)
    names = ["output"] if outputs == 1 else [f"output{i}" for i in range(outputs)]
    with _quiet():
        try:
            onnx_program = torch.onnx.export(
                program,
                args,
                dynamo=True,
                dynamic_shapes=plan.named_shapes(),
                input_names=[t.name for t in plan.inputs],
                output_names=names,
            )
            onnx_program.save(path)
        except Exception as err:
            raise ExportError(f"cannot export {info.name}: {explain_onnx(err)}") from None


def _instantiate(req: Request, info: ir.ModelInfo) -> tuple[torch.nn.Module, Path]:
    """The model, in eval mode, with the weights loaded or else seeded; and the file name its
    module runs under."""
    from nndsl.compiler import generate

    code = generate(req.program, req.source_name)
    digest = hashlib.sha256(req.text.encode()).hexdigest()[:12]
    name = f"_nndsl_export_{Path(req.source_name).stem}_{digest}".replace("-", "_")
    filename = str(req.folder.resolve() / f"{req.source_name}:model.py")
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    with importable(req.folder.resolve(), [i.module for i in req.program.imports]):
        exec(builtins.compile(code, filename, "exec"), module.__dict__)
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(SEED)
        model = getattr(module, info.name)()
    dtype = sized.weights_dtype(info)
    if dtype is not None:  # as the training script builds it
        model = model.to(dtype)
    if req.weights is not None:
        weight_files.load(model, req.weights)
    return model.eval(), Path(filename)


def _run_twice(model: torch.nn.Module, args: tuple, name: str) -> None:
    """Refuse a model that fails on the example inputs, or whose forward is random (an export
    of it could not be checked)."""
    try:
        with torch.no_grad():
            first, second = model(*args), model(*args)
    except Exception as err:
        raise ExportError(
            f"cannot export {name}: it fails on the example inputs: {type(err).__name__}: "
            f"{first_line(str(err))}"
        ) from None
    if parity.largest_difference(first, second) > 0:
        raise ExportError(
            f"cannot export {name}: its forward is random (two calls on the same inputs differ, "
            "as with randn_like or rand_like), so no export of it can be checked against it"
        )


@contextlib.contextmanager
def _quiet():
    """torch's warnings, log lines, progress prints and the graph it prints when it fails,
    kept off the terminal."""
    level = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(level)
