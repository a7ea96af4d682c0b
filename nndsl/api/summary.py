"""What :func:`nndsl.check` returns: frozen dataclasses built from the checked program, which
stay the same when the IR they are read from changes."""

from __future__ import annotations

import dataclasses
import html

from nndsl.diagnostics.core import Diagnostic, has_errors, render_json, render_short, render_text
from nndsl.ir import nodes as ir
from nndsl.tools.summary import model_table, section_tables
from nndsl.util.frozen import frozen


@frozen
class TensorSpec:
    """A tensor a model takes or returns: its name (an input's), shape (ints, ``"B"`` or
    another symbol, None where unknown) and dtype; an optional input may be None."""

    name: str
    shape: tuple
    dtype: str
    optional: bool = False


@frozen
class LayerRow:
    """One row of a model's layer table: the module path (``""`` for a functional call), the
    layer type, the output shape, the trainable parameters (0 for a later use of a shared
    layer), its depth among blocks and the source line that declares it."""

    path: str
    type: str
    shape: tuple
    params: int
    shared: bool
    depth: int
    line: int

    @property
    def shape_text(self) -> str:
        """The output shape as ``nndsl check`` writes it: ``(B, 8)``."""
        return ir.shape_text(self.shape)


@frozen
class ModelSummary:
    """A checked model: its inputs, its outputs (in the order its forward returns them,
    nested tuples flattened), its layer table and its trainable parameter count."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    layers: tuple[LayerRow, ...]
    params: int
    table: str = dataclasses.field(default="", repr=False)  # as `nndsl check` prints it

    @property
    def input_shape(self) -> tuple:
        """The first input's shape."""
        return self.inputs[0].shape

    @property
    def output_shape(self) -> tuple:
        """The first output's shape."""
        return self.outputs[0].shape

    def __str__(self) -> str:
        """The layer table ``nndsl check`` prints for this model."""
        return self.table

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        """The layer table as HTML: path, type, output shape and parameters, then the total."""
        inputs = ", ".join(ir.shape_text(t.shape) for t in self.inputs)
        outputs = ", ".join(ir.shape_text(t.shape) for t in self.outputs)
        outputs = outputs if len(self.outputs) == 1 else f"({outputs})"
        rows = [
            _html_row(
                "&nbsp;" * 2 * r.depth + html.escape(r.path or "-"),
                html.escape(r.type),
                html.escape(r.shape_text),
                "(shared)" if r.shared and not r.params else f"{r.params:,}",
            )
            for r in self.layers
        ]
        return "\n".join(
            [
                '<table class="nndsl-model">',
                f"<caption>{html.escape(f'model {self.name}: {inputs} -> {outputs}')}</caption>",
                _html_row("Layer", "Type", "Output shape", "Params", cell="th"),
                *rows,
                _html_row("Total params", "", "", f"{self.params:,}", cell="th"),
                "</table>",
            ]
        )


def _html_row(*cells: str, cell: str = "td") -> str:
    """A row of a layer table, its cells HTML already: the last (the parameters) right-aligned,
    the others left-aligned, as in the text table."""
    left = "".join(f'<{cell} style="text-align:left">{x}</{cell}>' for x in cells[:-1])
    return f'<tr>{left}<{cell} style="text-align:right">{cells[-1]}</{cell}></tr>'


@frozen
class ParameterRow:
    """A parameter of a trained model: its name, shape, the init rule that sets it and the
    optimizer group that holds it."""

    name: str
    shape: tuple
    init: str
    group: str


@frozen
class TrainSummary:
    """A checked ``train`` section: the model and data it names, the script's file name, the
    loss and optimizer (as the PyTorch they become), the defaults of the script's ``Config``
    (each also a command-line flag and an override of :func:`train`) and the parameter table."""

    model: str
    data: str
    script: str
    loss: str
    optimizer: str
    config: dict
    parameters: tuple[ParameterRow, ...]
    summary: str
    line: int


@frozen
class Checked:
    """What :func:`check` found: every diagnostic, and the models and train sections of a
    program without errors (empty otherwise)."""

    diagnostics: tuple[Diagnostic, ...]
    models: tuple[ModelSummary, ...]
    trains: tuple[TrainSummary, ...]
    filename: str
    text: str = dataclasses.field(repr=False)
    sections: tuple[str, ...] = dataclasses.field(default=(), repr=False)  # their tables

    @property
    def ok(self) -> bool:
        """No errors (warnings may remain)."""
        return not has_errors(list(self.diagnostics))

    def model(self, name: str) -> ModelSummary:
        """The model called ``name``; KeyError when there is none."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def render(self, format: str = "text") -> str:
        """The diagnostics as the command line prints them: ``text``, ``short`` or ``json``."""
        diagnostics = list(self.diagnostics)
        if format == "json":
            return render_json(diagnostics, self.filename)
        if format == "short":
            return render_short(diagnostics, self.filename)
        return render_text(diagnostics, self.text, self.filename)

    def __str__(self) -> str:
        """What ``nndsl check`` prints: the diagnostics, then the tables of each model and of
        each data and train section."""
        return self.render() + "\n".join([m.table for m in self.models] + list(self.sections))

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        """The diagnostics in a ``<pre>`` block, each model's layer table as an HTML table, and
        the tables of the data and train sections in a ``<pre>`` block."""
        parts = [f"<pre>{html.escape(self.render())}</pre>"] if self.diagnostics else []
        parts += [m._repr_html_() for m in self.models]
        if self.sections:
            parts.append(f"<pre>{html.escape(chr(10).join(self.sections))}</pre>")
        return "\n".join(parts)


def summarize(program: ir.ProgramIR | None, diagnostics, filename: str, text: str) -> Checked:
    """What :func:`check` returns for a checked program (None: it has errors) and every
    diagnostic found."""
    if program is None:
        return Checked(tuple(diagnostics), (), (), filename, text)
    models = tuple(_model(m) for m in program.models)
    trains = tuple(_train(t) for t in program.trains)
    sections = tuple(section_tables(program))
    return Checked(tuple(diagnostics), models, trains, filename, text, sections)


def _flat(returns) -> tuple[TensorSpec, ...]:
    if isinstance(returns, tuple):
        return tuple(t for r in returns for t in _flat(r))
    return (TensorSpec(returns.name, returns.shape, returns.dtype, returns.optional),)


def _model(m: ir.ModelInfo) -> ModelSummary:
    inputs = tuple(TensorSpec(t.name, t.shape, t.dtype, t.optional) for t in m.inputs)
    rows = tuple(
        LayerRow(r.path, r.type, r.shape, r.params, r.shared, r.depth, r.line) for r in m.rows
    )
    return ModelSummary(m.name, inputs, _flat(m.returns), rows, m.total_params, model_table(m))


def _train(t: ir.TrainIR) -> TrainSummary:
    return TrainSummary(
        model=t.model,
        data=t.data.name,
        script=f"{t.script}.py",
        loss=t.loss.target,
        optimizer=t.optimizer.call.target,
        config={f.name: f.default for f in t.config},
        parameters=tuple(ParameterRow(*row) for row in t.table),
        summary=t.summary,
        line=t.source_line,
    )
