"""The calls of a graph-style forward: declared layers, blocks, repeats and models called with
the values the forward computes, and the built-in functions; and a model used as a layer."""

from __future__ import annotations

from nndsl.check.flow import Built, Flow, nested_rows
from nndsl.check.forward_types import Maybe, bind_symbols, fits, tensor_of, type_text
from nndsl.check.graph_expr import Decl, Graph
from nndsl.check.record import recorded
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import ShapeError, fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import Value
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.functions import call as call_function
from nndsl.registry.layers import REGISTRY
from nndsl.util.naming import suggest


class CallRules:
    """The calls of a forward (mixed into :class:`nndsl.check.checker.Checker`)."""

    def _fcall(self, e: s.CallExpr, g: Graph) -> Value:
        if not isinstance(e.func, s.Name):
            self._error(
                "E0120", "only declared layers and built-in functions can be called", e.func.span
            )
            raise Reported
        name = e.func.id
        if "." in name:
            return self._torch_call(e, g)
        if e.declared is not None:
            self._error(
                "E0133",
                f"`{name}` has a shape nndsl works out: it takes no declared shape",
                e.declared.span,
                help="remove `-> ...`; only a torch function declares one, "
                "and a torch module or an imported class where it is declared",
            )
            raise Reported
        decl = g.decls.get(name)
        if decl is not None:
            return self._call_decl(decl, e, g)
        if name in FUNCTIONS:
            args = [self._fx(a.value, g) for a in e.args if a.name is None]
            kwargs = {a.name: self._fx(a.value, g) for a in e.args if a.name is not None}
            self._no_maybe(*[(v, a.value) for v, a in zip([*args, *kwargs.values()], e.args)])
            return call_function(name, args, kwargs, g.device)
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
        if decl.cond is not None and decl.cond.absent:
            return self._absent_call(decl, e, g)
        info = decl.shared
        layer = REGISTRY.get(info.decl.call.name) if info.decl is not None else None
        keywords = self._call_keywords(decl, layer, e, g)
        inputs = [a for a in e.args if a.name is None]
        if not inputs:
            self._error(
                "E0103", f"`{decl.name}` needs an input", e.span, help=f"write `{decl.name}(x)`"
            )
            raise Reported
        args = [self._fx(a.value, g) for a in inputs]
        kind = layer.call if layer is not None else "tensor"
        state = args.pop() if kind == "rnn" and len(args) == 2 else None
        flows = self._call_inputs(decl, e, args, kind)
        built = self._call_module(decl, e, flows, g, kind)
        out = built.out
        passed = [v.expr for v in args] * (3 if kind == "attention" and len(args) == 1 else 1)
        weights = self._keyword_rule(layer, info, flows, keywords, e)
        if kind == "rnn":
            result = (tensor_of(out), self._rnn_state(built, flows[0], state, e, decl))
            passed += [state.expr] if state is not None else []
        elif kind == "attention":
            result = (tensor_of(out), None if weights is None else Tensor(weights, out.dtype))
        elif built.result is not None:
            result = built.result
        else:
            result = tensor_of(out)
        kwargs = tuple((k, v.expr) for k, v in keywords.items())
        value = ex.Call(ex.self_attr(decl.name), tuple(passed), kwargs)
        if built.declared is not None:
            check = built.declared
            value = self._checked(value, out.shape, check.line, check.text, g)
        return Value(result, value)

    def _call_keywords(self, decl: Decl, layer, e: s.CallExpr, g: Graph) -> dict[str, Value]:
        """The keyword arguments of a layer's call (``attn_mask=m``), each of a kind its forward
        takes (``Layer.call_keywords``), in the order written."""
        given: dict[str, Value] = {}
        specs = {a.name: a for a in layer.call_keywords} if layer is not None else {}
        seen_keyword = False
        for a in e.args:
            if a.name is None:
                if seen_keyword:
                    self._error("E0104", "an input after a keyword argument", a.span)
                    raise Reported
                continue
            seen_keyword = True
            if not specs:
                self._error(
                    "E0104",
                    f"`{decl.name}` takes its inputs only, no keyword arguments",
                    a.span,
                )
                raise Reported
            if a.name not in specs:
                hint = suggest(a.name, specs) or f"its keywords: {', '.join(specs)}"
                what = f"`{decl.name}` ({layer.name})"
                self._error("E0102", f"{what} takes no keyword `{a.name}`", a.span, help=hint)
                raise Reported
            if a.name in given:
                self._error("E0105", f"`{a.name}` is given twice", a.span)
                raise Reported
            v = self._fx(a.value, g)
            self._no_maybe((v, a.value))
            spec = specs[a.name]
            ok = isinstance(v.py, bool) if spec.base == "bool" else isinstance(v.py, Tensor)
            if not ok and not (spec.optional and v.py is None):
                want = "`true` or `false`" if spec.base == "bool" else "a tensor or `none`"
                self._error("E0106", f"`{a.name}` is {want}", a.value.span)
                raise Reported
            given[a.name] = v
        return given

    def _keyword_rule(self, layer, info, flows: list[Flow], keywords: dict, e) -> tuple | None:
        """The layer's check of its call's keywords, and its attention weights' shape."""
        if layer is None or layer.call_rule is None or info.args is None:
            return None
        kw = {k: v.py for k, v in keywords.items()}
        try:
            return layer.call_rule(info.args, [f.shape for f in flows], flows[0].dtype, kw)
        except ShapeError as err:
            # the keyword it names, or else the input ``item`` counts (a decoder's memory)
            inputs = [a for a in e.args if a.name is None]
            span = next((a.span for a in e.args if err.arg and a.name == err.arg), e.span)
            if err.arg is None and err.item is not None and err.item < len(inputs):
                span = inputs[err.item].span
            self._error("E0303", err.message, span, help=err.help)
            raise Reported from None

    def _call_inputs(self, decl: Decl, e: s.CallExpr, args: list[Value], kind: str) -> list:
        """The Flows of the tensors a layer is called with, once they are found fit."""
        tensors = args
        if kind == "attention" and len(args) not in (1, 3):
            self._error("E0104", f"`{decl.name}` takes a query, or a query, key and value", e.span)
            raise Reported
        if kind == "attention" and len(args) == 1:
            query = args[0].expr  # passed three times: a constant would be written thrice
            if isinstance(query, ex.Lit) and (query.value is None or isinstance(query.value, bool)):
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
        return [Flow(v.py.shape, v.py.dtype, a.value.span) for v, a in zip(tensors, e.args)]

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
        if decl.repeat is not None:
            built = self._repeat_use(decl, e, first, bool(extra), scope)
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
                tied=built.tied,
                slot=info.slot,
                line=decl.span.line,
                inputs=tuple(f.shape for f in flows),
                counted=built.declared is None,
            )
        )
        if built.rows:
            scope.rows.extend(nested_rows(built.rows, decl.name))
        return built

    def _repeat_use(self, decl: Decl, e: s.CallExpr, first: Flow, extra: bool, scope) -> Built:
        """A call of a declared repeat: built at the first, the same stack at the others."""
        info = decl.shared
        if info.module is None:
            if extra:
                self._error("E0104", f"`{decl.name}` is a stack and takes one input", e.span)
                raise Reported
            make = self._seq if isinstance(decl.repeat, s.SeqStmt) else self._repeat
            built = make(decl.repeat, first, scope)
            if built is None:
                raise Reported
            info.module, info.first, info.in_shape = built.module, e.span, first.shape
            info.out, info.rows = built.out, built.rows
            info.owner[info.slot] = ir.Member(decl.name, built.module)
            return built
        if fmt_shape(first.shape) != fmt_shape(info.in_shape):
            self._error(
                "E0304",
                f"`{decl.name}` receives {fmt_shape(first.shape)} here",
                e.span,
                labels=(Label(info.first, f"first called with {fmt_shape(info.in_shape)}"),),
            )
            raise Reported
        built = Built(
            ir.SharedRef(decl.name), info.out.at(e.span), 0, "Sequential", rows=list(info.rows)
        )
        built.params = 0
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
