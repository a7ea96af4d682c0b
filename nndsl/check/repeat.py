"""Checking ``repeat``: each iteration elaborated, then all merged into one loop.

The generated code is a loop, never an unrolled copy, when the iterations differ only in
argument values: a value that changes only after the first iteration becomes
``a if i == 0 else b``, others a hoisted list indexed by the loop variable.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace

from nndsl.check.bind import eval_diag
from nndsl.check.conditions import constant
from nndsl.check.flow import (
    MAX_REPEAT,
    Built,
    Flow,
    Scope,
    is_int,
    item_row,
    nested_rows,
    strip_var,
)
from nndsl.check.progression import Growth, carried, first_only, in_loop, leaving
from nndsl.check.record import recorded
from nndsl.check.sizes import size_of
from nndsl.ir import expr as x
from nndsl.ir import nodes as ir
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.util.naming import Namespace, local


class RepeatRules:
    """The repeat half of the checker (mixed into :class:`nndsl.check.checker.Checker`)."""

    @recorded("repeat")
    def _repeat(self, stmt: s.RepeatStmt, flow: Flow, scope: Scope) -> Built | None:
        count = self._repeat_count(stmt, scope)
        if count is None or flow.shape is None:  # after an error the sizes coming in are unknown
            return None
        code_var = local(stmt.var) if stmt.var else "_"
        # refuse what would pass the limit before building any of it
        self._refuse_beyond(stmt.span, self.built + count.py * least_size(stmt.body, scope.env))
        if count.py == 0:  # no copy: the input passes through, and nothing is checked
            module = ir.RepeatNew(count.expr, code_var, ir.UNSEEN)
            return Built(module, flow.at(stmt.span), 0, "repeat 0")
        iterations, rows, total = [], [], 0
        out = flow
        before = self.built
        growth = Growth(strip_var(flow.shape, code_var), code_var, count.expr)
        for k in range(count.py):
            if k == 1:  # the first iteration's size says what the others will build
                per_iteration = self.built - before
                self._refuse_beyond(stmt.span, self.built + per_iteration * (count.py - 1))
            env = dict(scope.env)
            if stmt.var:
                env[stmt.var] = Value(k, x.Name(code_var))
            sub = Scope(env=env, ns=scope.ns, shared=scope.shared, named=scope.named)
            start = out.shape if k else strip_var(out.shape, code_var)  # k-1's sizes
            cur = Flow(start, out.dtype, out.span)
            items = []
            for j, inner in enumerate(stmt.body):
                built = self._repeat_item(inner, cur, sub)
                if built is None:
                    return None
                if built.call != "tensor":
                    self._error(
                        "E0116",
                        f"{built.type} cannot sit directly in a `repeat`",
                        inner.span,
                        help="wrap it in a `block` and repeat the block",
                    )
                    return None
                items.append(built.module)
                suffix = f"{k}.{j}" if len(stmt.body) > 1 else f"{k}"
                ref = sub.shared[inner.name] if isinstance(inner, s.UseStmt) else None
                rows.append(item_row(suffix, built, ref, j, cur))
                rows.extend(nested_rows(built.rows, suffix))
                total += built.params
                cur = built.out
            iterations.append(tuple(items))
            made = growth.after(start, cur.shape)
            out = Flow(carried(made, code_var, count.expr), cur.dtype)
        then = first_only(growth.first, out.shape, count.expr) if count.py == 1 else ()
        shape = growth.last(leaving(made, code_var, count.expr), count.expr)
        out = Flow(shape, out.dtype, stmt.span)
        module = _merge(iterations, count.expr, code_var, scope.ns, growth.loop_sizes(), then)
        return Built(module, out, total, f"repeat {count.py}", rows=rows)

    def _repeat_count(self, stmt: s.RepeatStmt, scope: Scope) -> Value | None:
        """The repeat's count, once it and the statements it repeats are found legal."""
        try:
            count = evaluate(stmt.count, scope.env)
        except EvalError as err:
            self.diags.append(eval_diag(err))
            return None
        if not is_int(count.py) or not 0 <= count.py <= MAX_REPEAT:
            self._error(
                "E0111",
                f"repeat count must be an integer from 0 to {MAX_REPEAT}, not {count.text}",
                stmt.count.span,
            )
            return None
        if stmt.var is not None and not self._name_ok(stmt.var, stmt.var_span, "local"):
            return None
        for inner in stmt.body:
            named = not isinstance(inner, s.UseStmt) and getattr(inner, "name", None)
            if isinstance(inner, s.SharedStmt) or named:
                self._error(
                    "E0115",
                    "layers inside `repeat` cannot be named or shared",
                    inner.name_span,
                    help="move them into a `block` and repeat the block",
                )
                return None
        return count

    @recorded("repeat_item")
    def _repeat_item(self, inner, cur: Flow, sub: Scope) -> Built | None:
        if isinstance(inner, s.UseStmt):
            built = self._use(inner, cur, sub)
            return built and replace(built, module=ir.SharedRef(inner.name))
        if isinstance(inner, s.RepeatStmt):
            return self._repeat(inner, cur, sub)
        if isinstance(inner, s.SeqStmt):
            return self._seq(inner, cur, sub)
        if isinstance(inner, s.IfStmt):
            self._error(
                "E0130",
                "an `if` among the layers of a `repeat` is not supported",
                inner.span,
                help="put the repeat in a `Sequential { ... }`, whose children an `if` chooses",
            )
            return None
        return self._build(inner.call, cur, sub, None)


def _merge(
    iterations: list[tuple],
    count: x.Expr,
    var: str,
    ns: Namespace,
    sizes: list = (),
    then: list = (),
) -> ir.RepeatNew:
    """One loop for all iterations, hoisting per-iteration argument values into lists;
    ``sizes``: (first, step) of the sizes that grow by one step at every iteration
    (:mod:`nndsl.check.progression`), written as a formula of the loop variable; ``then``:
    for one iteration, (its size, the size a next one would read) of the others."""
    first = iterations[0]
    index = "i" if var == "_" else var
    if sizes:
        iterations = [_grown(it, k, sizes, index) for k, it in enumerate(iterations)]
    if then and len(iterations) == 1:
        iterations = [_first_only(iterations[0], then, index)]
    if iterations[0] != first:
        var, first = index, iterations[0]
    if all(it == first for it in iterations):
        return ir.RepeatNew(count, var, first)
    if any(len(it) != len(first) for it in iterations):  # an `if` chose other layers
        return _written_out(iterations, var)
    items, lists = [], []
    for j in range(len(first)):
        column = [it[j] for it in iterations]
        merged = _merge_column(column, var, ns, lists)
        if merged is None:  # no common form: write each iteration out
            return _written_out(iterations, var)
        items.append(merged)
    return ir.RepeatNew(count, "i" if var == "_" else var, tuple(items), tuple(lists))


def _grown(items: tuple, k: int, sizes: list, index: str) -> tuple:
    """Iteration ``k``'s items, each constructor argument that is a growing size there
    written for every iteration (``in_channels + i * growth``)."""
    return _args_as(items, lambda v: in_loop(v, k, sizes, index))


def _first_only(items: tuple, then: list, index: str) -> tuple:
    """The items of a loop's one iteration, each argument that is a size of it which the
    iterations after it would read another way written for both (``c if i == 0 else d``)."""
    first = x.BinOp("==", x.Name(index), x.Lit(0))
    later = dict(then)
    return _args_as(items, lambda v: x.IfExp(first, v, later[v]) if v in later else None)


def _args_as(items: tuple, rewrite) -> tuple:
    """``items``, each constructor argument of a layer or block written as ``rewrite`` gives
    it (where it gives one)."""
    out = []
    for m in items:
        if isinstance(m, (ir.LayerNew, ir.BlockNew)):
            args = []
            for a in m.args:
                value = rewrite(a.value)
                args.append(a if value is None else ir.Arg(a.name, value))
            m = replace(m, args=tuple(args))
        out.append(m)
    return tuple(out)


_ONE = x.Lit(1)
merge_iterations = _merge


def _written_out(iterations: list[tuple], var: str) -> ir.RepeatNew:
    """Each iteration written out, its loop variable its number there."""
    return ir.RepeatNew(
        None, var, tuple(ir.RepeatNew(_ONE, "_", at(it, var, k)) for k, it in enumerate(iterations))
    )


def at(value, var: str, k: int):
    """``value`` with the name ``var`` read as ``k``: ``[2, 1][i]`` at ``i`` = 0 is ``2``.

    >>> at(x.Index(x.List((x.Lit(2), x.Lit(1))), (x.Name("i"),)), "i", 1)
    Lit(value=1, text=None)
    """
    if type(value) is x.Name:
        return x.Lit(k) if value.id == var else value
    if type(value) is x.Formula:  # a size passed on from a layer of this copy
        text = re.sub(rf"\b{re.escape(var)}\b", str(k), value.text)
        size = size_of(text, {})
        return x.Lit(size) if size is not None else x.Formula(text)
    if type(value) is tuple:
        out = []
        for v in value:
            chosen = _known_branch(v, var, k)
            out += at(chosen, var, k) if chosen is not None else [at(v, var, k)]
        return tuple(out)
    if type(value) is x.Index:
        base, items = at(value.value, var, k), at(value.items, var, k)
        if type(base) in (x.List, x.Tuple) and len(items) == 1 and type(items[0]) is x.Lit:
            i = items[0].value
            if (
                isinstance(i, int)
                and not isinstance(i, bool)
                and -len(base.items) <= i < len(base.items)
            ):
                return base.items[i]
        return x.Index(base, items)
    if is_dataclass(value) and not isinstance(value, (type, x.Lit, x.Unseen)):
        return type(value)(**{f.name: at(getattr(value, f.name), var, k) for f in fields(value)})
    return value


def _known_branch(item, var: str, k: int):
    """An ``if`` inside copy ``k`` whose condition only the loop's index decided: the children
    it chose, as a tuple; else None."""
    if type(item) is not ir.CondItems:
        return None
    value = constant(at(item.cond, var, k))
    if not isinstance(value, bool):
        return None
    return item.then if value else item.orelse


def _list_expr(values: list[x.Expr]) -> x.Expr:
    """A list, with runs written as repetition: ``[1] + [10] * 7``.

    >>> one, ten = x.Lit(1), x.Lit(10)
    >>> _list_expr([one, ten, ten, ten]) == x.BinOp(
    ...     "+", x.List((one,)), x.BinOp("*", x.List((ten,)), x.Lit(3))
    ... )
    True
    """
    runs: list[list] = []
    for c in values:
        if runs and runs[-1][0] == c:
            runs[-1][1] += 1
        else:
            runs.append([c, 1])
    if all(n < 3 for _, n in runs):
        return x.List(tuple(values))
    parts, plain = [], []
    for c, n in runs:
        if n >= 3:
            if plain:
                parts.append(x.List(tuple(plain)))
                plain = []
            parts.append(x.BinOp("*", x.List((c,)), x.Lit(n)))
        else:
            plain += [c] * n
    if plain:
        parts.append(x.List(tuple(plain)))
    out = parts[0]
    for p in parts[1:]:
        out = x.BinOp("+", out, p)
    return out


def _merge_column(column: list, var: str, ns: Namespace, lists: list) -> ir.ModuleNew | None:
    head = column[0]
    if all(m == head for m in column):
        return head
    if not all(type(m) is type(head) for m in column) or not isinstance(
        head, (ir.LayerNew, ir.BlockNew)
    ):
        return None
    if isinstance(head, ir.BlockNew) and any(m.class_name != head.class_name for m in column):
        return None
    if isinstance(head, ir.LayerNew) and any(m.ctor != head.ctor for m in column):
        return None
    if any(
        len(m.args) != len(head.args) or [a.name for a in m.args] != [a.name for a in head.args]
        for m in column
    ):
        return None
    args = []
    index = "i" if var == "_" else var
    for pos, arg in enumerate(head.args):
        values = [m.args[pos].value for m in column]
        if all(c == values[0] for c in values):
            args.append(arg)
            continue
        i = x.Name(index)
        if all(c == values[1] for c in values[1:]):  # only the first differs: true for any count
            first = x.BinOp("==", i, x.Lit(0))
            args.append(ir.Arg(arg.name, x.IfExp(first, values[0], values[1])))
            continue
        name = ns.unique("sizes" if arg.name is None else f"{arg.name}_values")
        lists.append((name, _list_expr(values)))
        args.append(ir.Arg(arg.name, x.Index(x.Name(name), (i,))))
    return replace(head, args=tuple(args))


def least_size(body: tuple, env: dict) -> int:
    """The fewest layers ``body`` can build: one a statement, times each nested repeat's count
    where it is known from ``env`` alone (one where it is not, as for a count that depends on
    a loop variable). A block counts one; its own size is counted as it is built.

    >>> from nndsl.lang.parser import parse
    >>> model = parse("model M(x: [4]) { repeat 100 { repeat 3 { ReLU() } } Tanh() }").items[0]
    >>> least_size(model.body, {})
    301
    """
    size = 0
    for st in body:
        if isinstance(st, s.RepeatStmt):
            try:
                count = evaluate(st.count, env).py
            except EvalError:
                count = 1
            count = count if is_int(count) and 0 <= count <= MAX_REPEAT else 1
            size += count * least_size(st.body, env)
        elif isinstance(st, s.SeqStmt):
            size += least_size(st.body, env)
        elif isinstance(st, s.IfStmt):  # the fewer of its branches
            size += min(least_size(st.body, env), least_size(st.orelse or (), env))
        else:
            size += 1
    return size
