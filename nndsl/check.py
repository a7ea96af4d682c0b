"""The checker: resolves names, blocks, repeats and sharing, infers every shape and dtype, and
builds the typed IR (:mod:`nndsl.ir`). All problems become diagnostics; none stops the others.

Blocks are elaborated once per use, with that use's arguments and input shape. Sizes that come
from the block's own input become constructor parameters (``in_features``, ``in_channels``), so
one generated class serves every use whose body reads the same; a use that needs different code
gets its own class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from . import ir
from . import syntax as s
from .bind import eval_diag, layer_args, match_args, suggest
from .diagnostics import Diagnostic, Label
from .layers import REGISTRY, Layer, check_rank, complete_args
from .naming import Namespace, local, problem, snake
from .pyexpr import EvalError, Value, evaluate, literal
from .shapes import Dim, ShapeError, expr_of, fmt_shape, known

MAX_REPEAT = 10_000
DTYPES = {
    "float": "float32", "float32": "float32", "double": "float64", "float64": "float64",
    "half": "float16", "float16": "float16", "bfloat16": "bfloat16", "long": "int64",
    "int64": "int64", "int": "int32", "int32": "int32", "bool": "bool",
}  # fmt: skip


@dataclass
class Flow:
    """The tensor flowing through a stack: shape (None once an error made it unknown), dtype,
    and where it was produced, for secondary labels."""

    shape: tuple | None
    dtype: str
    span: s.Span | None = None


@dataclass
class Shared:
    decl: s.SharedStmt
    slot: int  # index of its placeholder in the owner's members
    attr: str
    owner: list  # the members list holding the placeholder
    first: s.Span | None = None
    layer: Layer | None = None
    args: dict | None = None
    in_shape: tuple | None = None
    module: ir.ModuleNew | None = None


@dataclass
class Scope:
    """One generated class under construction."""

    env: dict[str, Value]
    ns: Namespace
    members: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    shared: dict[str, Shared] = field(default_factory=dict)
    named: dict[str, s.Span] = field(default_factory=dict)
    params: int = 0


@dataclass
class Built:
    """A constructed module and what a stack needs to call it."""

    module: ir.ModuleNew
    out: Flow
    params: int
    type: str
    call: str = "tensor"
    func: str | None = None
    func_args: tuple = ()
    rows: list = field(default_factory=list)
    args: dict | None = None  # a registry layer's complete arguments


def check(program: s.Program, source: str) -> tuple[ir.ProgramIR, list[Diagnostic]]:
    """Check a parsed program. Returns the IR and every diagnostic (errors and warnings)."""
    return Checker(program, source).run()


class Checker:
    def __init__(self, program: s.Program, source: str):
        self.program = program
        self.lines = source.splitlines()
        self.diags: list[Diagnostic] = []
        self.blocks: dict[str, s.Block] = {}
        self.block_classes: dict[ir.ClassDef, str] = {}  # body (name "") -> class name
        self.out_classes: list[ir.ClassDef] = []  # dependencies first
        self.class_names: set[str] = set()
        self.stack: list[str] = []
        self.used_blocks: set[str] = set()

    # ---- driver -------------------------------------------------------------------------

    def run(self) -> tuple[ir.ProgramIR, list[Diagnostic]]:
        models = self._collect()
        infos = [info for m in models if (info := self._model(m)) is not None]
        for name, block in self.blocks.items():
            if name not in self.used_blocks:
                self._warn("W0102", f"block `{name}` is never used", block.name_span)
        return ir.ProgramIR(tuple(self.out_classes), tuple(infos)), self.diags

    def _error(self, code, message, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, **kw))

    def _warn(self, code, message, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, severity="warning", **kw))

    def _collect(self) -> list[s.Model]:
        seen: dict[str, s.Span] = {}
        models = []
        for item in self.program.items:
            why = problem(item.name, "class")
            if why:
                self._error("E0110", f"cannot name a {_kind(item)} `{item.name}`: {why}", item.name_span)
                continue
            if item.name in REGISTRY:
                self._error(
                    "E0113",
                    f"`{item.name}` is a built-in layer",
                    item.name_span,
                    help=f"give the {_kind(item)} another name",
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
                models.append(item)
        return models

    # ---- models -------------------------------------------------------------------------

    def _model(self, model: s.Model) -> ir.ModelInfo | None:
        if len(model.inputs) != 1:
            span = model.inputs[1].span if model.inputs else model.name_span
            self._error(
                "E0117",
                f"a stack model takes exactly one input, `{model.name}` has {len(model.inputs)}",
                span,
                help="declare one input, e.g. `model Net(x: [784])`",
            )
            return None
        inp = model.inputs[0]
        shape, dtype = self._input_shape(inp)
        if shape is None or not self._name_ok(inp.name, inp.span, "local"):
            return None
        scope = Scope(env={}, ns=Namespace(_declared_names(model.body)))
        start = Flow(shape, dtype, inp.span)
        out = self._body(model.body, start, scope)
        if out.shape is None:
            return None
        body = self._class_def(scope, local(inp.name), (), start, out, f"model {model.name}")
        self.out_classes.append(replace(body, name=model.name))
        return ir.ModelInfo(
            model.name, inp.name, shape, dtype, out.shape, out.dtype, tuple(scope.rows), scope.params
        )

    def _input_shape(self, inp: s.Input) -> tuple[tuple | None, str]:
        dims: list = ["B"]
        for d in inp.shape:
            if isinstance(d.value, int):
                if d.value < 1:
                    self._error("E0107", f"a size must be at least 1, not {d.value}", d.span)
                    return None, "float32"
                dims.append(Dim(d.value))
            elif d.value == "B":
                self._error(
                    "E0107",
                    "`B` is the batch dimension, which every input has implicitly",
                    d.span,
                    help="leave it out: `x: [3, 32, 32]` means (B, 3, 32, 32)",
                )
                return None, "float32"
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
            "", params, members, input_name, tuple(scope.steps), doc,
            code_shape(start.shape), code_shape(out.shape),
        )  # fmt: skip

    def _name_ok(self, name: str, span: s.Span, role: str) -> bool:
        why = problem(name, role)
        if why:
            self._error("E0110", f"cannot use the name `{name}`: {why}", span, help="choose another name")
        return why is None

    # ---- statements ---------------------------------------------------------------------

    def _body(self, body: tuple, flow: Flow, scope: Scope) -> Flow:
        for stmt in body:
            flow = self._stmt(stmt, flow, scope)
        for info in scope.shared.values():
            if info.module is None:
                self._warn("W0101", f"shared layer `{info.attr}` is never used", info.decl.name_span)
        return flow

    def _stmt(self, stmt, flow: Flow, scope: Scope) -> Flow:
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
                return self._place(built, attr or scope.ns.fresh("repeat"), False, flow, scope, stmt.span)
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

    def _place(self, built: Built | None, attr, anonymous, flow: Flow, scope, span, member=True) -> Flow:
        """Add a built module to the class: a member line, a forward step, summary rows."""
        if built is None:
            return Flow(None, flow.dtype)
        use_func = anonymous and built.func is not None and built.params == 0
        if not use_func and attr is None:
            attr = scope.ns.for_layer(built.type)
        if member and not use_func:
            scope.members.append(ir.Member(attr, built.module))
        scope.params += built.params
        out = built.out
        if out.shape is not None and flow.shape is not None:
            shape_text = code_shape(out.shape)
            scope.steps.append(
                ir.Step(
                    None if use_func else attr,
                    built.func if use_func else None,
                    built.func_args if use_func else (),
                    built.call,
                    shape_text,
                    shape_text != code_shape(flow.shape) or out.dtype != flow.dtype,
                    span.line,
                )
            )
            path = "" if use_func else attr
            scope.rows.append(ir.Row(path, built.type, fmt_shape(out.shape), built.params, not member))
            scope.rows.extend(_nested(built.rows, attr))
        return Flow(out.shape, out.dtype, span)

    # ---- building one module ------------------------------------------------------------

    def _build(self, call: s.Call, flow: Flow, scope: Scope, attr: str | None) -> Built | None:
        layer = REGISTRY.get(call.name)
        if layer is not None:
            return self._layer(call, layer, flow, scope.env, attr)
        if call.name in self.blocks:
            return self._block(call, self.blocks[call.name], flow, scope.env)
        candidates = list(REGISTRY) + list(self.blocks)
        hint = suggest(call.name, candidates)
        if hint is None and call.name in self.class_names:
            hint = "a model cannot be used as a layer; make it a `block`"
        self._error("E0101", f"unknown layer `{call.name}`", call.name_span, help=hint)
        return None

    def _layer(self, call, layer: Layer, flow: Flow, env, attr) -> Built | None:
        bound = layer_args(call, layer, env, self.diags)
        if bound is None or flow.shape is None:
            return None
        values, nodes = bound
        label = f"`{attr}`" if attr else layer.name
        given = {k: (Dim(v.py, v.code) if _int(v.py) else v.py) for k, v in values.items()}
        try:
            check_rank(layer, flow.shape)
            self._dtype_ok(layer, flow, call)
            args = complete_args(layer, given, flow.shape)
            self._explicit_ok(call, layer, label, values, nodes, flow)
            out = layer.shape(args, flow.shape)
        except ShapeError as err:
            self._shape_error(err, call, nodes, flow, layer)
            return None
        except _Reported:
            return None
        emitted = _emit_args(layer, args, values)
        return Built(
            ir.LayerNew(layer.ctor, emitted),
            Flow(tuple(out), layer.out_dtype or flow.dtype, call.span),
            layer.params(args),
            layer.name,
            layer.call,
            layer.functional,
            emitted,
            args=args,
        )

    def _dtype_ok(self, layer: Layer, flow: Flow, call: s.Call) -> None:
        floating = flow.dtype.startswith(("float", "bfloat"))
        if (layer.in_dtype == "long") == floating or (layer.in_dtype == "long" and flow.dtype == "bool"):
            want = "integer (int64) ids" if layer.in_dtype == "long" else "floating-point values"
            self._error(
                "E0306",
                f"{layer.name} expects {want} but receives {flow.dtype}",
                call.span,
                labels=_from(flow),
                help="declare the input as `long`, e.g. `x: [16] long`" if layer.in_dtype == "long" else None,
            )
            raise _Reported

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
                    labels=_from(flow),
                    help=f"write `{call.name}({', '.join(rest)})` and let nndsl infer {int(inferred)}",
                )
                raise _Reported

    def _shape_error(self, err: ShapeError, call, nodes, flow: Flow, layer: Layer) -> None:
        span = nodes[err.arg].span if err.arg in nodes else call.span
        rank = err.message.startswith(f"{layer.name} expects a")
        hint = err.help
        if rank and hint is None:
            if len(flow.shape) > 2 and layer.ranks and min(layer.ranks) == 2:
                hint = "add `Flatten()` before it"
            elif len(flow.shape) == 2 and layer.ranks and min(layer.ranks) > 2:
                hint = "add `Unflatten(1, (C, H, W))` before it, or check the model input"
        self._error("E0302" if rank else "E0303", err.message, span, labels=_from(flow), help=hint)

    def _text(self, span: s.Span) -> str:
        line = self.lines[span.line - 1] if span.line <= len(self.lines) else ""
        if span.end_line != span.line:
            return line[span.column - 1 :].strip()
        return line[span.column - 1 : span.end_column - 1]

    # ---- blocks -------------------------------------------------------------------------

    def _block(self, call: s.Call, block: s.Block, flow: Flow, env) -> Built | None:
        self.used_blocks.add(block.name)
        if block.name in self.stack:
            chain = " -> ".join(self.stack[self.stack.index(block.name) :] + [block.name])
            self._error(
                "E0112",
                f"block `{block.name}` uses itself ({chain})",
                call.name_span,
                help="a block cannot contain itself; use `repeat` for repetition",
            )
            return None
        params = self._block_params(block)
        if params is None:
            return None
        names = [p.name for p in block.params]
        bound = match_args(call, names, [], f"block {block.name}", self.diags)
        if bound is None:
            return None
        values: dict[str, Value] = {}
        for p in block.params:
            if p.name in bound:
                try:
                    values[p.name] = evaluate(bound[p.name].value, env)
                except EvalError as err:
                    self.diags.append(eval_diag(err))
                    return None
            elif params[p.name] is None:
                self._error("E0103", f"block `{block.name}` needs the argument `{p.name}`", call.span,
                            help=f"write `{block.name}({p.name}=...)`")  # fmt: skip
                return None
            else:
                values[p.name] = params[p.name]
        if flow.shape is None:
            return None
        inner_env = {p.name: Value(values[p.name].py, local(p.name)) for p in block.params}
        scope = Scope(env=inner_env, ns=Namespace(_declared_names(block.body) | set(inner_env)))
        start = Flow(_block_input(flow.shape, set(inner_env)), flow.dtype, block.name_span)
        self.stack.append(block.name)
        try:
            out = self._body(block.body, start, scope)
        finally:
            self.stack.pop()
        if out.shape is None:
            return None
        class_name, inferred = self._specialise(block, scope, params, start, out, values)
        dims = _input_dims(len(flow.shape))
        args = [ir.ArgCode(None, expr_of(flow.shape[dims[n]])) for n in inferred]
        for position, a in enumerate(call.args):
            pname = a.name or names[position]
            args.append(ir.ArgCode(a.name and local(a.name), values[pname].code))
        mapping = {n: expr_of(flow.shape[i]) for n, i in dims.items()}
        mapping.update({local(p.name): values[p.name].code for p in block.params})
        return Built(
            ir.BlockNew(class_name, tuple(args)),
            Flow(tuple(_export(d, mapping) for d in out.shape), out.dtype, call.span),
            scope.params,
            block.name,
            rows=list(scope.rows),
        )

    def _block_params(self, block: s.Block) -> dict[str, Value | None] | None:
        out: dict[str, Value | None] = {}
        for p in block.params:
            if not self._name_ok(p.name, p.span, "local"):
                return None
            if p.name in out:
                self._error("E0109", f"parameter `{p.name}` is declared twice", p.span)
                return None
            if p.default is None:
                out[p.name] = None
                continue
            try:
                out[p.name] = evaluate(p.default, {})
            except EvalError as err:
                self.diags.append(eval_diag(err))
                return None
        return out

    def _specialise(self, block, scope, params, start, out, values) -> tuple[str, list[str]]:
        body = self._class_def(scope, "x", (), start, out, f"block {block.name}")
        text = repr(body)
        dims = _input_dims(len(start.shape))
        inferred = [n for n in dims if re.search(rf"\b{n}\b", text) and n not in params]
        decls = [ir.ParamDecl(n, "int", None) for n in inferred]
        for p in block.params:
            default = params[p.name]
            decls.append(ir.ParamDecl(local(p.name), _annotation(values[p.name].py), default and default.code))
        body = replace(body, params=tuple(decls))
        if body not in self.block_classes:
            name, n = block.name, 1
            while name in self.block_classes.values() or (name != block.name and name in self.class_names):
                n += 1
                name = f"{block.name}_{n}"
            self.block_classes[body] = name
            self.class_names.add(name)
            self.out_classes.append(replace(body, name=name))
        return self.block_classes[body], inferred

    # ---- sharing ------------------------------------------------------------------------

    def _use(self, stmt: s.UseStmt, flow: Flow, scope: Scope) -> Built | None:
        info = scope.shared.get(stmt.name)
        if info is None:
            self._unknown_use(stmt, scope)
            return None
        if info.module is None:  # first use builds it
            built = self._build(info.decl.call, flow, scope, info.attr)
            if built is None:
                info.module = ir.SharedRef(info.attr)  # reported; don't report again
                return None
            info.module, info.first, info.in_shape = built.module, stmt.span, flow.shape
            info.layer, info.args = REGISTRY.get(info.decl.call.name), built.args
            info.owner[info.slot] = ir.Member(info.attr, built.module)
            return replace(built, func=None)
        if flow.shape is None or info.in_shape is None:
            return None
        return self._reuse(info, stmt, flow)

    def _reuse(self, info: Shared, stmt: s.UseStmt, flow: Flow) -> Built | None:
        first = (Label(info.first, f"first used here with input {fmt_shape(info.in_shape)}"),)
        layer = info.layer
        same = fmt_shape(flow.shape) == fmt_shape(info.in_shape)
        if layer is None and not same:  # a shared block serves exactly one input shape
            self._error("E0304", f"shared block `{info.attr}` receives {fmt_shape(flow.shape)} here",
                        stmt.span, labels=first + _from(flow))  # fmt: skip
            return None
        if layer is None:
            return Built(ir.SharedRef(info.attr), Flow(flow.shape, flow.dtype, stmt.span), 0, info.decl.call.name)
        # a registry layer: its fixed arguments must fit the new input
        try:
            check_rank(layer, flow.shape)
            for spec in layer.args:
                if spec.infer is None:
                    continue
                now, then = spec.infer(flow.shape), info.args[spec.name]
                if known(now) and int(now) != int(then):
                    raise ShapeError(
                        f"shared layer `{info.attr}` was built with {spec.name}={int(then)} "
                        f"but receives {int(now)} here"
                    )
            out = layer.shape(info.args, flow.shape)
        except ShapeError as err:
            self._error("E0304", err.message, stmt.span, labels=first + _from(flow),
                        help="a shared layer must receive the same sizes at every use")  # fmt: skip
            return None
        return Built(ir.SharedRef(info.attr), Flow(tuple(out), flow.dtype, stmt.span), 0, layer.name, layer.call)

    def _unknown_use(self, stmt: s.UseStmt, scope: Scope) -> None:
        if stmt.name in scope.named:
            self._error("E0114", f"`{stmt.name}` is not shared", stmt.span,
                        labels=(Label(scope.named[stmt.name], "declared here"),),
                        help=f"declare it with `shared {stmt.name} = ...` to use one layer in several places")  # fmt: skip
        elif stmt.name in REGISTRY or stmt.name in self.blocks:
            self._error("E0101", f"`{stmt.name}` needs parentheses", stmt.span, help=f"write `{stmt.name}()`")
        else:
            hint = suggest(stmt.name, list(scope.shared) + list(REGISTRY) + list(self.blocks))
            self._error("E0108", f"`{stmt.name}` is not defined", stmt.span, help=hint)

    # ---- repeat -------------------------------------------------------------------------

    def _repeat(self, stmt: s.RepeatStmt, flow: Flow, scope: Scope) -> Built | None:
        try:
            count = evaluate(stmt.count, scope.env)
        except EvalError as err:
            self.diags.append(eval_diag(err))
            return None
        if not _int(count.py) or not 1 <= count.py <= MAX_REPEAT:
            self._error("E0111", f"repeat count must be an integer from 1 to {MAX_REPEAT}, not {count.code}",
                        stmt.count.span)  # fmt: skip
            return None
        var = stmt.var or "_"
        if stmt.var is not None and not self._name_ok(stmt.var, stmt.var_span, "local"):
            return None
        code_var = local(var) if stmt.var else "_"
        for inner in stmt.body:
            if isinstance(inner, s.SharedStmt) or (not isinstance(inner, s.UseStmt) and inner.name):
                span = inner.name_span
                self._error("E0115", "layers inside `repeat` cannot be named or shared", span,
                            help="move them into a `block` and repeat the block")  # fmt: skip
                return None
        iterations, rows, total = [], [], 0
        out = flow
        for k in range(count.py):
            env = dict(scope.env)
            if stmt.var:
                env[stmt.var] = Value(k, code_var)
            sub = Scope(env=env, ns=scope.ns, shared=scope.shared, named=scope.named)
            cur = Flow(_strip(out.shape, code_var), out.dtype, out.span)  # k-1's sizes
            items = []
            for j, inner in enumerate(stmt.body):
                built = self._repeat_item(inner, cur, sub)
                if built is None:
                    return None
                if built.call != "tensor":
                    self._error("E0116", f"{built.type} cannot sit directly in a `repeat`", inner.span,
                                help="wrap it in a `block` and repeat the block")  # fmt: skip
                    return None
                items.append(built.module)
                suffix = f"{k}.{j}" if len(stmt.body) > 1 else f"{k}"
                rows.append(ir.Row(suffix, built.type, fmt_shape(built.out.shape), built.params,
                               isinstance(built.module, ir.SharedRef)))  # fmt: skip
                rows.extend(_nested(built.rows, suffix))
                total += built.params
                cur = built.out
            iterations.append(tuple(items))
            out = Flow(cur.shape, cur.dtype, stmt.span)
        out = Flow(_strip(out.shape, code_var), out.dtype, stmt.span)
        module = _merge(iterations, count.code, code_var, scope.ns)
        return Built(module, out, total, f"repeat {count.py}", rows=rows)

    def _repeat_item(self, inner, cur: Flow, sub: Scope) -> Built | None:
        if isinstance(inner, s.UseStmt):
            built = self._use(inner, cur, sub)
            return built and replace(built, module=ir.SharedRef(inner.name))
        if isinstance(inner, s.RepeatStmt):
            return self._repeat(inner, cur, sub)
        return self._build(inner.call, cur, sub, None)


class _Reported(Exception):
    """A diagnostic was already added; unwind to the statement."""


# ---- helpers --------------------------------------------------------------------------------


def _kind(item) -> str:
    return "model" if isinstance(item, s.Model) else "block"


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _from(flow: Flow) -> tuple[Label, ...]:
    if flow.span is None or flow.shape is None:
        return ()
    return (Label(flow.span, f"produces {fmt_shape(flow.shape)}"),)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def code_shape(shape: tuple) -> str:
    """A shape as generated code's comments write it: sizes computed from constructor
    parameters keep their formula, so a block class documents every use: ``(B, width * 2)``."""
    dims = [d.expr if isinstance(d, Dim) and d.expr and _IDENT.search(d.expr) else d for d in shape]
    return fmt_shape(tuple(dims))


def _nested(rows: list[ir.Row], prefix: str) -> list[ir.Row]:
    """Rows of a sub-module, their module paths under ``prefix`` (functional rows have none)."""
    return [replace(r, path=r.path and f"{prefix}.{r.path}", depth=r.depth + 1) for r in rows]


def _plain(d):
    return Dim(int(d)) if known(d) else d


def _strip(shape: tuple, var: str) -> tuple:
    """Drop dim expressions that mention the loop variable (they belong to another iteration)."""
    pattern = re.compile(rf"\b{re.escape(var)}\b")
    return tuple(
        Dim(int(d)) if isinstance(d, Dim) and d.expr and pattern.search(d.expr) else d for d in shape
    )


def _input_dims(rank: int) -> dict[str, int]:
    """Which input size a block takes as a parameter: the features of (B, F) and (B, T, F),
    the channels of (B, C, H, W) and larger."""
    if rank < 2:
        return {}
    return {"in_features": -1} if rank <= 3 else {"in_channels": 1}


def _block_input(shape: tuple, taken: set[str]) -> tuple:
    """The input shape as seen inside a block: its feature/channel size named as a parameter."""
    out = [_plain(d) for d in shape]
    for name, index in _input_dims(len(shape)).items():
        if name not in taken and known(out[index]):
            out[index] = Dim(int(out[index]), name)
    return tuple(out)


def _export(d, mapping: dict[str, str]):
    """A dim leaving a block, its expression rewritten in the caller's terms when possible.

    >>> _export(Dim(16, "width * 2"), {"width": "w + 1"}).expr
    '(w + 1) * 2'
    """
    if not isinstance(d, Dim) or not d.expr:
        return _plain(d)
    if d.expr in mapping:
        return Dim(int(d), mapping[d.expr])
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        code = mapping.get(m.group(0))
        if code is None:
            missing = True
            return m.group(0)
        return code if _IDENT.fullmatch(code) or code.isdigit() else f"({code})"

    text = _IDENT.sub(sub, d.expr)
    return _plain(d) if missing else Dim(int(d), text)


def _declared_names(body: tuple) -> set[str]:
    return {st.name for st in body if getattr(st, "name", None) and not isinstance(st, s.UseStmt)}


def _annotation(v: object) -> str:
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(v, t):
            return name
    return "tuple" if isinstance(v, tuple) else "list" if isinstance(v, list) else "object"


def _emit_args(layer: Layer, args: dict, values: dict[str, Value]) -> tuple[ir.ArgCode, ...]:
    """Constructor arguments as generated code writes them: positional first, then keywords."""
    out = []
    positional = True
    for i, spec in enumerate(layer.args):
        if spec.name in values:
            code = values[spec.name].code
        elif spec.infer is not None:
            code = expr_of(args[spec.name])
        elif spec.emit:
            code = literal(spec.default).code
        else:
            positional = False
            continue
        positional = positional and i < layer.positional
        out.append(ir.ArgCode(None if positional else spec.name, code))
    return tuple(out)


def _merge(iterations: list[tuple], count: str, var: str, ns: Namespace) -> ir.RepeatNew:
    """One loop for all iterations, hoisting per-iteration argument values into lists."""
    first = iterations[0]
    if all(it == first for it in iterations):
        return ir.RepeatNew(count, var, first)
    items, lists = [], []
    for j, module in enumerate(first):
        column = [it[j] for it in iterations]
        merged = _merge_column(column, var, ns, lists)
        if merged is None:  # no common form: write each iteration out
            return ir.RepeatNew("", var, tuple(ir.RepeatNew("1", "_", it) for it in iterations))
        items.append(merged)
    return ir.RepeatNew(count, "i" if var == "_" else var, tuple(items), tuple(lists))


def _list_code(codes: list[str]) -> str:
    """A list literal, with runs written as repetition: ``[1] + [10] * 7``.

    >>> _list_code(["1", "10", "10", "10"]), _list_code(["4", "8", "16"])
    ('[1] + [10] * 3', '[4, 8, 16]')
    """
    runs: list[list] = []
    for c in codes:
        if runs and runs[-1][0] == c:
            runs[-1][1] += 1
        else:
            runs.append([c, 1])
    if all(n < 3 for _, n in runs):
        return "[" + ", ".join(codes) + "]"
    parts, plain = [], []
    for c, n in runs:
        if n >= 3:
            if plain:
                parts.append("[" + ", ".join(plain) + "]")
                plain = []
            parts.append(f"[{c}] * {n}")
        else:
            plain += [c] * n
    if plain:
        parts.append("[" + ", ".join(plain) + "]")
    return " + ".join(parts)


def _merge_column(column: list, var: str, ns: Namespace, lists: list) -> ir.ModuleNew | None:
    head = column[0]
    if all(m == head for m in column):
        return head
    if not all(type(m) is type(head) for m in column) or not isinstance(head, (ir.LayerNew, ir.BlockNew)):
        return None
    if isinstance(head, ir.BlockNew) and any(m.class_name != head.class_name for m in column):
        return None
    if isinstance(head, ir.LayerNew) and any(m.ctor != head.ctor for m in column):
        return None
    if any(len(m.args) != len(head.args) or [a.name for a in m.args] != [a.name for a in head.args] for m in column):
        return None
    args = []
    index = "i" if var == "_" else var
    for pos, arg in enumerate(head.args):
        codes = [m.args[pos].code for m in column]
        if all(c == codes[0] for c in codes):
            args.append(arg)
            continue
        if all(c == codes[1] for c in codes[1:]):  # only the first differs: true for any count
            args.append(ir.ArgCode(arg.name, f"{codes[0]} if {index} == 0 else {codes[1]}"))
            continue
        name = ns.unique("sizes" if arg.name is None else f"{arg.name}_values")
        lists.append((name, _list_code(codes)))
        args.append(ir.ArgCode(arg.name, f"{name}[{index}]"))
    return replace(head, args=tuple(args))

