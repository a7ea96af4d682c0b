"""Checking graph-style bodies: declarations connected by a hand-written ``forward``.

A body with a ``forward`` section declares its layers, parameters and constants by name; the
forward's statements connect them. Every declared layer is built at its first call, with the
sizes of what that call passes (later calls must fit, and share its weights). Every expression
gets a type from :mod:`nndsl.registry.functions`; the forward becomes Python lines with shape
comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nndsl.check.bind import eval_diag, match_args
from nndsl.check.flow import Built, Flow, Scope, Shared, is_int, nested_rows
from nndsl.check.forward_types import (
    POISON,
    Maybe,
    arg_span,
    bind_symbols,
    comment_of,
    describe,
    dtypes_text,
    fits,
    tensor_of,
    tensors_only,
    type_text,
)
from nndsl.check.record import recorded
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim, MissingArgument, ShapeError, fmt_shape
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, Slice, Tensor
from nndsl.lang import syntax as s
from nndsl.lang.pyexpr import ATOM, EvalError, Value, evaluate
from nndsl.registry.functions import FUNCTIONS, binary, index, unary
from nndsl.registry.functions import call as call_function
from nndsl.registry.layers import REGISTRY
from nndsl.util.naming import local, suggest

INITS = ("randn", "rand", "zeros", "ones")


@dataclass
class Binding:
    """A name bound in a forward; ``sources`` are the bindings a loop merged into this one."""

    code: str
    type: object
    span: s.Span
    used: bool = False
    sources: list = field(default_factory=list)

    def use(self) -> None:
        if not self.used:
            self.used = True
            for b in self.sources:
                b.use()


@dataclass
class Decl:
    """One declaration of a graph body."""

    name: str
    span: s.Span
    kind: str  # "module", "param" or "buffer"
    shared: Shared | None = None  # a module: built at its first call
    repeat: s.RepeatStmt | None = None
    value: Value | None = None  # a parameter or buffer: its type and code
    extra: tuple = ()  # a module's first call: the shapes of its inputs after the first
    result: object = None  # a module's first call: what it returned
    called: bool = False


@dataclass
class Graph:
    """A forward under construction."""

    scope: Scope
    decls: dict[str, Decl]
    values: dict[str, Binding] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    depth: int = 1
    stored: set[str] = field(default_factory=set)  # constructor parameters the forward reads
    returned: object = None
    unused: list[tuple[str, s.Span]] = field(default_factory=list)

    def emit(self, line: str) -> None:
        self.lines.append("    " * (self.depth - 1) + line)


class GraphRules:
    """The graph half of the checker (mixed into :class:`nndsl.check.checker.Checker`)."""

    # ---- a body with a forward ------------------------------------------------------------

    @recorded("graph")
    def _graph(self, body: tuple, forward: s.Forward, inputs: list, scope: Scope, feature):
        """Check a graph body. ``inputs``: (name, type, span, optional) per forward input;
        ``feature``: the Value ``in`` stands for in declarations (None: `in` is unavailable).
        Returns the :class:`Graph` (its ``returned`` type None after errors)."""
        g = Graph(scope, {})
        if feature is not None:
            scope.env["in"] = feature
        self._declare(body, g, feature)
        for name, t, span, optional in inputs:
            if self._name_ok(name, span, "local"):
                if name in g.decls:
                    self._error(
                        "E0109",
                        f"the input `{name}` has the name of a declaration",
                        span,
                        labels=(Label(g.decls[name].span, "declared here"),),
                    )
                    continue
                g.values[name] = Binding(local(name), Maybe(t) if optional else t, span)
        for b in g.values.values():
            b.used = True  # an unused input is the caller's business, not a mistake here
        ok = self._fbody(forward.body, g, top=True)
        for name, b in g.values.items():
            if not b.used and not name.startswith("_"):
                g.unused.append((name, b.span))
        if ok and g.returned is None:
            self._error(
                "E0123",
                "the forward returns nothing",
                forward.span,
                help="end it with `return <value>`",
            )
        for decl in g.decls.values():
            if not decl.called and decl.kind == "module":
                self._warn("W0101", f"layer `{decl.name}` is never called", decl.span)
            elif not decl.called:
                self._warn("W0101", f"{decl.kind} `{decl.name}` is never used", decl.span)
        for name, span in sorted(
            set(g.unused) if ok else (), key=lambda u: (u[1].line, u[1].column)
        ):
            self._warn(
                "W0103",
                f"the value `{name}` is never used",
                span,
                help="remove it, or prefix its name with `_`",
            )
        if not ok:
            g.returned = None
        for name in sorted(g.stored):
            g.scope.members.append(ir.Member(name, ir.Stored(name)))
        return g

    def _declare(self, body: tuple, g: Graph, feature) -> None:
        scope = g.scope
        for st in body:
            name = getattr(st, "name", None)
            if isinstance(st, s.UseStmt) or name is None:
                self._error(
                    "E0119",
                    "in a body with a forward, every layer needs a name",
                    st.span,
                    help="write `name = Layer(...)` and call `name(x)` in the forward",
                )
                continue
            if self._attr(name, st.name_span, scope) is None:
                continue
            if name in scope.env:
                self._error(
                    "E0109", f"`{name}` is also a parameter of this definition", st.name_span
                )
                continue
            if isinstance(st, s.RepeatStmt):
                g.decls[name] = Decl(name, st.name_span, "module", repeat=st)
                g.decls[name].shared = Shared(None, len(scope.members), name, scope.members)
                scope.members.append(None)
                continue
            if st.call.name in ("param", "const"):
                decl = self._tensor_decl(st, scope, feature)
                if decl is not None:
                    g.decls[name] = decl
                continue
            decl = s.SharedStmt(name, st.name_span, st.call, st.span)
            g.decls[name] = Decl(
                name, st.name_span, "module", Shared(decl, len(scope.members), name, scope.members)
            )
            scope.members.append(None)

    def _tensor_decl(self, st, scope: Scope, feature) -> Decl | None:
        call = st.call
        kind = "param" if call.name == "param" else "buffer"
        bound = match_args(call, ["shape", "init"], [], call.name, self.diags)
        if bound is None:
            return None
        if "shape" not in bound:
            self._error(
                "E0103",
                f"`{call.name}` needs a shape",
                call.span,
                help=f"write `{call.name}([4, 8])`",
            )
            return None
        env = dict(scope.env)
        if feature is not None:
            env["in"] = feature
        try:
            shape = evaluate(bound["shape"].value, env)
        except EvalError as err:
            if err.message.startswith("`in`"):
                err.help = "`in` is the input's feature size, known only in a layer with a forward"
            self.diags.append(eval_diag(err))
            return None
        dims = shape.py if isinstance(shape.py, (list, tuple)) else [shape.py]
        items = getattr(bound["shape"].value, "items", (bound["shape"].value,))
        if not all(is_int(d) and d >= 1 for d in dims):
            self._error(
                "E0125",
                f"a shape is a list of sizes of at least 1, not {shape.code}",
                bound["shape"].value.span,
            )
            return None
        codes = [evaluate(x, env).code for x in items] if len(items) == len(dims) else []
        codes = codes or [str(d) for d in dims]
        init = "randn"
        if "init" in bound:
            node = bound["init"].value
            init = node.id if isinstance(node, s.Name) else getattr(node, "value", None)
            if init not in INITS:
                self._error(
                    "E0106",
                    f"unknown init `{init}`",
                    node.span,
                    help=suggest(str(init), INITS) or f"use one of {', '.join(INITS)}",
                )
                return None
        dims = tuple(Dim(int(d), c) for d, c in zip(dims, codes))
        slot = ir.Member(st.name, ir.TensorNew(kind, init, tuple(codes)))
        scope.members.append(slot)
        count = 1
        for d in dims:
            count *= int(d)
        if kind == "param":
            scope.params += count
        scope.rows.append(
            ir.Row(
                st.name,
                "Parameter" if kind == "param" else "Buffer",
                dims,
                count if kind == "param" else 0,
                tensors=((st.name, tuple(map(int, dims)), kind == "param"),),
                slot=len(scope.members) - 1,
                line=st.name_span.line,
            )
        )
        return Decl(
            st.name, st.name_span, kind, value=Value(Tensor(dims, "float32"), f"self.{st.name}")
        )

    # ---- statements -----------------------------------------------------------------------

    def _fbody(self, body: tuple, g: Graph, top: bool) -> bool:
        """Check statements; False after an error."""
        ok = True
        for st in body:
            if g.returned is not None and top:
                self._error("E0124", "this statement comes after `return` and never runs", st.span)
                return False
            try:
                match st:
                    case s.Assign():
                        self._assign(st, g)
                    case s.Return():
                        if not top:
                            self._error(
                                "E0124",
                                "`return` inside a loop is not supported",
                                st.span,
                                help="assign the value and return it after the loop",
                            )
                            raise Reported
                        self._return(st, g)
                    case s.While():
                        self._while(st, g)
            except Reported:
                ok = False
        return ok

    @recorded("assign")
    def _assign(self, st: s.Assign, g: Graph) -> None:
        try:
            value = self._fx(st.value, g)
            if isinstance(value.py, Maybe):
                self._maybe_error(st.value)
        except Reported:
            self._poison(st.target, g)
            raise
        target = self._target(st.target, value.py, g, st.value.span, nested=False)
        comment = comment_of(st.target, value.py)
        g.emit(f"{target} = {value.code}" + (f"  # {comment}" if comment else ""))

    def _poison(self, t, g: Graph) -> None:
        if isinstance(t, s.TupleTarget):
            for x in t.items:
                self._poison(x, g)
        elif t.id not in g.decls:
            g.values[t.id] = Binding(local(t.id), POISON, t.span, used=True)

    def _target(self, t, typ, g: Graph, value_span: s.Span, nested: bool = True) -> str:
        if isinstance(t, s.TupleTarget):
            if not isinstance(typ, tuple) or len(typ) != len(t.items):
                have = f"{len(typ)} values" if isinstance(typ, tuple) else "one value"
                what = "the matching part is" if nested else "this is"
                self._error(
                    "E0305",
                    f"cannot unpack {have} into {len(t.items)} names",
                    t.span,
                    labels=(Label(value_span, f"{what} {type_text(typ) or 'a number'}"),),
                )
                raise Reported
            parts = [self._target(x, y, g, value_span) for x, y in zip(t.items, typ)]
            for x in t.items:  # like Python linters: unpacking may leave parts unused
                if isinstance(x, s.Name) and x.id in g.values:
                    g.values[x.id].used = True
            inner = ", ".join(parts)
            return f"({inner})" if nested else inner
        name = t.id
        if name == "_":
            return "_"
        if name in g.decls:
            kind = {"module": "layer", "buffer": "constant"}.get(g.decls[name].kind, "parameter")
            self._error(
                "E0121",
                f"assigning to `{name}` would hide the {kind} of that name",
                t.span,
                labels=(Label(g.decls[name].span, "declared here"),),
                help="give the value another name",
            )
            raise Reported
        if name in g.scope.env or name == "in":
            self._error(
                "E0121",
                f"`{name}` is a parameter of this definition",
                t.span,
                help="give the value another name",
            )
            raise Reported
        if not self._name_ok(name, t.span, "local"):
            raise Reported
        old = g.values.get(name)
        if old is not None and not old.used and not name.startswith("_"):
            g.unused.append((name, old.span))
        g.values[name] = Binding(local(name), typ, t.span)
        return local(name)

    @recorded("return_")
    def _return(self, st: s.Return, g: Graph) -> None:
        if not st.values:
            self._error("E0123", "`return` needs a value", st.span)
            raise Reported
        nodes = st.values
        if len(nodes) == 1 and isinstance(nodes[0], s.TupleLit):  # return (a, b) is return a, b
            nodes = nodes[0].items
        values = [self._fx(v, g) for v in nodes]
        for v, node in zip(values, nodes):
            if not tensors_only(v.py):
                what = "none" if v.py is None or isinstance(v.py, Maybe) else "a number"
                self._error("E0306", f"a forward returns tensors, and this is {what}", node.span)
                raise Reported
        typ = values[0].py if len(values) == 1 else tuple(v.py for v in values)
        shapes = ", ".join(type_text(v.py) for v in values)
        g.emit(f"return {', '.join(v.code for v in values)}  # {shapes}")
        g.returned = typ

    @recorded("while_")
    def _while(self, st: s.While, g: Graph) -> None:
        cond = self._condition(st.cond, g)
        before = dict(g.values)
        g.emit(f"while {cond.code}:")
        g.depth += 1
        ok = self._fbody(st.body, g, top=False)
        if not st.body:
            g.emit("pass")
        g.depth -= 1
        after, g.values = g.values, dict(before)
        changed = [n for n, old in before.items() if after.get(n, old) is not old]
        for name in changed:  # until the loop checks, its values are unknown
            g.values[name] = Binding(before[name].code, POISON, before[name].span, used=True)
        if not ok:
            raise Reported
        for name in changed:
            old, new = before[name], after[name]
            if type_text(new.type) != type_text(old.type) or dtypes_text(new.type) != dtypes_text(
                old.type
            ):
                self._error(
                    "E0307",
                    f"the loop changes `{name}` "
                    f"from {describe(old.type)} to {describe(new.type)}",
                    new.span,
                    labels=(Label(old.span, f"{describe(old.type)} before the loop"),),
                    help="a loop must keep the shape and dtype of every value it reassigns",
                )
                raise Reported
            g.values[name] = Binding(old.code, old.type, old.span, sources=[old, new])
        for name, new in after.items():
            if name not in before and not new.used and not name.startswith("_"):
                g.unused.append((name, new.span))
        self._condition(st.cond, g)  # the next test reads what the body assigned

    @recorded("condition")
    def _condition(self, e, g: Graph) -> Value:
        cond = self._fx(e, g)
        t = cond.py
        if not isinstance(t, Tensor) or t.dtype != "bool" or len(t.shape) != 0:
            what = (
                f"a {t.dtype} tensor of shape {fmt_shape(t.shape)}"
                if isinstance(t, Tensor)
                else "not a tensor"
            )
            self._error(
                "E0308",
                f"a `while` condition must be one true/false value; this is {what}",
                e.span,
                help="reduce it to one value, e.g. `sum(abs(h)) > 1`",
            )
            raise Reported
        return cond

    # ---- expressions ----------------------------------------------------------------------

    def _fx(self, e, g: Graph) -> Value:
        """The typed value of a forward expression; reports and raises Reported on errors."""
        value = self._typed(e, g)
        if self.rec.frames:
            self.rec.fx(e, value, g)
        return value

    def _typed(self, e, g: Graph) -> Value:
        try:
            match e:
                case s.Num() | s.Str() | s.Const():
                    return evaluate(e, {})
                case s.Name():
                    return self._fname(e, g)
                case s.BinOp(op=op, left=left, right=right):
                    a, b = self._fx(left, g), self._fx(right, g)
                    self._no_maybe((a, left), (b, right))
                    try:
                        return binary(op, a, b)
                    except ShapeError as err:
                        shown = [
                            (n, v) for n, v in ((left, a), (right, b)) if isinstance(v.py, Tensor)
                        ]
                        labels = tuple(Label(n.span, fmt_shape(v.py.shape)) for n, v in shown)
                        self._op_error(err, e, labels if err.arg is None else ())
                        raise Reported from None
                case s.Unary(op=op, operand=operand):
                    a = self._fx(operand, g)
                    self._no_maybe((a, operand))
                    return unary(op, a)
                case s.TupleLit(items=items) | s.ListLit(items=items):
                    vals = [self._fx(x, g) for x in items]
                    inner = ", ".join(v.code for v in vals)
                    if isinstance(e, s.ListLit):
                        return Value([v.py for v in vals], f"[{inner}]")
                    return Value(
                        tuple(v.py for v in vals), f"({inner},)" if len(vals) == 1 else f"({inner})"
                    )
                case s.Index(value=base, items=items):
                    b = self._fx(base, g)
                    self._no_maybe((b, base))
                    return index(b, tuple(self._index_item(x, g) for x in items))
                case s.CallExpr():
                    return self._fcall(e, g)
        except ShapeError as err:
            self._op_error(err, e)
            raise Reported from None
        except EvalError as err:
            self.diags.append(eval_diag(err))
            raise Reported from None
        raise TypeError(e)

    def _index_item(self, x, g: Graph):
        match x:
            case s.EllipsisLit():
                return ELLIPSIS
            case s.Const(value=None):
                return NEWAXIS
            case s.SliceExpr(start=a, stop=b, step=c):
                return Slice(*(None if p is None else self._fx(p, g) for p in (a, b, c)))
        return self._fx(x, g)

    def _op_error(self, err: ShapeError, e, labels: tuple = ()) -> None:
        span = e.span
        if isinstance(e, s.BinOp) and err.arg in ("left", "right"):
            span = getattr(e, err.arg).span
        elif isinstance(e, (s.Unary, s.Index)) and err.arg == "operand":
            span = e.operand.span if isinstance(e, s.Unary) else e.value.span
        elif isinstance(e, s.CallExpr) and err.arg is not None:
            span = arg_span(e, err.arg) or span
        code = "E0103" if isinstance(err, MissingArgument) else "E0303"
        self._error(code, err.message, span, labels=labels, help=err.help)

    def _fname(self, e: s.Name, g: Graph) -> Value:
        name = e.id
        b = g.values.get(name)
        if b is not None:
            b.use()
            if b.type is POISON:
                raise Reported
            return Value(b.type, b.code)
        decl = g.decls.get(name)
        if decl is not None and decl.value is not None:
            decl.called = True
            return decl.value
        if decl is not None:
            self._error(
                "E0120", f"`{name}` is a layer; call it", e.span, help=f"write `{name}(...)`"
            )
            raise Reported
        if name in g.scope.env:
            v = g.scope.env[name]
            if not v.code.isidentifier():  # a model's `in`: a literal
                return v
            g.stored.add(v.code)
            return Value(v.py, f"self.{v.code}")
        hint = suggest(name, list(g.values) + list(g.decls) + list(g.scope.env))
        if name in REGISTRY or name in FUNCTIONS:
            hint = f"`{name}` is a {'layer' if name in REGISTRY else 'function'}; call it"
        self._error("E0108", f"`{name}` is not defined", e.span, help=hint)
        raise Reported

    def _no_maybe(self, *pairs) -> None:
        for v, node in pairs:
            if isinstance(v.py, Maybe):
                self._maybe_error(node)

    def _maybe_error(self, node) -> None:
        self._error(
            "E0309",
            "this input may be none here",
            node.span,
            help="an optional input can only be passed on as a recurrent layer's state",
        )
        raise Reported

    # ---- calls ----------------------------------------------------------------------------

    def _fcall(self, e: s.CallExpr, g: Graph) -> Value:
        if not isinstance(e.func, s.Name):
            self._error(
                "E0120", "only declared layers and built-in functions can be called", e.func.span
            )
            raise Reported
        name = e.func.id
        decl = g.decls.get(name)
        if decl is not None:
            return self._call_decl(decl, e, g)
        if name in FUNCTIONS:
            args = [self._fx(a.value, g) for a in e.args if a.name is None]
            kwargs = {a.name: self._fx(a.value, g) for a in e.args if a.name is not None}
            self._no_maybe(*[(v, a.value) for v, a in zip([*args, *kwargs.values()], e.args)])
            return call_function(name, args, kwargs)
        if name in g.values:
            self._error("E0120", f"`{name}` is a value, not a layer", e.func.span)
            raise Reported
        if name in REGISTRY or name in self.blocks or name in self.model_defs:
            self.used_blocks.add(name)
            self._error(
                "E0120",
                f"`{name}` must be declared before the forward",
                e.span,
                help=f"declare it above: `{name.lower()} = {name}(...)`, "
                f"then call `{name.lower()}(...)`",
            )
            raise Reported
        hint = suggest(name, list(FUNCTIONS) + list(g.decls))
        self._error("E0101", f"unknown function `{name}`", e.func.span, help=hint)
        raise Reported

    def _call_decl(self, decl: Decl, e: s.CallExpr, g: Graph) -> Value:
        decl.called = True
        if decl.kind != "module":
            self._error(
                "E0120",
                f"`{decl.name}` is a {decl.kind}, not a layer",
                e.func.span,
                help=f"use it in an expression, e.g. `x @ {decl.name}`",
            )
            raise Reported
        if any(a.name is not None for a in e.args):
            self._error("E0104", "layers are called with positional arguments only", e.span)
            raise Reported
        if not e.args:
            self._error(
                "E0103", f"`{decl.name}` needs an input", e.span, help=f"write `{decl.name}(x)`"
            )
            raise Reported
        args = [self._fx(a.value, g) for a in e.args]
        decl.called = True
        info = decl.shared
        layer = REGISTRY.get(info.decl.call.name) if info.decl is not None else None
        kind = layer.call if layer is not None else "tensor"
        state = None
        if kind == "rnn" and len(args) == 2:
            state = args.pop()
        tensors = args
        if kind == "attention" and len(args) not in (1, 3):
            self._error("E0104", f"`{decl.name}` takes a query, or a query, key and value", e.span)
            raise Reported
        if kind == "attention" and len(args) == 1:
            if args[0].code != local(args[0].code):
                self._error(
                    "E0104",
                    "self-attention needs a named input",
                    e.args[0].span,
                    help=f"assign it first: `q = ...` then `{decl.name}(q)`",
                )
                raise Reported
            tensors = args[:1]
        for v, a in zip(tensors, e.args):
            self._no_maybe((v, a.value))
            if not isinstance(v.py, Tensor):
                self._error("E0306", f"`{decl.name}` needs a tensor input", a.value.span)
                raise Reported
        flows = [Flow(v.py.shape, v.py.dtype, a.value.span) for v, a in zip(tensors, e.args)]
        built = self._call_module(decl, e, flows, g, kind)
        out = built.out
        code_args = ", ".join(v.code for v in args)
        if kind == "attention" and len(args) == 1:
            code_args = ", ".join([args[0].code] * 3)
        if kind == "rnn":
            result = (tensor_of(out), self._rnn_state(built, flows[0], state, e, decl))
            if state is not None:
                code_args += f", {state.code}"
        elif kind == "attention":
            result = (tensor_of(out), self._attention_weights(layer, flows))
        elif built.result is not None:
            result = built.result
        else:
            result = tensor_of(out)
        return Value(result, f"self.{decl.name}({code_args})", ATOM)

    @recorded("call_module")
    def _call_module(self, decl: Decl, e: s.CallExpr, flows: list[Flow], g: Graph, kind) -> Built:
        info = decl.shared
        first, extra = flows[0], flows[1:]
        scope = g.scope
        if info.module is not None and not decl.extra == tuple(fmt_shape(f.shape) for f in extra):
            self._error(
                "E0304",
                f"`{decl.name}` receives {', '.join(fmt_shape(f.shape) for f in flows)} here",
                e.span,
                labels=(Label(info.first, "but other sizes at its first call"),),
                help="a layer called twice must receive the same sizes each time",
            )
            raise Reported
        if decl.repeat is not None and info.module is None:
            if extra:
                self._error("E0104", f"`{decl.name}` is a stack and takes one input", e.span)
                raise Reported
            built = self._repeat(decl.repeat, first, scope)
            if built is None:
                raise Reported
            info.module, info.first, info.in_shape = built.module, e.span, first.shape
            info.out, info.rows = built.out, built.rows
            info.owner[info.slot] = ir.Member(decl.name, built.module)
        elif decl.repeat is not None:
            if fmt_shape(first.shape) != fmt_shape(info.in_shape):
                self._error(
                    "E0304",
                    f"`{decl.name}` receives {fmt_shape(first.shape)} here",
                    e.span,
                    labels=(Label(info.first, f"first called with {fmt_shape(info.in_shape)}"),),
                )
                raise Reported
            built = Built(
                ir.SharedRef(decl.name),
                info.out.at(e.span),
                0,
                "Sequential",
                rows=[r for r in info.rows],
            )
            built.params = 0
        else:
            was_built = info.module is not None
            built = self._call_shared(info, e, first, scope, tuple(extra))
            if built is None:
                raise Reported
            if not was_built:
                decl.extra = tuple(fmt_shape(f.shape) for f in extra)
                decl.result = built.result
        again = decl.called and info.first is not e.span
        scope.params += built.params
        shape = built.out.shape if built.result is None else ir.row_shape(built.result)
        scope.rows.append(
            ir.Row(
                decl.name,
                built.type,
                shape,
                built.params,
                built.params == 0 and again,
                tensors=built.tensors,
                slot=info.slot,
                line=decl.span.line,
                inputs=tuple(f.shape for f in flows),
            )
        )
        if built.rows:
            scope.rows.extend(nested_rows(built.rows, decl.name))
        return built

    # ---- a model used as a layer ----------------------------------------------------------

    @recorded("model_use")
    def _model_use(self, call: s.Call, flow: Flow, extra: tuple) -> Built | None:
        model = self.model_defs[call.name]
        if call.name in self.stack:
            chain = " -> ".join(self.stack[self.stack.index(call.name) :] + [call.name])
            self._error("E0112", f"model `{call.name}` uses itself ({chain})", call.name_span)
            return None
        if call.args:
            self._error(
                "E0104",
                f"model `{call.name}` takes no arguments",
                call.args[0].span,
                help="make it a `block` to give it parameters",
            )
            return None
        info = self._checked_model(model)
        if info is None or flow.shape is None:
            return None
        flows = [flow, *extra]
        required = [i for i in info.inputs if not i.optional]
        if not len(required) <= len(flows) <= len(info.inputs):
            self._error(
                "E0118",
                f"model `{call.name}` takes {len(info.inputs)} input(s) but receives {len(flows)}",
                call.span,
            )
            return None
        symbols: dict = {}
        for f, want in zip(flows, info.inputs):
            if not fits(f.shape, want.shape, symbols) or f.dtype != want.dtype:
                self._error(
                    "E0301",
                    f"model `{call.name}` takes `{want.name}` as {fmt_shape(want.shape)} "
                    f"{want.dtype} but receives {fmt_shape(f.shape)} {f.dtype}",
                    call.span,
                    labels=(Label(f.span, f"produces {fmt_shape(f.shape)}"),) if f.span else (),
                )
                return None
        result = bind_symbols(info.returns, symbols)
        new = ir.BlockNew(model.name, ())
        if isinstance(result, Tensor):
            out = Flow(result.shape, result.dtype, call.span)
            return Built(new, out, info.total_params, model.name, rows=list(info.rows))
        out = Flow((), "float32", call.span)
        return Built(new, out, info.total_params, model.name, rows=list(info.rows), result=result)

    def _rnn_state(self, built: Built, x: Flow, state: Value | None, e, decl: Decl):
        shapes = REGISTRY[decl.shared.decl.call.name].state(decl.shared.args, x.shape)
        shape, lstm = shapes[0], len(shapes) == 2  # lstm: an (h, c) pair
        h = Tensor(shape, x.dtype)
        want = tuple(Tensor(s, x.dtype) for s in shapes) if lstm else h
        if state is not None and not isinstance(state.py, Maybe) and state.py is not None:
            have = state.py
            if type_text(have) != type_text(want):
                what = "an (h, c) pair of " if lstm else ""
                self._error(
                    "E0304",
                    f"`{decl.name}` needs its initial state as {what}{fmt_shape(shape)}, "
                    f"not {type_text(have) or 'a number'}",
                    e.args[-1].span,
                    help="the state is (num_layers * directions, B, hidden_size)",
                )
                raise Reported
        elif isinstance(getattr(state, "py", None), Maybe):
            have = state.py.tensor
            if not lstm and type_text(have) != type_text(h):
                self._error(
                    "E0304",
                    f"`{decl.name}` needs its initial state as {fmt_shape(shape)}, "
                    f"not {type_text(have)}",
                    e.args[-1].span,
                    help="the state is (num_layers * directions, B, hidden_size)",
                )
                raise Reported
        return want

    def _attention_weights(self, layer, flows: list[Flow]) -> Tensor:
        q = flows[0]
        k = flows[1] if len(flows) > 1 else q
        return Tensor(layer.weights(q.shape, k.shape), q.dtype)
