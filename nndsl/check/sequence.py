"""Checking sequences: ``Sequential { ... }`` and ``ModuleList { ... }``, whose layers are
children numbered from 0 as torch numbers them, and blocks that are a sequence
(``block Stem = Sequential { ... }``).

Inside a sequence a ``repeat`` adds the layers of each copy as children, one after another, and
an ``if`` adds the layers of the branch its condition chooses (:mod:`nndsl.check.conditions`),
so that the numbering is the one torch gives the generated code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from nndsl.check.bind import eval_diag
from nndsl.check.conditions import condition, names
from nndsl.check.flow import (
    Built,
    Flow,
    Scope,
    block_input,
    export_dim,
    feature_value,
    item_row,
    nested_rows,
    strip_var,
)
from nndsl.check.forward_types import type_text
from nndsl.check.progression import Growth, carried, first_only, leaving
from nndsl.check.record import recorded
from nndsl.check.repeat import least_size, merge_iterations
from nndsl.ir import expr as x
from nndsl.ir import nodes as ir
from nndsl.ir.values import EvalError, Value
from nndsl.lang import syntax as s
from nndsl.util.naming import Namespace, local, suggest

CONTAINERS = ("Sequential", "ModuleList")


@dataclass
class Numbering:
    """A sequence under construction: the next child's number, its summary rows, its size."""

    next: int = 0
    rows: list = field(default_factory=list)
    params: int = 0


class SequenceRules:
    """The sequence half of the checker (mixed into :class:`nndsl.check.checker.Checker`)."""

    @recorded("seq")
    def _seq(self, stmt: s.SeqStmt, flow: Flow, scope: Scope) -> Built | None:
        """A ``Sequential`` or ``ModuleList`` statement, applied to ``flow``."""
        kind = self._container(stmt.kind, stmt.kind_span)
        if kind is None or flow.shape is None:
            return None
        sub = Scope(env=scope.env, ns=scope.ns, shared=scope.shared, named=scope.named)
        count = Numbering()
        made = self._seq_items(stmt.body, flow, sub, count)
        if made is None:
            return None
        items, out = made
        built = Built(ir.SeqNew(kind, tuple(items)), out.at(stmt.span), count.params, kind)
        built.rows = count.rows
        if kind == "ModuleList":
            built.call = "each"  # a stack applies its layers in a loop
        return built

    def _container(self, kind: str, span: s.Span, only_sequential: bool = False) -> str | None:
        allowed = ("Sequential",) if only_sequential else CONTAINERS
        if kind in allowed:
            return kind
        what = "a block is a `Sequential`" if only_sequential else "a sequence"
        hint = suggest(kind, allowed) or f"{what}: write `Sequential {{ ... }}`"
        self._error("E0101", f"unknown sequence `{kind}`", span, help=hint)
        return None

    def _seq_items(self, body: tuple, cur: Flow, scope: Scope, count: Numbering):
        """The children ``body`` adds, numbered on from ``count``, and what flows out; None
        after an error."""
        items: list = []
        for inner in body:
            if getattr(inner, "name", None) is not None and not isinstance(inner, s.UseStmt):
                self._error(
                    "E0115",
                    "the layers of a sequence are numbered, not named",
                    inner.name_span,
                    help="name the sequence: its layers are `name.0`, `name.1`...",
                )
                return None
            if isinstance(inner, s.SharedStmt):  # not reached: a shared layer has a name
                return None
            if isinstance(inner, s.RepeatStmt):
                made = self._seq_repeat(inner, cur, scope, count)
            elif isinstance(inner, s.IfStmt):
                made = self._seq_if(inner, cur, scope, count)
            else:
                made = self._seq_child(inner, cur, scope, count)
            if made is None:
                return None
            more, cur = made
            items += more
        return items, cur

    def _seq_child(self, inner, cur: Flow, scope: Scope, count: Numbering):
        k = count.next
        built = self._seq_item(inner, cur, scope, k)
        if built is None:
            return None
        if built.call != "tensor" or built.result is not None:
            what = type_text(built.result) if built.result is not None else "not one tensor"
            self._error(
                "E0116",
                f"{built.type} cannot be a child of a sequence: it returns {what}",
                inner.span,
                help="wrap it in a `block` whose forward returns one tensor",
            )
            return None
        ref = scope.shared[inner.name] if isinstance(inner, s.UseStmt) else None
        count.rows.append(item_row(str(k), built, ref, k, cur))
        count.rows.extend(nested_rows(built.rows, str(k)))
        count.params += built.params
        count.next += 1
        return [built.module], built.out

    @recorded("seq_item")
    def _seq_item(self, inner, cur: Flow, scope: Scope, k: int) -> Built | None:
        if isinstance(inner, s.UseStmt):
            built = self._use(inner, cur, scope)
            return built and replace(built, module=ir.SharedRef(inner.name), func=None)
        if isinstance(inner, s.SeqStmt):
            return self._seq(inner, cur, scope)
        return self._build(inner.call, cur, scope, None)

    def _seq_repeat(self, stmt: s.RepeatStmt, cur: Flow, scope: Scope, count: Numbering):
        """A repeat inside a sequence: the children of each copy, then one loop for all."""
        times = self._repeat_count(stmt, scope)
        if times is None:
            return None
        var = local(stmt.var) if stmt.var else "_"
        self._refuse_beyond(stmt.span, self.built + times.py * least_size(stmt.body, scope.env))
        iterations, before = [], self.built
        growth = Growth(strip_var(cur.shape, var), var, times.expr)
        for k in range(times.py):
            if k == 1:
                self._refuse_beyond(stmt.span, self.built + (self.built - before) * times.py)
            env = dict(scope.env)
            if stmt.var:
                env[stmt.var] = Value(k, x.Name(var))
            sub = Scope(env=env, ns=scope.ns, shared=scope.shared, named=scope.named)
            start = Flow(cur.shape if k else strip_var(cur.shape, var), cur.dtype)
            made = self._seq_items(stmt.body, start, sub, count)
            if made is None:
                return None
            items, cur = made
            grown = growth.after(start.shape, cur.shape)
            cur = Flow(carried(grown, var, times.expr), cur.dtype)
            iterations.append(tuple(items))
        if iterations:
            cur = Flow(leaving(grown, var, times.expr), cur.dtype)
        cur = Flow(growth.last(cur.shape, times.expr), cur.dtype, stmt.span)
        if not iterations:
            return [ir.Splice(ir.RepeatNew(times.expr, var, ir.UNSEEN))], cur
        one = len(iterations) == 1
        then = first_only(growth.first, carried(grown, var, times.expr), times.expr) if one else ()
        merged = merge_iterations(iterations, times.expr, var, scope.ns, growth.loop_sizes(), then)
        return [ir.Splice(merged)], cur

    def _seq_if(self, stmt: s.IfStmt, cur: Flow, scope: Scope, count: Numbering):
        """An ``if`` inside a sequence: the children of the branch its condition chooses."""
        cond = self._known_condition(stmt.cond, scope.env)
        if cond is None:
            return None
        made = self._seq_items(stmt.body if cond.py else stmt.orelse or (), cur, scope, count)
        if made is None:
            return None
        items, out = made
        if not names(cond.expr):  # a condition of constants: the children it chooses
            return items, out
        return [_cond_items(cond, tuple(items), stmt.orelse is not None)], out

    def _known_condition(self, e: s.Cond, env: dict) -> Value | None:
        try:
            return condition(e, env)
        except EvalError as err:
            self.diags.append(eval_diag(err))
            return None

    # ---- a block that is a sequence ---------------------------------------------------------

    def _seq_block(self, call: s.Call, block: s.Block, params: dict, values: dict, flow: Flow):
        """``block Stem(c) = Sequential { ... }``: a class that is an nn.Sequential."""
        if self._container(block.container, block.container_span, True) is None:
            return None
        env = {p.name: Value(values[p.name].py, x.Name(local(p.name))) for p in block.params}
        start = Flow(block_input(flow.shape, set(env)), flow.dtype, block.name_span)
        feature = feature_value(start.shape)
        if feature is not None and "in" not in env:
            env["in"] = feature
        scope = Scope(env=env, ns=Namespace(set(env)))
        count = Numbering()
        self.stack.append(block.name)
        try:
            made = self._seq_body(block.body, start, scope, count)
        finally:
            self.stack.pop()
        if made is None:
            return None
        items, out = made
        doc = f"{block.keyword} {block.name}"
        body = ir.ClassDef("", (), (), "x", (), doc, (start.shown(),), out.shown(), items=items)
        class_name, inferred = self._specialise(block, body, params, values, flow.shape)
        new, mapping = self._instance(call, block, class_name, inferred, values, flow.shape)
        shape = tuple(export_dim(d, mapping) for d in out.shape)
        return Built(
            new, Flow(shape, out.dtype, call.span), count.params, block.name, rows=count.rows
        )

    @recorded("seq_body")
    def _seq_body(self, body: tuple, start: Flow, scope: Scope, count: Numbering):
        made = self._seq_items(body, start, scope, count)
        return None if made is None else (tuple(made[0]), made[1])


def _cond_items(cond: Value, built: tuple, has_else: bool) -> ir.CondItems:
    """The children of an ``if``: the branch built, and the other :data:`ir.UNSEEN` (an absent
    ``else`` adds no children)."""
    if cond.py:
        return ir.CondItems(cond.expr, built, ir.UNSEEN if has_else else ())
    return ir.CondItems(cond.expr, ir.UNSEEN, built)
