"""The Python API: check, compile, load, train and export ``.nn`` programs from Python.

Described in docs/API.md. Each function takes a path (a :class:`~pathlib.Path`, or a string
with no line break and no ``{``) or the program's text, and goes through the same pipeline as
the command line: :func:`check` is ``nndsl check`` (and never imports torch), :func:`compile`
returns exactly the files ``nndsl compile`` writes, :func:`load` executes that very text,
:func:`train` runs its training script in process, as ``nndsl run`` does; :func:`export`
writes a model as ONNX or a torch.export program, as ``nndsl export`` does. A program with
errors raises :class:`NNDSLError`, whose text is what the command line prints.
"""

from __future__ import annotations

from nndsl.api.core import NNDSLError, check, compile
from nndsl.api.exporting import export
from nndsl.api.loading import Trained, load, loads, train
from nndsl.api.summary import (
    Checked,
    LayerRow,
    ModelSummary,
    ParameterRow,
    TensorSpec,
    TrainSummary,
)

__all__ = [
    "check",
    "compile",
    "load",
    "loads",
    "train",
    "export",
    "NNDSLError",
    "Checked",
    "ModelSummary",
    "TensorSpec",
    "LayerRow",
    "TrainSummary",
    "ParameterRow",
    "Trained",
]
