"""The checker: resolves names, blocks, repeats and sharing, infers every shape and dtype, and
builds the typed IR (:mod:`nndsl.ir.nodes`). All problems become diagnostics; none stops the others.

Blocks live in :mod:`nndsl.check.blocks`, repeats in :mod:`nndsl.check.repeat`; the values
passed between statements in :mod:`nndsl.check.flow`.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from nndsl.check.bind import emit_args, layer_args
from nndsl.check.blocks import BlockRules
from nndsl.check.flow import (
    Built,
    Flow,
    Scope,
    Shared,
    declared_names,
    from_label,
    is_int,
    kind_of,
    nested_rows,
    second_input,
    too_large,
)
from nndsl.check.forward_types import annotation_of, shown, tensor_infos, type_text
from nndsl.check.graph import GraphRules
from nndsl.check.memory import dtype_refused, mixed_floats
from nndsl.check.record import Recorder, recorded
from nndsl.check.repeat import RepeatRules
from nndsl.diagnostics.core import CompileError, Diagnostic, Label, Reported, source_lines
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim, MissingArgument, RankError, ShapeError, fmt_shape, known
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import literal
from nndsl.lang import syntax as s
from nndsl.registry.dtypes import DTYPES
from nndsl.registry.layers import REGISTRY, Layer, check_rank, complete_args
from nndsl.util.naming import Namespace, local, problem, suggest

MAX_BUILT = 200_000  # layers built and summary rows copied in all: about 3 s of checking


def check(program: s.Program, source: str, base=None) -> tuple[ir.ProgramIR, list[Diagnostic]]:
    """Check a parsed program. Returns the IR and every diagnostic (errors and warnings).
    Data files are read relative to ``base``."""
    return Checker(program, source, base).run()


class Checker(BlockRules, RepeatRules, GraphRules):
    def __init__(self, program: s.Program, source: str, base=None):
        self.program = program
        self.base = base
        self.lines = source_lines(source)
        self.source_sha256 = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        self.diags: list[Diagnostic] = []
        self.built = 0  # modules built so far, every use of a block and iteration of a repeat
        self.blocks: dict[str, s.Block] = {}
        self.block_classes: dict[ir.ClassDef, str] = {}  # body (name "") -> class name
        self.out_classes: list[ir.ClassDef] = []  # dependencies first
        self.class_names: set[str] = set()
        self.stack: list[str] = []
        self.used_blocks: set[str] = set()
        self.model_defs: dict[str, s.Model] = {}
        self.model_infos: dict[str, ir.ModelInfo | None] = {}
        self.rec = Recorder()  # each model's dataflow graph

    # ---- driver -------------------------------------------------------------------------

    def run(self) -> tuple[ir.ProgramIR, list[Diagnostic]]:
        models = self._collect()
        infos = [info for m in models if (info := self._checked_model(m)) is not None]
        for name, block in self.blocks.items():
            if name not in self.used_blocks:
                self._warn("W0102", f"{block.keyword} `{name}` is never used", block.name_span)
        trains = self._trains() if self.trains_defs or self.data_defs else ()
        ok = not any(d.severity == "error" for d in self.diags)
        graphs = self.rec.finish() if ok else ir.Dataflow()
        checked = ir.ProgramIR(tuple(self.out_classes), tuple(infos), trains, graphs)
        if ok:
            from nndsl.check.lints import lint  # warnings only: the IR stays as it is

            self.diags += lint(self.program, checked)
        return checked, self.diags

    def _trains(self) -> tuple[ir.TrainIR, ...]:
        from nndsl.check.data import DataRules
        from nndsl.check.train import TrainRules

        data_rules = DataRules(self.diags, self.base)
        datas = {d.name: data_rules.data(d) for d in self.data_defs}
        used = {t.data for t in self.trains_defs} | {d.validation for d in datas.values()}
        for d in self.data_defs:
            if d.name not in used:
                self._warn(
                    "W0402",
                    f"data `{d.name}` is never used",
                    d.name_span,
                    help=f"train a model on it: `train Model on {d.name} {{ ... }}`",
                )
        rules = TrainRules(self.diags, self.model_infos, datas)
        rules.lines = self.lines
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
        return tuple(out)

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
            if item.name in seen:
                self._error(
                    "E0113",
                    f"`{item.name}` is defined twice",
                    item.name_span,
                    labels=(Label(seen[item.name], "first defined here"),),
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
        members = tuple(m for m in g.scope.members if m is not None)
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

    def _class_def(self, scope, input_name, params, start: Flow, out: Flow, doc) -> ir.ClassDef:
        members = tuple(m for m in scope.members if m is not None)
        return ir.ClassDef(
            "",
            params,
            members,
            input_name,
            tuple(scope.steps),
            doc,
            (start.shown(),),
            out.shown(),
        )

    def _name_ok(self, name: str, span: s.Span, role: str) -> bool:
        why = problem(name, role)
        if why:
            self._error(
                "E0110", f"cannot use the name `{name}`: {why}", span, help="choose another name"
            )
        return why is None

    # ---- statements ---------------------------------------------------------------------

    @recorded("body")
    def _body(self, body: tuple, flow: Flow, scope: Scope) -> Flow:
        for stmt in body:
            flow = self._stmt(stmt, flow, scope)
        for info in scope.shared.values():
            if info.module is None:
                self._warn(
                    "W0101", f"shared layer `{info.attr}` is never used", info.decl.name_span
                )
        return flow

    def _stmt(self, stmt, flow: Flow, scope: Scope) -> Flow:
        self.rec.made = None  # what this statement builds, for the dataflow graph
        match stmt:
            case s.LayerStmt(name=name, name_span=name_span, call=call):
                attr = self._attr(name, name_span, scope)
                built = self._build(call, flow, scope, attr)
                return self._place(built, attr, name is None, flow, scope, stmt.span)
            case s.SharedStmt(name=name, name_span=name_span):
                if self._attr(name, name_span, scope) is not None:
                    scope.shared[name] = Shared(stmt, len(scope.members), name, scope.members)
                    scope.members.append(None)
                return flow
            case s.UseStmt():
                built = self._use(stmt, flow, scope)
                if built is None:
                    return Flow(None, flow.dtype)
                return self._place(built, stmt.name, False, flow, scope, stmt.span, member=False)
            case s.RepeatStmt(name=name, name_span=name_span):
                attr = self._attr(name, name_span, scope)
                built = self._repeat(stmt, flow, scope)
                if built is None:
                    return Flow(None, flow.dtype)
                return self._place(
                    built, attr or scope.ns.fresh("repeat"), False, flow, scope, stmt.span
                )
        raise TypeError(stmt)

    def _attr(self, name, span, scope: Scope) -> str | None:
        if name is None:
            return None
        if not self._name_ok(name, span, "attribute"):
            return None
        if name in scope.named:
            self._error(
                "E0109",
                f"the name `{name}` is used twice in this body",
                span,
                labels=(Label(scope.named[name], "first used here"),),
                help="give each layer its own name, or declare it `shared` to use one layer twice",
            )
            return None
        scope.named[name] = span
        return name

    @recorded("place", "both")
    def _place(
        self, built: Built | None, attr, anonymous, flow: Flow, scope, span, member=True
    ) -> Flow:
        """Add a built module to the class: a member line, a forward step, summary rows."""
        if built is None:
            return Flow(None, flow.dtype)
        if built.result is not None:
            self._error(
                "E0118",
                f"{built.type} returns {type_text(built.result)}, but a stack passes on one tensor",
                span,
                help="call it from a `forward`, where its results can be named",
            )
            return Flow(None, flow.dtype)
        use_func = anonymous and built.func is not None and built.params == 0
        if not use_func and attr is None:
            attr = scope.ns.for_layer(built.type, built.prefix)
        if member and not use_func:
            scope.members.append(ir.Member(attr, built.module))
        scope.params += built.params
        out = built.out
        if out.shape is not None and flow.shape is not None:
            scope.steps.append(
                ir.Step(
                    None if use_func else attr,
                    built.func if use_func else None,
                    built.func_args if use_func else (),
                    built.call,
                    out.shown(),
                    out.code() != flow.code() or out.dtype != flow.dtype,
                    span.line,
                    *built.stack_call(),
                )
            )
            path = "" if use_func else attr
            slot = len(scope.members) - 1 if member else scope.shared[attr].slot
            scope.rows.append(
                ir.Row(
                    path,
                    built.type,
                    out.shape,
                    built.params,
                    not member,
                    tensors=built.tensors,
                    slot=slot,
                    line=built.line,
                    inputs=(flow.shape,),
                )
            )
            if built.rows:
                scope.rows.extend(nested_rows(built.rows, attr))
        return out.at(span)

    # ---- building one module ------------------------------------------------------------

    def _build(
        self, call: s.Call, flow: Flow, scope: Scope, attr: str | None, extra: tuple = ()
    ) -> Built | None:
        """Build a module for ``call`` at its first use; ``extra``: inputs after the first,
        which only a forward passes."""
        self._grow(call, 1)
        built = self._build_module(call, flow, scope, attr, extra)
        if built is not None:
            self._grow(call, len(built.rows))  # each use of a block copies the rows inside
        return built

    def _grow(self, call: s.Call, size: int) -> None:
        """Count what is built; repeats and blocks multiply, so that a few lines can ask for
        years of work (`repeat 10000 { repeat 10000 { ... } }`): refuse beyond MAX_BUILT."""
        self.built += size
        self._refuse_beyond(call.span, self.built)

    def _refuse_beyond(self, span: s.Span, size: int) -> None:
        """E0128 when ``size`` layers, built or about to be, pass MAX_BUILT."""
        if size > MAX_BUILT:
            raise CompileError(
                [
                    Diagnostic(
                        "E0128",
                        "the program is too large to check: "
                        f"it expands to more than {MAX_BUILT:,} layers",
                        span,
                        help="repeats and uses of blocks multiply the layers inside them",
                    )
                ]
            )

    def _build_module(
        self, call: s.Call, flow: Flow, scope: Scope, attr: str | None, extra: tuple = ()
    ) -> Built | None:
        layer = REGISTRY.get(call.name)
        if layer is not None:
            return self._layer(call, layer, flow, scope.env, attr, extra)
        if call.name in self.blocks:
            return self._block(call, self.blocks[call.name], flow, scope.env, extra)
        if call.name in self.model_defs:
            return self._model_use(call, flow, extra)
        candidates = list(REGISTRY) + list(self.blocks) + list(self.model_defs)
        hint = suggest(call.name, candidates)
        self._error("E0101", f"unknown layer `{call.name}`", call.name_span, help=hint)
        return None

    def _inputs_ok(self, call, layer: Layer, extra: tuple) -> bool:
        if len(extra) + 1 == layer.inputs:
            return True
        where = "a stack passes on one" if not extra else f"{1 + len(extra)} are given"
        self._error(
            "E0118",
            f"{layer.name} takes {layer.inputs} input{'s' if layer.inputs > 1 else ''} but {where}",
            call.span,
            help="call it from a `forward` with all its inputs" if not extra else None,
        )
        return False

    @recorded("layer", "after")
    def _layer(self, call, layer: Layer, flow: Flow, env, attr, extra: tuple = ()) -> Built | None:
        bound = layer_args(call, layer, env, self.diags)
        if bound is None or flow.shape is None:
            return None
        if layer.call == "tensor" and not self._inputs_ok(call, layer, extra):
            return None
        values, nodes = bound
        label = f"`{attr}`" if attr else layer.name
        given = {k: (Dim(v.py, v.text) if is_int(v.py) else v.py) for k, v in values.items()}
        try:
            if extra:
                second_input(layer, given, extra[0], label)
            check_rank(layer, flow.shape)
            if (refused := dtype_refused(layer, flow, call)) is not None:
                self.diags.append(refused)
                raise Reported
            args = complete_args(layer, given, flow.shape)
            self._explicit_ok(call, layer, label, values, nodes, flow)
            out = layer.shape(args, flow.shape)
        except ShapeError as err:
            self._shape_error(err, call, nodes, flow, layer)
            return None
        except Reported:
            return None
        self._grow(call, layer.depth(args) - 1 if layer.depth else 0)  # before listing tensors
        params = layer.params(args)
        if (big := too_large(label, out, params)) is not None:
            self._error("E0127", big, call.span)
            return None
        emitted = emit_args(layer, args, values)
        return Built(
            ir.LayerNew(layer.ctor, emitted),
            flow.then(tuple(out), layer.out_dtype or flow.dtype, call.span),
            params,
            layer.name,
            layer.call,
            layer.functional,
            emitted,
            args=args,
            tensors=layer.tensors(args),
            entry=layer,
        )

    def _explicit_ok(self, call, layer, label, values, nodes, flow) -> None:
        for spec in layer.args:
            if spec.infer is None or spec.name not in values:
                continue
            inferred = spec.infer(flow.shape)
            explicit = values[spec.name].py
            if known(inferred) and int(inferred) != explicit:
                rest = [self._text(a.span) for a in call.args if a is not nodes[spec.name]]
                self._error(
                    "E0301",
                    f"{label} expects {spec.name}={explicit} but receives {int(inferred)}",
                    nodes[spec.name].span,
                    label=f"expects {explicit}",
                    labels=from_label(flow),
                    help=f"write `{call.name}({', '.join(rest)})` "
                    f"and let nndsl infer {int(inferred)}",
                )
                raise Reported

    def _shape_error(self, err: ShapeError, call, nodes, flow: Flow, layer: Layer) -> None:
        span = nodes[err.arg].span if err.arg in nodes else call.span
        rank = isinstance(err, RankError)
        hint = err.help or (layer.rank_help if rank else None)
        if rank and hint is None:
            if len(flow.shape) > 2 and layer.ranks and min(layer.ranks) == 2:
                hint = "add `Flatten()` before it"
            elif len(flow.shape) == 2 and layer.ranks and min(layer.ranks) > 2:
                hint = "add `Unflatten(1, (C, H, W))` before it, or check the model input"
        code = "E0302" if rank else "E0103" if isinstance(err, MissingArgument) else "E0303"
        self._error(code, err.message, span, labels=from_label(flow), help=hint)

    def _text(self, span: s.Span) -> str:
        line = self.lines[span.line - 1] if span.line <= len(self.lines) else ""
        if span.end_line != span.line:
            return line[span.column - 1 :].strip()
        return line[span.column - 1 : span.end_column - 1]

    # ---- sharing ------------------------------------------------------------------------

    def _use(self, stmt: s.UseStmt, flow: Flow, scope: Scope) -> Built | None:
        info = scope.shared.get(stmt.name)
        if info is None:
            self._unknown_use(stmt, scope)
            return None
        return self._call_shared(info, stmt, flow, scope)

    @recorded("call_shared")
    def _call_shared(self, info: Shared, node, flow: Flow, scope: Scope, extra=()) -> Built | None:
        """A use of a module declared once: the first builds it, later ones must fit it."""
        if info.module is None:  # first use builds it
            built = self._build(info.decl.call, flow, scope, info.attr, extra)
            if built is None:
                info.module = ir.SharedRef(info.attr)  # reported; don't report again
                return None
            info.module, info.first, info.in_shape = built.module, node.span, flow.shape
            info.out, info.rows, info.result = built.out, built.rows, built.result
            info.layer, info.args = REGISTRY.get(info.decl.call.name), built.args
            info.owner[info.slot] = ir.Member(info.attr, built.module)
            return replace(built, func=None)
        if flow.shape is None or info.in_shape is None:
            return None
        return self._reuse(info, node, flow)

    def _reuse(self, info: Shared, stmt: s.UseStmt, flow: Flow) -> Built | None:
        first = (Label(info.first, f"first used here with input {fmt_shape(info.in_shape)}"),)
        layer = info.layer
        same = fmt_shape(flow.shape) == fmt_shape(info.in_shape)
        if layer is None and not same:  # a shared block serves exactly one input shape
            self._error(
                "E0304",
                f"shared block `{info.attr}` receives {fmt_shape(flow.shape)} here",
                stmt.span,
                labels=first + from_label(flow),
            )
            return None
        if layer is None:
            again = [replace(r, params=0, shared=True) for r in info.rows]
            return Built(
                ir.SharedRef(info.attr),
                info.out.at(stmt.span),
                0,
                info.decl.call.name,
                rows=again,
                result=info.result,
            )
        # a registry layer: its fixed arguments must fit the new input
        try:
            check_rank(layer, flow.shape)
            for spec in layer.args:
                if spec.infer is None:
                    continue
                now, then = spec.infer(flow.shape), info.args[spec.name]
                if known(now) and int(now) != int(then):
                    raise ShapeError(
                        f"layer `{info.attr}` was built with {spec.name}={int(then)} "
                        f"but receives {int(now)} here"
                    )
            out = layer.shape(info.args, flow.shape)
        except ShapeError as err:
            self._error(
                "E0304",
                err.message,
                stmt.span,
                labels=first + from_label(flow),
                help="a layer used twice shares its weights, "
                "so it must receive the same sizes each time",
            )
            return None
        return Built(
            ir.SharedRef(info.attr),
            Flow(tuple(out), flow.dtype, stmt.span),
            0,
            layer.name,
            layer.call,
            tensors=layer.tensors(info.args),
            entry=layer,
        )

    def _unknown_use(self, stmt: s.UseStmt, scope: Scope) -> None:
        if stmt.name in scope.named:
            self._error(
                "E0114",
                f"`{stmt.name}` is not shared",
                stmt.span,
                labels=(Label(scope.named[stmt.name], "declared here"),),
                help=f"declare it with `shared {stmt.name} = ...` "
                "to use one layer in several places",
            )
        elif stmt.name in REGISTRY or stmt.name in self.blocks:
            self._error(
                "E0101",
                f"`{stmt.name}` needs parentheses",
                stmt.span,
                help=f"write `{stmt.name}()`",
            )
        else:
            hint = suggest(stmt.name, list(scope.shared) + list(REGISTRY) + list(self.blocks))
            self._error("E0108", f"`{stmt.name}` is not defined", stmt.span, help=hint)
