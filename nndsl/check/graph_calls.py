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
from nndsl.ir.shapes import fmt_shape
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
        if decl.cond is not None and decl.cond.absent:
            return self._absent_call(decl, e, g)
        if not e.args:
            self._error(
                "E0103", f"`{decl.name}` needs an input", e.span, help=f"write `{decl.name}(x)`"
            )
            raise Reported
        args = [self._fx(a.value, g) for a in e.args]
        info = decl.shared
        layer = REGISTRY.get(info.decl.call.name) if info.decl is not None else None
        kind = layer.call if layer is not None else "tensor"
        state = args.pop() if kind == "rnn" and len(args) == 2 else None
        flows = self._call_inputs(decl, e, args, kind)
        built = self._call_module(decl, e, flows, g, kind)
        out = built.out
        passed = [v.expr for v in args] * (3 if kind == "attention" and len(args) == 1 else 1)
        if kind == "rnn":
            result = (tensor_of(out), self._rnn_state(built, flows[0], state, e, decl))
            passed += [state.expr] if state is not None else []
        elif kind == "attention":
            result = (tensor_of(out), self._attention_weights(layer, flows))
        elif built.result is not None:
            result = built.result
        else:
            result = tensor_of(out)
        return Value(result, ex.Call(ex.self_attr(decl.name), tuple(passed)))

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
                slot=info.slot,
                line=decl.span.line,
                inputs=tuple(f.shape for f in flows),
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

    def _attention_weights(self, layer, flows: list[Flow]) -> Tensor:
        q = flows[0]
        k = flows[1] if len(flows) > 1 else q
        return Tensor(layer.weights(q.shape, k.shape), q.dtype)
