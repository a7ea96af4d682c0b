"""Lints about what training leaves unused (read by :mod:`nndsl.check.lints`).

- W0407: a trained model's outputs after the first: the loss compares the first output with
  ``y`` and nothing trains the others. An output named like one of the model's optional inputs
  is the recurrent state it passes back, and is not reported.
- W0408: a data tensor that no model input, no targets and no tensor they are computed from
  reads, in a section some train section uses.
"""

from __future__ import annotations

from nndsl.diagnostics.core import Label
from nndsl.ir import nodes as ir
from nndsl.lang import syntax as s

TARGET = "y"  # the tensor the loss compares the model's first output with


def unused_outputs(program: s.Program, checked: ir.ProgramIR, warn) -> None:
    """W0407 for every trained model that returns more than one tensor."""
    models = {i.name: i for i in program.items if isinstance(i, s.Model)}
    infos = {m.name: m for m in checked.models}
    for t in checked.trains:
        model, info = models.get(t.model), infos.get(t.model)
        if t.steps or model is None or info is None or not isinstance(info.returns, tuple):
            continue
        if t.step is not None and not isinstance(info.returns, tuple):
            continue
        ret = _return(model)
        items = () if ret is None else ret.values
        if len(items) == 1 and isinstance(items[0], s.TupleLit):
            items = items[0].items
        state = {i.name for i in model.inputs if i.optional}
        unused = []
        for path in _paths(info.returns, ())[1:]:
            e = _item(items, path)
            if isinstance(e, s.Name) and e.id in state:
                continue  # the recurrent state the model passes back
            if t.step is not None and path[0] in t.step.used:
                continue  # the loss expression reads it
            unused.append((path, e))
        if t.step is not None and 0 not in t.step.used:
            unused.insert(0, ((0,), _item(items, (0,))))
        if unused:
            _warn_outputs(model, ret, unused, warn, t.step is not None)


def _warn_outputs(model: s.Model, ret, unused: list, warn, expression: bool) -> None:
    named = [_named(path, e) for path, e in unused]
    listed = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else named[0]
    verb = "are" if len(named) > 1 else "is"
    spans = [e.span for _, e in unused if e is not None]
    where = spans[0] if spans else ret.span if ret is not None else model.name_span
    if expression:
        message = f"the loss does not read {listed} of `{model.name}`: {verb} not trained"
        fix = "use it in the loss (`loss mse(out, y) + 0.1 * mean(out1)`), or do not return it"
    else:
        message = f"the loss trains only the first output of `{model.name}`; {listed} {verb} "
        message += "not trained"
        fix = "the loss compares only the first output with `y`; return only what it needs, "
        fix += "or write the loss over every output (`loss mse(out, y) + mean(out1)`)"
    warn(
        "W0407",
        message,
        where,
        label="not trained",
        labels=tuple(Label(span, "not trained either") for span in spans[1:]),
        help=fix,
    )


def _return(model: s.Model) -> s.Return | None:
    body = model.forward.body if model.forward is not None else ()
    return next((st for st in reversed(body) if isinstance(st, s.Return)), None)


def _paths(returns, path: tuple) -> list[tuple]:
    """The position of every tensor a model returns, in order: ``(0,)``, ``(1, 0)``..."""
    if not isinstance(returns, tuple):
        return [path]
    return [p for i, r in enumerate(returns) for p in _paths(r, path + (i,))]


def _item(items: tuple, path: tuple):
    """The returned expression at ``path``, where the ``return`` writes the tuple out."""
    e = None
    for i in path:
        if e is not None:
            if not isinstance(e, s.TupleLit):
                return None
            items = e.items
        if i >= len(items):
            return None
        e = items[i]
    return e


def _named(path: tuple, e) -> str:
    where = "output " + ".".join(str(i) for i in path)
    return f"`{e.id}` ({where})" if isinstance(e, s.Name) else where


# ---- W0408: data nothing reads --------------------------------------------------------------


def unused_data(program: s.Program, checked: ir.ProgramIR, warn) -> None:
    """W0408 for each tensor of a used data section that nothing needs."""
    infos = {m.name: m for m in checked.models}
    needed: dict[str, set[str]] = {}  # data section -> the tensors its train sections feed
    for t in checked.trains:
        if t.steps:  # the data tensors the steps read
            inputs, reads = set(), {n for st in t.steps for n in st.feeds}
        else:
            inputs = {i.name for i in infos[t.model].inputs if not i.optional}
            reads = {TARGET} if t.step is None else set(t.step.feeds)
        for d in (t.data, t.validation, t.test):
            if d is not None:
                needed.setdefault(d.name, set()).update(inputs | reads)
        if t.predict_data is not None:  # predicted: only the model's input is read
            needed.setdefault(t.predict_data.name, set()).update(inputs)
    for d in program.items:
        if not isinstance(d, s.Data) or d.name not in needed:
            continue
        tensors = [st for st in d.stmts if isinstance(st, s.DataAssign)]
        reads = {st.name: _names(st.value) for st in tensors}
        live, todo = set(), [n for n in needed[d.name] if n in reads]
        while todo:
            name = todo.pop()
            if name not in live:
                live.add(name)
                todo.extend(n for n in reads.get(name, ()) if n in reads)
        for st in tensors:
            if st.name not in live:
                warn(
                    "W0408",
                    f"`{st.name}` is not used by the model or the loss",
                    st.name_span,
                    help=f"remove it from data `{d.name}`",
                )


def _names(e) -> set[str]:
    """The names an expression reads (a function's own name aside)."""
    return set(s.names_read(e))
