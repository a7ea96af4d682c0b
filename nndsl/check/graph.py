"""Checking graph-style bodies: declarations connected by a hand-written ``forward``.

A body with a ``forward`` section declares its layers, parameters and constants by name; the
forward's statements connect them. Every declared layer is built at its first call, with the
sizes of what that call passes (later calls must fit, and share its weights). Every expression
gets a type and an expression (:mod:`nndsl.check.graph_expr`, calls in
:mod:`nndsl.check.graph_calls`); the forward becomes statements (:mod:`nndsl.check.graph_stmts`)
that carry the types of their shape comments.
"""

from __future__ import annotations

from nndsl.check.bind import eval_diag, match_args
from nndsl.check.branches import BranchRules
from nndsl.check.flow import Scope, Shared, is_int, too_large
from nndsl.check.forward_types import Maybe
from nndsl.check.graph_calls import CallRules
from nndsl.check.graph_expr import Binding, Decl, ExprRules, Graph
from nndsl.check.graph_refs import RefRules
from nndsl.check.graph_stmts import StatementRules
from nndsl.check.record import recorded
from nndsl.diagnostics.core import Label
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.expr import formula_text
from nndsl.ir.shapes import Dim
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.util.naming import local, suggest

INITS = ("randn", "rand", "zeros", "ones")


class GraphRules(StatementRules, ExprRules, CallRules, RefRules, BranchRules):
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
                g.values[name] = Binding(ex.Name(local(name)), Maybe(t) if optional else t, span)
        for b in g.values.values():
            b.used = True  # an unused input is the caller's business, not a mistake here
        self._input_sizes(g, inputs)
        ok = self._fbody(forward.body, g, top=True)
        g.body[:0] = self._size_reads(g)
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
        for decl in g.decls.values() if not g.skipped else ():  # all its code is checked
            if not decl.called and decl.kind == "module":
                self._warn("W0101", f"layer `{decl.name}` is never called", decl.span)
            elif not decl.called:
                self._warn("W0101", f"{decl.kind} `{decl.name}` is never used", decl.span)
        for name, span in sorted(
            set(g.unused) if ok and not g.skipped else (), key=lambda u: (u[1].line, u[1].column)
        ):
            self._warn(
                "W0103",
                f"the value `{name}` is never used",
                span,
                help="remove it, or prefix its name with `_`",
            )
        if not ok:
            g.returned = None
        self._cond_members(g)
        for name in sorted(g.stored):
            g.scope.members.append(ir.Member(name, ir.Stored(name)))
        return g

    def _declare(self, body: tuple, g: Graph, feature) -> None:
        scope = g.scope
        for st in body:
            if isinstance(st, s.IfStmt):
                self._declare_if(st, g, feature)
                continue
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
            if isinstance(st, s.SeqStmt) and st.kind == "ModuleList":
                self._error(
                    "E0120",
                    "a `ModuleList` is not called: a stack applies its layers",
                    st.kind_span,
                    help="declare a `Sequential`, which a forward calls",
                )
                continue
            if isinstance(st, (s.RepeatStmt, s.SeqStmt)):
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
        env = {**scope.env, "in": feature} if feature is not None else scope.env
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
                f"a shape is a list of sizes of at least 1, not {shape.text}",
                bound["shape"].value.span,
            )
            return None
        exprs = [evaluate(i, env).expr for i in items] if len(items) == len(dims) else []
        exprs = exprs or [ex.constant(d) for d in dims]
        init = self._tensor_init(bound)
        if init is None:
            return None
        dims = tuple(Dim(int(d), formula_text(e)) for d, e in zip(dims, exprs))
        count = 1
        for d in dims:
            count *= int(d)
        if (big := too_large(f"`{st.name}`", dims, count)) is not None:
            self._error("E0127", big, bound["shape"].value.span)
            return None
        scope.members.append(ir.Member(st.name, ir.TensorNew(kind, init, tuple(exprs))))
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
        value = Value(Tensor(dims, "float32"), ex.self_attr(st.name))
        return Decl(st.name, st.name_span, kind, value=value)

    def _tensor_init(self, bound: dict) -> str | None:
        """The creation function a ``param`` or ``buffer`` names (``randn`` by default)."""
        if "init" not in bound:
            return "randn"
        node = bound["init"].value
        init = node.id if isinstance(node, s.Name) else getattr(node, "value", None)
        if init in INITS:
            return init
        self._error(
            "E0106",
            f"unknown init `{init}`",
            node.span,
            help=suggest(str(init), INITS) or f"use one of {', '.join(INITS)}",
        )
        return None
