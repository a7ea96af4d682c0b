"""Exporting a model from Python: :func:`export`, as ``nndsl export`` does."""

from __future__ import annotations

import os
from pathlib import Path

from nndsl.api.core import NNDSLError, as_source, checked_program


def export(
    source,
    path,
    *,
    model: str | None = None,
    weights=None,
    sizes: dict[str, int] | None = None,
    tolerance: float | None = None,
):
    """Export one model of a program to ``path`` (``.onnx`` or ``.pt2``, as ``nndsl export -o``)
    and check the written file against the PyTorch model; returns what was written and the
    differences found. ``model``: needed when the program has several; ``weights``: a ``.pt``
    or ``.safetensors`` state_dict (default: the fresh initialisation, seeded); ``sizes``:
    sizes to fix, such as ``{"T": 100}``; ``tolerance``: the largest absolute difference
    accepted (default 1e-4, 1e-2 for a model in float16 or bfloat16). Raises
    :class:`NNDSLError` with the command line's message when the program has errors, the model
    does not export or the file does not match."""
    src = as_source(source)
    program = checked_program(src)
    from nndsl.run.export.artifact import Request
    from nndsl.run.export.artifact import export as write
    from nndsl.run.export.errors import ExportError

    weights = Path(os.fspath(weights)) if weights is not None else None
    request = Request(
        program, src.text, src.name, src.folder, model, Path(os.fspath(path)), weights,
        dict(sizes or {}), tolerance,
    )  # fmt: skip
    try:
        return write(request)
    except ExportError as err:
        raise NNDSLError(message=str(err)) from None
