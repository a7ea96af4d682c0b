"""Runtime errors mapped back to the source: when generated code raises during ``nndsl run``,
name the ``.nn`` line that produced the failing statement, above the original error; when the
loss turns NaN, the line of the first layer whose output was not finite.

The generated model calls its layers as ``self.<name>(...)``; each layer's row in the checked
program records the source line that declares it, so the innermost frame in ``model.py`` leads
to the layer, and the layer to its line.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from nndsl.diagnostics.core import source_lines
from nndsl.ir import nodes as ir

_CALL = re.compile(r"self\.(\w+)\s*\(")


def attribute_lines(program: ir.ProgramIR) -> dict[str, int]:
    """Each layer's last path component (its attribute) -> the source line declaring it."""
    lines: dict[str, int] = {}
    for model in program.models:
        for row in model.rows:
            if row.line and row.path and row.path != "-":
                lines.setdefault(row.path.rsplit(".", 1)[-1], row.line)
    return lines


def layer_lines(program: ir.ProgramIR, model: str) -> dict[str, int]:
    """Each layer of ``model`` by its full path (``body.0.fc1``, as ``named_modules`` gives
    it) -> the source line declaring it."""
    rows = [row for m in program.models if m.name == model for row in m.rows]
    return {row.path: row.line for row in rows if row.line and row.path}


def explain(
    err: BaseException,
    model_file: Path,
    program: ir.ProgramIR,
    source: str,
    name: str,
    model: str = "",
) -> str | None:
    """Where in ``source`` (the text of the .nn file called ``name``) the failing statement of
    ``model_file`` came from, as lines of text; None when the error did not pass through the
    generated model."""
    text = source_lines(source)
    layer = getattr(err, "layer", None)  # the script's NonFiniteLoss names the layer
    if isinstance(layer, str):
        line = layer_lines(program, model).get(layer)
        return (
            f"  from {name}:{line}: {text[line - 1].strip()}"
            if line and line <= len(text)
            else None
        )
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename) == model_file]
    if not frames:
        return None
    frame = frames[-1]
    statement = (frame.line or "").strip()
    out = [f"  in {model_file.name}, line {frame.lineno}: {statement}"]
    called = _CALL.findall(statement)
    line = attribute_lines(program).get(called[0]) if called else None
    if line and 0 < line <= len(text):
        out.append(f"  from {name}:{line}: {text[line - 1].strip()}")
    return "\n".join(out)
