"""Building one module where a body uses it: a registry layer (its arguments bound, inferred
and checked against the input's shape and dtype), a block or a nested model, and the uses of
a shared layer after its first; with the count of what is built, refused past MAX_BUILT."""

from __future__ import annotations

from dataclasses import replace

from nndsl.check.bind import emit_args, layer_args
from nndsl.check.flow import (
    Built,
    Flow,
    Scope,
    Shared,
    from_label,
    is_int,
    second_input,
    too_large,
)
from nndsl.check.graph_refs import split_ties
from nndsl.check.layer_memo import memo_key
from nndsl.check.memory import dtype_refused
from nndsl.check.record import recorded
from nndsl.diagnostics.core import CompileError, Diagnostic, Fix, Label, Reported
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim, MissingArgument, RankError, ShapeError, fmt_shape, known
from nndsl.lang import syntax as s
from nndsl.registry.layer_base import trainable_count
from nndsl.registry.layers import REGISTRY, Layer, check_rank, complete_args
from nndsl.util.naming import suggest

MAX_BUILT = 200_000  # layers built and summary rows copied in all: about 3 s of checking


class ModuleRules:
    """Module building for the checker (mixed into :class:`nndsl.check.checker.Checker`)."""

    def _build(
        self, call: s.Call, flow: Flow, scope: Scope, attr: str | None, extra: tuple = (), slot=None
    ) -> Built | None:
        """Build a module for ``call`` at its first use; ``extra``: inputs after the first,
        which only a forward passes; ``slot``: where it is registered, for its ties (None: after
        every module built so far)."""
        self._grow(call, 1)
        call, ties = split_ties(call)
        built = self._build_module(call, flow, scope, attr, extra)
        if built is not None and ties:
            try:
                built = self._tie(built, ties, call, scope, attr, slot)
            except Reported:
                return None
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
        if "." in call.name or call.name in self.imported:
            return self._escape(call, flow, scope, attr)
        if call.shape is not None:
            self._error(
                "E0133",
                f"`{call.name}` has a shape nndsl works out: it takes no declared shape",
                call.shape.span,
                help="remove `-> ...`; only a torch module or an imported class declares one",
            )
            return None
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
        """A registry layer, worked out or, for one built before with the same key
        (:mod:`nndsl.check.layer_memo`), taken from the memo."""
        key = None if extra or flow.shape is None else memo_key(call, flow.shape, flow.dtype)
        known_built = self.layer_memo.get(key) if key is not None else None
        if known_built is None:
            built = self._layer_made(call, layer, flow, env, attr, extra)
            if key is not None and built is not None:
                out = built.out
                passes = out.shape is flow.shape  # the input's own shape (an elementwise layer)
                self.layer_memo[key] = (
                    built.func_args,
                    (out.shape, out.dtype, passes),
                    built.params,
                    dict(built.args),
                    built.tensors,
                )
            return built
        emitted, (shape, dtype, passes), params, args, tensors = known_built
        if layer.depth is not None:
            self._grow(call, layer.depth(args) - 1)
        return Built(
            ir.LayerNew(layer.ctor, emitted),
            flow.then(flow.shape if passes else shape, dtype, call.span),
            params,
            layer.name,
            layer.call,
            layer.functional,
            emitted,
            args=dict(args),
            tensors=tensors,
            entry=layer,
        )

    def _layer_made(self, call, layer: Layer, flow: Flow, env, attr, extra: tuple) -> Built | None:
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
        if layer.depth is not None:  # a stacked RNN: counted before its tensors are listed
            self._grow(call, layer.depth(args) - 1)
        tensors = layer.tensors(args)
        params = trainable_count(tensors)
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
            tensors=tensors,
            entry=layer,
        )

    def _explicit_ok(self, call, layer, label, values, nodes, flow) -> None:
        for spec in layer.args:
            if spec.infer is None or spec.name not in values:
                continue
            inferred = spec.infer(flow.shape)
            explicit = values[spec.name].py
            if isinstance(inferred, str):  # a size known only at run time: it may differ
                self._error(
                    "E0301",
                    f"{label} expects {spec.name}={explicit} but receives {inferred}, a size "
                    "known only when the model runs",
                    nodes[spec.name].span,
                    label=f"expects {explicit}",
                    labels=from_label(flow),
                    help=f"a layer's size is fixed when it is built: give that dim the size "
                    f"{explicit} where the input is declared, or bring a dim of size {explicit} "
                    "there first (e.g. with `transpose`)",
                )
                raise Reported
            if known(inferred) and int(inferred) != explicit:
                rest = [a.span for a in call.args if a is not nodes[spec.name]]
                written = f"{call.name}({', '.join(self._text(r) for r in rest)})"
                one_line = all(r.end_line == r.line for r in (call.span, *rest))
                self._error(
                    "E0301",
                    f"{label} expects {spec.name}={explicit} but receives {int(inferred)}",
                    nodes[spec.name].span,
                    label=f"expects {explicit}",
                    labels=from_label(flow),
                    help=f"write `{written}` and let nndsl infer {int(inferred)}",
                    fix=Fix(call.span, written) if one_line else None,
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
            built = self._build(info.decl.call, flow, scope, info.attr, extra, info.slot)
            if built is None:
                info.module = ir.SharedRef(info.attr)  # reported; don't report again
                return None
            info.module, info.first, info.in_shape = built.module, node.span, flow.shape
            info.out, info.rows, info.result = built.out, built.rows, built.result
            info.declared = built.declared
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
                declared=info.declared,
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
            Flow(tuple(out), layer.out_dtype or flow.dtype, stmt.span),  # Embedding: float
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
                fix=Fix(stmt.span, f"{stmt.name}()"),
            )
        else:
            hint = suggest(stmt.name, list(scope.shared) + list(REGISTRY) + list(self.blocks))
            self._error("E0108", f"`{stmt.name}` is not defined", stmt.span, help=hint)
