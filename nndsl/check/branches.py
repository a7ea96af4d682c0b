"""``if`` in a body with a forward: layers declared under a condition, and a forward's
statements run under one.

At each use of a block the condition is known (:mod:`nndsl.check.conditions`), so only the
branch it chooses is checked; the other is :data:`ir.UNSEEN` in the class, which another use
may fill in (:mod:`nndsl.check.unify`). A layer that only the other branch declares is
``nn.Identity()`` here: calling it gives back its input, as torchvision's
``downsample`` that exists only when the stride or the width changes.
"""

from __future__ import annotations

from nndsl.check.conditions import names, on_self
from nndsl.check.flow import Shared
from nndsl.check.graph_expr import Decl, Graph
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import Value
from nndsl.lang import syntax as s
from nndsl.util.frozen import frozen


@frozen
class Chosen:
    """How a declaration depends on its ``if``: the condition's expression and value at this
    use, whether the other branch declares a layer of the same name (``other``), and whether
    this use's branch does not declare it at all (``absent``: it is the identity)."""

    expr: ex.Expr
    value: bool
    other: bool = False
    absent: bool = False


class BranchRules:
    """``if`` in graph bodies (mixed into :class:`nndsl.check.checker.Checker`)."""

    def _declare_if(self, st: s.IfStmt, g: Graph, feature) -> None:
        env = {**g.scope.env, "in": feature} if feature is not None else g.scope.env
        cond = self._known_condition(st.cond, env)
        if cond is None:
            return
        branches = (st.body, st.orelse or ())
        declared = [{getattr(i, "name", None) for i in b} - {None} for b in branches]
        taken = 0 if cond.py else 1
        first: dict = {}
        for inner in branches[1 - taken]:  # the branch taken checks its names as it declares
            name = getattr(inner, "name", None)
            if name is not None and name in first:
                self._error(
                    "E0109",
                    f"the name `{name}` is used twice in this branch",
                    inner.name_span,
                    labels=(Label(first[name], "first used here"),),
                )
            first.setdefault(name, getattr(inner, "name_span", None))
        for i, branch in enumerate(branches):
            for inner in branch:
                if isinstance(inner, s.IfStmt):
                    self._error(
                        "E0130",
                        "an `if` among declarations cannot hold another `if`",
                        inner.span,
                        help="join the conditions with `and`",
                    )
                    continue
                name = getattr(inner, "name", None)
                other = name in declared[1 - i]
                if i == taken:
                    self._declare_chosen(inner, g, feature, Chosen(cond.expr, cond.py, other))
                elif name is not None and not other:
                    self._declare_absent(inner, g, Chosen(cond.expr, cond.py, absent=True))

    def _declare_chosen(self, st, g: Graph, feature, chosen: Chosen) -> None:
        before = set(g.decls)
        self._declare((st,), g, feature)
        decl = g.decls.get(st.name) if st.name not in before else None
        if decl is None:
            return
        if decl.kind != "module":
            self._error(
                "E0130",
                f"a {decl.kind} cannot be declared under an `if`",
                st.name_span,
                help="declare it before the `if`",
            )
            del g.decls[st.name]
            return
        decl.cond = chosen

    def _declare_absent(self, st, g: Graph, chosen: Chosen) -> None:
        """A layer only the branch not taken declares: the identity at this use."""
        scope = g.scope
        if isinstance(st, s.UseStmt) or self._attr(st.name, st.name_span, scope) is None:
            return
        decl = Decl(st.name, st.name_span, "module", cond=chosen)
        decl.shared = Shared(None, len(scope.members), st.name, scope.members)
        scope.members.append(None)
        g.decls[st.name] = decl

    def _absent_call(self, decl: Decl, e: s.CallExpr, g: Graph) -> Value:
        if len(e.args) != 1:
            self._error(
                "E0104",
                f"`{decl.name}` is not declared at this use, and passes on its one input",
                e.span,
                help="a layer its `if` leaves out is nn.Identity(), called with one tensor",
            )
            raise Reported
        v = self._fx(e.args[0].value, g)
        self._no_maybe((v, e.args[0].value))
        if not isinstance(v.py, Tensor):
            self._error("E0306", f"`{decl.name}` needs a tensor input", e.args[0].value.span)
            raise Reported
        return Value(v.py, ex.Call(ex.self_attr(decl.name), (v.expr,)))

    def _cond_members(self, g: Graph) -> None:
        """The members declared under an ``if``, each what this use builds in its branch and
        :data:`ir.UNSEEN` or ``nn.Identity()`` in the other."""
        members = g.scope.members
        for decl in g.decls.values():
            chosen = decl.cond
            if chosen is None:
                continue
            m = members[decl.shared.slot]
            if chosen.absent:
                here, other = ir.IDENTITY, ir.UNSEEN
            elif m is None:  # never called (reported): not built
                continue
            else:
                here, other = m.module, ir.UNSEEN if chosen.other else ir.IDENTITY
            if not names(chosen.expr):  # a condition of constants: the one branch it takes
                members[decl.shared.slot] = ir.Member(decl.name, here)
                continue
            then, orelse = (here, other) if chosen.value else (other, here)
            members[decl.shared.slot] = ir.Member(decl.name, ir.CondNew(chosen.expr, then, orelse))

    # ---- in the forward ---------------------------------------------------------------------

    def _fif(self, st: s.IfStmt, g: Graph, top: bool) -> None:
        """An ``if`` in a forward: the branch its condition chooses at this use is checked; the
        generated forward tests the condition on the parameters kept as attributes."""
        env = g.scope.env
        cond = self._known_condition(st.cond, env)
        if cond is None:
            raise Reported
        params = {v.expr.id for v in env.values() if isinstance(v.expr, ex.Name)}
        read = names(cond.expr) & params
        g.stored |= read
        returned = g.returned is not None
        outer, g.body = g.body, []
        try:
            ok = self._fbody(st.body if cond.py else st.orelse or (), g, top)
        finally:
            inner, g.body = tuple(g.body), outer
        if not names(cond.expr):  # a condition of constants: the branch it takes, as it is
            g.body.extend(inner)
        else:
            g.skipped = True
            if cond.py:
                then, orelse = inner, ir.UNSEEN if st.orelse is not None else ()
            else:
                then, orelse = ir.UNSEEN, inner
            g.body.append(ex.If(on_self(cond.expr, read), then, orelse))
            g.rest = g.rest or (g.returned is not None and not returned)
        if not ok:
            raise Reported
