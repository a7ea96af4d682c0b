"""The pipeline in one place: parse -> check -> render -> format -> header.

Each stage is a pure function of the previous stage's value. Nothing here imports torch, and
:func:`analyze` (parse and check) imports no code generation either: ``nndsl check`` never
loads jinja2 or black. The generating functions import it when they are called.
"""

from __future__ import annotations

import gc
from dataclasses import fields, is_dataclass
from pathlib import Path

from nndsl.check.checker import check
from nndsl.diagnostics.core import (
    CompileError,
    Diagnostic,
    has_errors,
    normalize_newlines,
    sort,
    with_fixes,
)
from nndsl.ir import nodes as ir
from nndsl.lang import lexical
from nndsl.lang import syntax as s
from nndsl.lang.parser import parse
from nndsl.util.frozen import frozen


@frozen
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
    text = normalize_newlines(text)  # a lone \r ends a line, as in Python
    enabled = gc.isenabled()
    gc.disable()  # the syntax tree is acyclic; collection passes only slow large files down
    program = None
    try:
        try:
            program = parse(text)
            deep = _nesting(text, program)
            if deep is not None:
                return Analysis(None, [deep])
            checked, diagnostics = check(program, text, base)
        except CompileError as err:
            return Analysis(None, with_fixes(err.diagnostics, text))
        except RecursionError:
            return Analysis(None, [_too_deep(_deepest(program), "")])
    finally:
        if enabled:
            gc.enable()
    diagnostics = with_fixes(sort(diagnostics), text)
    return Analysis(None if has_errors(diagnostics) else checked, diagnostics)


MAX_NESTING = 50  # brackets and braces inside one another: Python refuses 200 in generated code
MAX_LOOPS = 20  # `while` loops inside one another: Python's limit on nested blocks


def _nesting(text: str, program: s.Program) -> Diagnostic | None:
    """E0005 at the first bracket nested deeper than MAX_NESTING, or the first `while` nested
    deeper than MAX_LOOPS: code that deep would not compile once generated."""
    depth = 0
    table = lexical.table()
    closers = set(table.brackets.values())
    for m in table.nesting.finditer(text):  # brackets, and the comments and strings they skip
        ch = m.group()
        if ch in table.brackets:
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, m.start()) + 1
                column = m.start() - text.rfind("\n", 0, m.start())
                span = s.Span(line, column, line, column + 1)
                return _too_deep(span, f"more than {MAX_NESTING} brackets and blocks deep")
        elif ch in closers:
            depth -= 1
    bodies = [(item.forward.body, 1) for item in program.items if getattr(item, "forward", None)]
    while bodies:
        body, depth = bodies.pop()
        for st in body:
            if isinstance(st, s.While):
                if depth > MAX_LOOPS:
                    return _too_deep(st.span, f"more than {MAX_LOOPS} loops deep")
                bodies.append((st.body, depth + 1))
    return None


def _deepest(program: s.Program | None) -> s.Span | None:
    """The span of the most deeply nested node of the syntax tree, found without recursion."""
    best, best_depth = None, 0
    stack = [(program, 0)] if program is not None else []
    while stack:
        node, depth = stack.pop()
        if isinstance(node, tuple):
            stack.extend((x, depth) for x in reversed(node))
            continue
        if not is_dataclass(node) or isinstance(node, s.Span):
            continue
        span = getattr(node, "span", None)
        if isinstance(span, s.Span) and depth > best_depth:
            best, best_depth = span, depth
        stack.extend((getattr(node, f.name), depth + 1) for f in reversed(fields(node)))
    return best


def _too_deep(span: s.Span | None, label: str) -> Diagnostic:
    return Diagnostic(
        "E0005",
        "the program is nested too deeply to check",
        span or s.Span(1, 1, 1, 2),
        label=label,
        help="split deeply nested expressions or blocks into simpler ones",
    )


def generate(program: ir.ProgramIR, filename: str, *, format: bool = True) -> str:
    """Generated module text for a checked program."""
    from nndsl.codegen import render as codegen

    return _finish(codegen.render(program, filename), filename, format)


def generate_train(
    t: ir.TrainIR, filename: str, model_module: str, *, data_dir: str = ".", format: bool = True
) -> str:
    """The training script for one train section; it imports the model from ``model_module``
    and reads data files from ``data_dir``, relative to the script's own folder."""
    from nndsl.codegen import render as codegen

    return _finish(codegen.render_train(t, filename, model_module, data_dir), filename, format)


def generate_kit() -> str:
    """``trainkit.py``, the support module every training script imports: the same file for
    every program of this nndsl version."""
    from nndsl.codegen import render as codegen

    return codegen.kit_source()


def _finish(body: str, filename: str, format: bool) -> str:
    """Format rendered code (unless asked not to) and put the header on it."""
    from nndsl.codegen import render as codegen
    from nndsl.codegen.formatting import black_format

    return codegen.with_header(black_format(body) if format else body, filename)


def compile_source(text: str, filename: str, *, format: bool = True) -> str:
    """Source text to generated PyTorch; raises CompileError when there are errors."""
    from nndsl.codegen import render as codegen

    enabled = gc.isenabled()
    gc.disable()  # as in analyze, until the IR is freed: then no collection pass walks it
    try:
        result = analyze(text)
        if not result.ok:
            raise CompileError(result.diagnostics)
        body = codegen.render(result.program, filename)
        del result
    finally:
        if enabled:
            gc.enable()
    return _finish(body, filename, format)
