"""The pipeline in one place: parse -> check -> render -> format -> header.

Each stage is a pure function of the previous stage's value. Nothing here imports torch.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from . import codegen, ir
from .check import check
from .diagnostics import CompileError, Diagnostic, has_errors, sort
from .formatting import black_format
from .parser import parse


@dataclass(frozen=True)
class Analysis:
    """The checked program and every diagnostic; ``program`` is None when there are errors."""

    program: ir.ProgramIR | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.program is not None


def analyze(text: str, base: Path | None = None) -> Analysis:
    """Parse and check source text; data file paths are relative to ``base`` (the folder of
    the .nn file; the working directory when None)."""
    enabled = gc.isenabled()
    gc.disable()  # the syntax tree is acyclic; collection passes only slow large files down
    try:
        try:
            program = parse(text)
            checked, diagnostics = check(program, text, base)
        except CompileError as err:
            return Analysis(None, err.diagnostics)
        except RecursionError:
            return Analysis(None, [_too_deep()])
    finally:
        if enabled:
            gc.enable()
    diagnostics = sort(diagnostics)
    return Analysis(None if has_errors(diagnostics) else checked, diagnostics)


def _too_deep() -> Diagnostic:
    return Diagnostic(
        "E0005",
        "the program is nested too deeply to check",
        None,
        help="split deeply nested expressions or blocks into simpler ones",
    )


def generate(program: ir.ProgramIR, filename: str, *, format: bool = True) -> str:
    """Generated module text for a checked program."""
    return _finish(codegen.render(program), filename, format)


def generate_train(
    t: ir.TrainIR, filename: str, model_module: str, *, data_dir: str = ".", format: bool = True
) -> str:
    """The training script for one train section; it imports the model from ``model_module``
    and reads data files from ``data_dir``, relative to the script's own folder."""
    return _finish(codegen.render_train(t, filename, model_module, data_dir), filename, format)


def _finish(body: str, filename: str, format: bool) -> str:
    """Format rendered code (unless asked not to) and put the header on it."""
    return codegen.with_header(black_format(body) if format else body, filename)


def compile_source(text: str, filename: str, *, format: bool = True) -> str:
    """Source text to generated PyTorch; raises CompileError when there are errors."""
    enabled = gc.isenabled()
    gc.disable()  # as in analyze, until the IR is freed: then no collection pass walks it
    try:
        result = analyze(text)
        if not result.ok:
            raise CompileError(result.diagnostics)
        body = codegen.render(result.program)
        del result
    finally:
        if enabled:
            gc.enable()
    return _finish(body, filename, format)
