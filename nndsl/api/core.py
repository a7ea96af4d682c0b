"""Reading a source, checking and compiling it, and the one error of the API."""

from __future__ import annotations

import os
from pathlib import Path

from nndsl.api.summary import Checked, summarize
from nndsl.codegen import KIT_MODULE
from nndsl.diagnostics.core import Diagnostic, render_text
from nndsl.ir import nodes as ir
from nndsl.util.frozen import frozen

MODEL_MODULE = "model"  # the module the training scripts import the model classes from


class NNDSLError(Exception):
    """A program that does not check, or a training run that failed. ``diagnostics``: every
    diagnostic of the program (empty for a failed run); ``str()`` is the text the command line
    prints (``file:line:col``, the source line, a caret, the help)."""

    def __init__(self, diagnostics=(), text: str = "", filename: str = "", message: str = ""):
        self.diagnostics = tuple(diagnostics)
        self.text, self.filename = text, filename
        super().__init__(message or render_text(list(self.diagnostics), text, filename))

    def __reduce__(self):
        return (type(self), (self.diagnostics, self.text, self.filename, self.args[0]))


# ---- reading a source -------------------------------------------------------------------------


@frozen
class Source:
    text: str
    shown: str  # the name diagnostics give: the path as passed, or the filename for text
    name: str  # the file's name, for the generated headers: add.nn
    folder: Path  # where data files are found: the file's folder, or the working directory
    problems: tuple[Diagnostic, ...] = ()  # a file that is not UTF-8


def as_source(source, filename: str | None = None) -> Source:
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and "{" not in source
    ):
        return read_file(os.fspath(source))
    if not isinstance(source, str):
        raise TypeError(f"expected a path or the text of a program, not {type(source).__name__}")
    shown = filename or "<string>"
    return Source(source, shown, Path(shown).name, Path.cwd())


def read_file(path: str) -> Source:
    data = Path(path).read_bytes()  # OSError (FileNotFoundError...) as Python raises it
    folder = Path(path).parent
    try:
        return Source(data.decode("utf-8-sig"), path, Path(path).name, folder)
    except UnicodeDecodeError:
        from nndsl.lang.source import read_source

        diagnostic, text = read_source(path)
        return Source(text, path, Path(path).name, folder, (diagnostic,))


def _analyze(src: Source):
    """The checked program (None with errors) and every diagnostic."""
    if src.problems:
        return None, list(src.problems)
    from nndsl.compiler import analyze

    result = analyze(src.text, src.folder)
    return result.program, result.diagnostics


def checked_program(src: Source) -> ir.ProgramIR:
    program, diagnostics = _analyze(src)
    if program is None:
        raise NNDSLError(diagnostics, src.text, src.shown)
    return program


# ---- check and compile ------------------------------------------------------------------------


def check(source, *, filename: str | None = None) -> Checked:
    """Check a program, as ``nndsl check`` does, without importing torch: every diagnostic, and
    for a program without errors its models and train sections. ``filename`` names a text in
    the diagnostics (default ``<string>``)."""
    return check_source(as_source(source, filename))[0]


def check_source(src: Source) -> tuple[Checked, ir.ProgramIR | None]:
    """What :func:`check` returns for a source, and its checked program (None with errors)."""
    program, diagnostics = _analyze(src)
    return summarize(program, diagnostics, src.shown, src.text), program


def compile(
    source, *, module: str = MODEL_MODULE, data_dir: str = ".", filename: str | None = None
) -> dict[str, str]:
    """The generated sources by file name: ``{module}.py`` and each train section's
    ``train_<model>.py``, exactly as ``nndsl compile net.nn -o {module}.py`` writes them beside
    ``net.nn``. ``data_dir``: the folder of the data files, relative to where the scripts will
    be. Raises :class:`NNDSLError` when the program has errors."""
    src = as_source(source, filename)
    return generate_files(checked_program(src), src, module, data_dir)


def generate_files(
    program: ir.ProgramIR, src: Source, module: str, data_dir: str
) -> dict[str, str]:
    from nndsl.compiler import generate, generate_kit, generate_train

    if program.trains and not module.isidentifier():
        raise ValueError(f"the training scripts import the model as `{module}`: not a name")
    if program.trains and module == KIT_MODULE:
        raise ValueError(f"`{KIT_MODULE}` is the name of the training scripts' support module")
    files = {f"{module}.py": generate(program, src.name)}
    for t in program.trains:
        files[f"{t.script}.py"] = generate_train(t, src.name, module, data_dir=data_dir)
    if program.trains:
        files[f"{KIT_MODULE}.py"] = generate_kit()
    return files
