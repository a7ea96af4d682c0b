"""The statements of a graph-style forward: assignments (with unpacking), ``return`` and
``while`` loops, checked and kept as :mod:`nndsl.ir.expr` statements, each with the types its
shape comment shows."""

from __future__ import annotations

from nndsl.check.forward_types import (
    POISON,
    Maybe,
    describe,
    dtypes_text,
    shown,
    tensors_only,
    type_text,
)
from nndsl.check.graph_expr import Binding, Graph
from nndsl.check.record import recorded
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import Value
from nndsl.lang import syntax as s
from nndsl.util.naming import local

_UNDERSCORE = ex.Name("_")


class StatementRules:
    """The statements of a forward (mixed into :class:`nndsl.check.checker.Checker`)."""

    def _fbody(self, body: tuple, g: Graph, top: bool) -> bool:
        """Check statements; False after an error."""
        ok = True
        for st in body:
            if g.rest:  # a branch returned: what follows runs only at other uses
                g.body.append(ex.UNSEEN)
                break
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
                    case s.IfStmt():
                        self._fif(st, g, top)
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
        g.body.append(ex.Assign(target, value.expr, shown(value.py)))

    def _poison(self, t, g: Graph) -> None:
        if isinstance(t, s.TupleTarget):
            for x in t.items:
                self._poison(x, g)
        elif t.id not in g.decls:
            g.values[t.id] = Binding(ex.Name(local(t.id)), POISON, t.span, used=True)

    def _target(self, t, typ, g: Graph, value_span: s.Span, nested: bool = True) -> ex.Expr:
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
            parts = [self._target(i, y, g, value_span) for i, y in zip(t.items, typ)]
            for i in t.items:  # like Python linters: unpacking may leave parts unused
                if isinstance(i, s.Name) and i.id in g.values:
                    g.values[i.id].used = True
            return ex.Tuple(tuple(parts))
        name = t.id
        if name == "_":
            return _UNDERSCORE
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
        target = ex.Name(local(name))
        g.values[name] = Binding(target, typ, t.span)
        return target

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
        exprs = tuple(v.expr for v in values)
        g.body.append(ex.Return(exprs, tuple(shown(v.py) for v in values)))
        g.returned = typ

    @recorded("while_")
    def _while(self, st: s.While, g: Graph) -> None:
        cond = self._condition(st.cond, g)
        before = dict(g.values)
        outer, g.body = g.body, []
        try:
            ok = self._fbody(st.body, g, top=False)
        finally:
            outer.append(ex.While(cond.expr, tuple(g.body)))
            g.body = outer
        after, g.values = g.values, dict(before)
        changed = [n for n, old in before.items() if after.get(n, old) is not old]
        for name in changed:  # until the loop checks, its values are unknown
            g.values[name] = Binding(before[name].expr, POISON, before[name].span, used=True)
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
            g.values[name] = Binding(old.expr, old.type, old.span, sources=[old, new])
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
