"""The one error of ``nndsl export``, and torch's exceptions summarised in one line."""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from nndsl.diagnostics.core import EXIT_DIAGNOSTICS, EXIT_USAGE
from nndsl.ir import nodes as ir
from nndsl.run.tracing import attribute_lines

NEEDS_EXTRA = 'pip install "nndsl[export]"'


class ExportError(Exception):
    """Why an export was refused or failed, in one line; ``code`` is the exit code (2 for what
    the command was asked, 1 for a model that does not export or does not match)."""

    def __init__(self, message: str, code: int = EXIT_DIAGNOSTICS) -> None:
        super().__init__(message)
        self.code = code


def usage(message: str) -> ExportError:
    return ExportError(message, EXIT_USAGE)


def missing(what: str, packages: str) -> ExportError:
    """A missing optional package: ``exporting to ONNX needs onnx and onnxscript: pip ...``."""
    return usage(f"{what} needs {packages}: {NEEDS_EXTRA}")


_SPECIALIZED = re.compile(
    r"You marked (?P<axis>.+?) as dynamic but your code specialized it to be a constant "
    r"\((?P<value>\d+)\)"
)
_AXIS = re.compile(r"L\['(?P<name>\w+)'\]\.size\(\)\[(?P<dim>\d+)\]")
_CALL = re.compile(r"self\.(\w+)\s*\(")
_NOISE = ("For more information", "consider using", "The error above", "Caused by")


def explain_export(err: BaseException, axes: dict[tuple[str, int], str], where: str) -> str:
    """Why torch.export refused the model, in one line: a size the code fixes (``axes`` maps an
    input's name and dim to the size's name), control flow on tensor values, or the first line
    of torch's own message; ``where`` names the statement of the model it came from."""
    text = str(err)
    at = f" ({where})" if where else ""
    fixed = _SPECIALIZED.search(text)
    if fixed:
        axis = _AXIS.search(fixed["axis"])
        name = axes.get((axis["name"], int(axis["dim"]))) if axis else None
        name = name or fixed["axis"]
        return (
            f"torch.export cannot keep the size {name} dynamic: the model's code fixes it "
            f"(to {fixed['value']} for the example input){at}; export with a fixed size: "
            f"--size {name}=N"
        )
    if "data-dependent" in text or type(err).__name__.startswith("GuardOnDataDependent"):
        return (
            "its control flow depends on the values of a tensor (a `while` or `if` on a "
            f"computed value), which torch.export cannot trace{at}"
        )
    return f"torch.export failed: {type(err).__name__}: {first_line(text)}{at}"


def explain_onnx(err: BaseException) -> str:
    """Why the ONNX conversion of an exported program failed, in one line."""
    text = str(err)
    cause = re.search(r"^<class '[\w.]+\.(\w+)'>: (.+)$", text, re.M)
    if cause:  # the exporter's report quotes the exception that stopped it
        return f"the ONNX conversion failed: {cause[1]}: {cause[2].strip()}"
    return f"the ONNX conversion failed: {type(err).__name__}: {first_line(text)}"


def first_line(text: str) -> str:
    """The first line of a message that says something, without torch's advice lines."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line and not line.startswith(_NOISE):
            return line
    return text.strip() or "no message"


def where(err: BaseException, model_file: Path, program: ir.ProgramIR, source_name: str) -> str:
    """The statement of the generated model that ``err`` (or an exception it chains) came
    from, and the line of the source declaring the layer it calls: ``chimera.nn:model.py, line
    21: while h.abs().sum() > 1:``; empty when it did not pass through the model."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        frames = traceback.extract_tb(err.__traceback__)
        frames = [f for f in frames if f.filename == str(model_file)]
        if frames:
            statement = (frames[-1].line or "").strip()
            text = f"{model_file.name}, line {frames[-1].lineno}"
            text += f": {statement.rstrip(':')}" if statement else ""
            called = _CALL.findall(statement)
            line = attribute_lines(program).get(called[0]) if called else None
            return text + (f", from {source_name}:{line}" if line else "")
        err = err.__cause__ or err.__context__
    return ""
