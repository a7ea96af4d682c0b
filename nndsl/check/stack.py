"""Checking a stack body: its statements one after the other, each layer, block, repeat or
use of a shared layer placed on the tensor flowing through, with its step of the generated
``forward`` and its row of the summary."""

from __future__ import annotations

from nndsl.check.flow import Built, Flow, Scope, Shared, nested_rows
from nndsl.check.forward_types import type_text
from nndsl.check.record import recorded
from nndsl.diagnostics.core import Label
from nndsl.ir import nodes as ir
from nndsl.lang import syntax as s


class StackRules:
    """The stack half of the checker (mixed into :class:`nndsl.check.checker.Checker`)."""

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
            case s.SeqStmt(name=name, name_span=name_span):
                attr = self._attr(name, name_span, scope)
                built = self._seq(stmt, flow, scope)
                if built is None:
                    return Flow(None, flow.dtype)
                attr = attr or scope.ns.for_layer(built.type)
                return self._place(built, attr, False, flow, scope, stmt.span)
            case s.IfStmt():
                self._error(
                    "E0130",
                    "an `if` in a stack chooses the children of a `Sequential`",
                    stmt.span,
                    help="write it inside `name = Sequential { ... }`, "
                    "or among the declarations of a block with a forward",
                )
                return Flow(None, flow.dtype)
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
                    check=built.declared,
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
                    tied=built.tied,
                    slot=slot,
                    line=built.line,
                    inputs=(flow.shape,),
                    counted=built.declared is None,
                )
            )
            if built.rows:
                scope.rows.extend(nested_rows(built.rows, attr))
        return out.at(span)

    def _class_def(self, scope, input_name, params, start: Flow, out: Flow, doc) -> ir.ClassDef:
        members = tuple(m for m in scope.members if m is not None) + tuple(scope.ties)
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
