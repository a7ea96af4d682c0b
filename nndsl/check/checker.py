"""The checker: resolves names, blocks, repeats and sharing, infers every shape and dtype, and
builds the typed IR (:mod:`nndsl.ir.nodes`). All problems become diagnostics; none stops the others.

Stack bodies live in :mod:`nndsl.check.stack`, building one module in
:mod:`nndsl.check.modules`, blocks in :mod:`nndsl.check.blocks`, repeats in
:mod:`nndsl.check.repeat`, hand-written forwards in :mod:`nndsl.check.graph`; the values passed
between statements in :mod:`nndsl.check.flow`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import partial

from nndsl.check.blocks import BlockRules
from nndsl.check.escape import EscapeRules, stray_declarations
from nndsl.check.fixes import drop_forward_params
from nndsl.check.flow import (
    Flow,
    Scope,
    declared_names,
    kind_of,
)
from nndsl.check.forward_types import annotation_of, shown, tensor_infos
from nndsl.check.graph import GraphRules
from nndsl.check.imports import read_imports
from nndsl.check.memory import mixed_floats
from nndsl.check.modules import ModuleRules
from nndsl.check.record import Recorder, links, recorded
from nndsl.check.repeat import RepeatRules
from nndsl.check.sequence import SequenceRules
from nndsl.check.stack import StackRules
from nndsl.check.unify import ClassBook, ordered
from nndsl.diagnostics.core import Diagnostic, Label, source_lines
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim, known
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import literal
from nndsl.lang import syntax as s
from nndsl.registry.dtypes import DTYPES
from nndsl.registry.layers import REGISTRY
from nndsl.util.naming import Namespace, local, problem, suggest


def check(program: s.Program, source: str, base=None) -> tuple[ir.ProgramIR, list[Diagnostic]]:
    """Check a parsed program. Returns the IR and every diagnostic (errors and warnings).
    Data files are read relative to ``base``."""
    return Checker(program, source, base).run()


class Checker(
    StackRules, ModuleRules, BlockRules, RepeatRules, SequenceRules, GraphRules, EscapeRules
):
    def __init__(self, program: s.Program, source: str, base=None):
        self.program = program
        self.base = base
        self.lines = source_lines(source)
        self.source_sha256 = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        self.diags: list[Diagnostic] = []
        self.built = 0  # modules built so far, every use of a block and iteration of a repeat
        self.blocks: dict[str, s.Block] = {}
        self.block_classes: dict[tuple, str] = {}  # (body, argument values) -> class name
        self.class_book = ClassBook()  # each block class, put together from its uses
        self.out_classes: list[ir.ClassDef | str] = []  # models, and block classes by name
        self.class_names: set[str] = set()
        self.stack: list[str] = []
        self.used_blocks: set[str] = set()
        self.model_defs: dict[str, s.Model] = {}
        self.model_infos: dict[str, ir.ModelInfo | None] = {}
        self.rec = Recorder()  # each model's dataflow graph
        self.layer_memo: dict[tuple, tuple] = {}  # registry layers built, by memo_key
        # the classes of Python files beside the source, by name: (module, where imported)
        self.imported, self.imports = read_imports(program.items, base, self.diags)
        self.diags += stray_declarations(program.items)

    # ---- driver -------------------------------------------------------------------------

    def run(self) -> tuple[ir.ProgramIR, list[Diagnostic]]:
        models = self._collect()
        infos = [info for m in models if (info := self._checked_model(m)) is not None]
        for name, block in self.blocks.items():
            if name not in self.used_blocks:
                self._warn("W0102", f"{block.keyword} `{name}` is never used", block.name_span)
        trains, datas = self._trains() if self.trains_defs or self.data_defs else ((), ())
        ok = not any(d.severity == "error" for d in self.diags)
        graphs = self.rec.finish() if ok else ir.Dataflow()
        classes = [self.class_book.final(c) if isinstance(c, str) else c for c in self.out_classes]
        checked = ir.ProgramIR(
            tuple(ordered(classes)), tuple(infos), trains, graphs, datas, self.imports
        )
        if ok:
            from nndsl.check.lints import lint  # warnings only: the IR stays as it is

            self.diags += lint(self.program, checked)
        return checked, self.diags

    def _trains(self) -> tuple[tuple[ir.TrainIR, ...], tuple[ir.DataTable, ...]]:
        """The train sections, and the data sections as ``nndsl check`` lists them."""
        from nndsl.check.data import DataRules, data_table
        from nndsl.check.predict import predicted_sections
        from nndsl.check.train import TrainRules

        data_rules = DataRules(self.diags, self.base)
        datas = {d.name: data_rules.data(d) for d in self.data_defs}
        used = {t.data for t in self.trains_defs} | {d.validation for d in datas.values()}
        used |= {d.test_data for d in datas.values()} | predicted_sections(self.trains_defs)
        for d in self.data_defs:
            if d.name not in used:
                self._warn(
                    "W0402",
                    f"data `{d.name}` is never used",
                    d.name_span,
                    help=f"train a model on it: `train Model on {d.name} {{ ... }}`",
                )
        rules = TrainRules(self.diags, self.model_infos, datas, partial(links, self.rec))
        rules.lines = self.lines
        rules.base = self.base  # the folder `init from` files are found in, as data files
        rules.syntax = self.model_defs  # the models as written: the names their outputs have
        out, seen = [], {}
        for node in self.trains_defs:
            if node.model in seen:
                self._error(
                    "E0410",
                    f"`{node.model}` already has a train section",
                    node.model_span,
                    labels=(Label(seen[node.model], "the first one"),),
                    help="one train section per model: each becomes its own script",
                )
                continue
            seen[node.model] = node.model_span
            t = rules.train(node)
            if t is not None:
                out.append(replace(t, source_sha256=self.source_sha256))
        return tuple(out), tuple(data_table(d) for d in datas.values())

    def _error(self, code, message, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, **kw))

    def _warn(self, code, message, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, severity="warning", **kw))

    def _collect(self) -> list[s.Model]:
        seen: dict[str, s.Span] = {}
        models = []
        self.data_defs: list[s.Data] = []
        self.trains_defs: list[s.Train] = []
        data_seen: dict[str, s.Span] = {}
        for item in self.program.items:
            if isinstance(item, s.Import):
                continue
            if isinstance(item, s.Train):
                self.trains_defs.append(item)
                continue
            if isinstance(item, s.Data):
                if item.name in data_seen:
                    self._error(
                        "E0113",
                        f"data `{item.name}` is defined twice",
                        item.name_span,
                        labels=(Label(data_seen[item.name], "first defined here"),),
                    )
                    continue
                data_seen[item.name] = item.name_span
                self.data_defs.append(item)
                continue
            why = problem(item.name, "class")
            if why:
                self._error(
                    "E0110", f"cannot name a {kind_of(item)} `{item.name}`: {why}", item.name_span
                )
                continue
            if item.name in REGISTRY:
                self._error(
                    "E0113",
                    f"`{item.name}` is a built-in layer",
                    item.name_span,
                    help=f"give the {kind_of(item)} another name",
                )
                continue
            first = seen.get(item.name) or self.imported.get(item.name, (None, None))[1]
            if first is not None:
                self._error(
                    "E0113",
                    f"`{item.name}` is defined twice",
                    item.name_span,
                    labels=(Label(first, "first defined here"),),
                )
                continue
            seen[item.name] = item.name_span
            self.class_names.add(item.name)
            if isinstance(item, s.Block):
                self.blocks[item.name] = item
            else:
                self.model_defs[item.name] = item
                models.append(item)
        return models

    # ---- models -------------------------------------------------------------------------

    def _checked_model(self, model: s.Model) -> ir.ModelInfo | None:
        """Check a model once, on its first use or in file order; None after errors."""
        if model.name not in self.model_infos:
            self.stack.append(model.name)
            self.model_infos[model.name] = None  # a use of itself, met while checking, fails
            try:
                info = self._graph_model(model) if model.forward else self._model(model)
            finally:
                self.stack.pop()
            self.model_infos[model.name] = info
        return self.model_infos[model.name]

    @recorded("model")
    def _graph_model(self, model: s.Model) -> ir.ModelInfo | None:
        if model.forward.params is not None:
            self._error(
                "E0117",
                "a model's forward takes the inputs its header declares",
                model.forward.span,
                help="write `forward { ... }`",
                fix=drop_forward_params(self.lines, model.forward),
            )
            return None
        inputs = []
        for inp in model.inputs:
            shape, dtype = self._input_shape(inp)
            if shape is None:
                return None
            inputs.append(ir.TensorInfo(shape, dtype, inp.name, inp.optional))
        if (mixed := mixed_floats(model, inputs)) is not None:
            self.diags.append(mixed)
            return None
        scope = Scope(env={}, ns=Namespace(declared_names(model.body)))
        feature = None
        if inputs and len(inputs[0].shape) >= 2:
            dim = inputs[0].shape[-1 if len(inputs[0].shape) <= 3 else 1]
            feature = literal(int(dim)) if known(dim) else None
        g = self._graph(
            model.body,
            model.forward,
            [
                (i.name, Tensor(i.shape, i.dtype), inp.span, i.optional)
                for i, inp in zip(inputs, model.inputs)
            ],
            scope,
            feature,
        )
        if g.returned is None:
            return None
        self.out_classes.append(self._graph_class(model.name, f"model {model.name}", (), inputs, g))
        return ir.ModelInfo(
            model.name, tuple(inputs), tensor_infos(g.returned), tuple(scope.rows), scope.params
        )

    def _graph_class(self, name, doc, params, inputs, g) -> ir.ClassDef:
        members = tuple(m for m in g.scope.members if m is not None) + tuple(g.scope.ties)
        return ir.ClassDef(
            name,
            params,
            members,
            inputs[0].name if inputs else "",
            (),
            doc,
            tuple(shown(Tensor(i.shape, i.dtype)) for i in inputs),
            shown(g.returned),
            tuple(ir.InputDecl(local(i.name), i.optional) for i in inputs),
            tuple(g.body),
            annotation_of(g.returned),
        )

    @recorded("model")
    def _model(self, model: s.Model) -> ir.ModelInfo | None:
        if len(model.inputs) != 1:
            span = model.inputs[1].span if model.inputs else model.name_span
            self._error(
                "E0117",
                f"a stack model takes exactly one input, `{model.name}` has {len(model.inputs)}",
                span,
                help="declare one input, or write a `forward` to connect several",
            )
            return None
        inp = model.inputs[0]
        shape, dtype = self._input_shape(inp)
        if shape is None or not self._name_ok(inp.name, inp.span, "local"):
            return None
        if shape[0] != "B" or inp.optional:
            self._error(
                "E0117",
                "a stack model takes one tensor, its batch first",
                inp.span,
                help="write a `forward` to take other inputs",
            )
            return None
        scope = Scope(env={}, ns=Namespace(declared_names(model.body)))
        start = Flow(shape, dtype, inp.span)
        out = self._body(model.body, start, scope)
        if out.shape is None:
            return None
        body = self._class_def(scope, local(inp.name), (), start, out, f"model {model.name}")
        self.out_classes.append(replace(body, name=model.name))
        return ir.ModelInfo(
            model.name,
            (ir.TensorInfo(shape, dtype, inp.name),),
            ir.TensorInfo(out.shape, out.dtype),
            tuple(scope.rows),
            scope.params,
        )

    def _input_shape(self, inp: s.Input) -> tuple[tuple | None, str]:
        batch = [d for d in inp.shape if d.value == "B"]
        dims: list = [] if batch else ["B"]
        if len(batch) > 1:
            self._error("E0310", "`B` (the batch) appears twice", batch[1].span)
            return None, "float32"
        for d in inp.shape:
            if isinstance(d.value, int):
                if d.value < 1:
                    self._error("E0125", f"a size must be at least 1, not {d.value}", d.span)
                    return None, "float32"
                dims.append(Dim(d.value))
            else:
                dims.append(d.value)
        dtype = "float32"
        if inp.dtype is not None:
            if inp.dtype not in DTYPES:
                self._error(
                    "E0106",
                    f"unknown dtype `{inp.dtype}`",
                    inp.dtype_span,
                    help=suggest(inp.dtype, DTYPES) or f"use one of {', '.join(DTYPES)}",
                )
                return None, dtype
            dtype = DTYPES[inp.dtype]
        return tuple(dims), dtype

    def _name_ok(self, name: str, span: s.Span, role: str) -> bool:
        why = problem(name, role)
        if why:
            self._error(
                "E0110", f"cannot use the name `{name}`: {why}", span, help="choose another name"
            )
        return why is None
