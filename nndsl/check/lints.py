"""Lints: warnings about programs that compile and train, but most likely not as meant.

They read the syntax tree of a checked program and its IR, and run only on a program without
errors, so that a mistake is never reported twice. They never change the generated code.

- W0104: Dropout as the last layer of a model.
- W0105: a bias in a Linear or Conv layer that the BatchNorm right after it cancels.
- W0403: a last layer that the loss applies again: Softmax or LogSoftmax before `cross_entropy`,
  Sigmoid before `bce_with_logits`.
- W0404: an activation after the output layer of a model trained with a regression loss.
- W0405: validation data that is the training data again.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass

from nndsl.check.bind import match_args
from nndsl.diagnostics.core import Diagnostic, Label
from nndsl.ir import nodes as ir
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import BY_FUNCTION, REGISTRY, Layer
from nndsl.registry.training import LOSSES

RANDOM = ("rand", "randn", "randint", "rand_like", "randn_like")
TARGET = "y"
MAX_DEPTH = 100  # names followed back through a forward, and blocks opened, in one search


_NOTHING = Layer("", (), lambda a, x: x, lambda a: (), "")


def _entry(name: str) -> Layer:
    """The registry entry a tail names: a layer's, or that of the layer whose functional form a
    function of a forward is (``relu`` is ``ReLU``'s ``F.relu``); an empty one otherwise."""
    layer = REGISTRY.get(name) or BY_FUNCTION.get(name)
    return _NOTHING if layer is None else layer


@dataclass(frozen=True)
class Tail:
    """The last layer or function a model applies: its name and where it is written."""

    name: str
    span: s.Span


def lint(program: s.Program, checked: ir.ProgramIR) -> list[Diagnostic]:
    """Every lint warning of a checked program without errors."""
    return _Linter(program, checked).run()


class _Linter:
    def __init__(self, program: s.Program, checked: ir.ProgramIR):
        self.program = program
        self.checked = checked
        self.defs = {i.name: i for i in program.items if isinstance(i, (s.Model, s.Block))}
        self.datas = {i.name: i for i in program.items if isinstance(i, s.Data)}
        self.trains = {i.model: i for i in program.items if isinstance(i, s.Train)}
        self.out: list[Diagnostic] = []

    def warn(self, code: str, message: str, span: s.Span, **kw) -> None:
        self.out.append(Diagnostic(code, message, span, severity="warning", **kw))

    def run(self) -> list[Diagnostic]:
        for item in self.defs.values():
            self.bias_before_norm(item.body, item.forward)
        for info in self.checked.models:
            model = self.defs.get(info.name)
            tail = self.tail(model) if isinstance(model, s.Model) else None
            if tail is not None and "dropout" in _entry(tail.name).traits:
                self.warn(
                    "W0104",
                    f"{tail.name} is the last layer of `{model.name}`",
                    tail.span,
                    help="dropout only adds noise to the output; put it before the output layer",
                )
        for t in self.checked.trains:
            node = self.trains.get(t.model)
            if node is not None:
                self.loss_after_tail(t, node)
                self.same_validation(t)
        return self.out

    # ---- the last layer of a model ----------------------------------------------------------

    def tail(self, item, depth: int = 0) -> Tail | None:
        """The last layer (or forward function) the model or block applies to its first output,
        looking inside blocks, models and repeats; None where it cannot be seen."""
        if depth > MAX_DEPTH:
            return None
        if item.forward is not None:
            return self._forward_tail(item, depth)
        return self._stack_tail(item.body, depth)

    def _stack_tail(self, body: tuple, depth: int) -> Tail | None:
        for st in reversed(body):
            if isinstance(st, s.SharedStmt):
                continue  # a declaration: nothing flows through it here
            if isinstance(st, s.RepeatStmt):
                return self._stack_tail(st.body, depth + 1)
            call = self._call_of(st, _shared(body))
            return None if call is None else self._call_tail(call, depth)
        return None

    def _call_tail(self, call: s.Call, depth: int) -> Tail | None:
        if call.name in REGISTRY:
            return Tail(call.name, call.span)
        item = self.defs.get(call.name)
        return None if item is None else self.tail(item, depth + 1)

    def _forward_tail(self, item, depth: int) -> Tail | None:
        decls = {
            st.name: st.call for st in item.body if isinstance(st, (s.LayerStmt, s.SharedStmt))
        }
        body = item.forward.body
        if not body or not isinstance(body[-1], s.Return) or not body[-1].values:
            return None
        looped = set()  # names assigned in a loop: their last value cannot be seen
        stack = [st for st in body if isinstance(st, s.While)]
        while stack:
            for st in stack.pop().body:
                if isinstance(st, s.While):
                    stack.append(st)
                elif isinstance(st, s.Assign):
                    looped |= _target_names(st.target)
        assigned = {}
        for st in body[:-1]:
            if isinstance(st, s.Assign) and isinstance(st.target, s.Name):
                assigned[st.target.id] = st.value
            elif isinstance(st, s.Assign):
                looped |= _target_names(st.target)
        e = body[-1].values[0]
        if isinstance(e, s.TupleLit) and len(body[-1].values) == 1 and e.items:
            e = e.items[0]
        seen = 0
        while isinstance(e, s.Name) and e.id in assigned and e.id not in looped:
            e, seen = assigned.pop(e.id), seen + 1  # each name once: `h = relu(h)` ends here
            if seen > MAX_DEPTH:
                return None
        if not isinstance(e, s.CallExpr) or not isinstance(e.func, s.Name):
            return None
        name = e.func.id
        if name in decls:
            return self._call_tail(decls[name], depth)
        if name in FUNCTIONS:
            return Tail(name, e.span)
        return None

    def _call_of(self, st, shared: dict[str, s.Call]) -> s.Call | None:
        """The call a statement of a stack body makes: a use of a shared layer is its
        declaration's (``shared``: the body's declarations by name)."""
        if isinstance(st, s.LayerStmt):
            return st.call
        if isinstance(st, s.UseStmt):
            return shared.get(st.name)
        return None

    # ---- W0403, W0404: the last layer against the loss ----------------------------------------

    def loss_after_tail(self, t: ir.TrainIR, node: s.Train) -> None:
        setting = next((st for st in node.stmts if getattr(st, "name", None) == "loss"), None)
        model = self.defs.get(t.model)
        if setting is None or not setting.args or not isinstance(model, s.Model):
            return
        value = setting.args[0].value
        loss = (
            value.id
            if isinstance(value, s.Name)
            else getattr(getattr(value, "func", None), "id", "")
        )
        tail = self.tail(model)
        if tail is None or loss not in LOSSES:
            return
        here = (Label(setting.span, f"the loss is `{loss}`"),)
        layer = _entry(tail.name)
        if loss in layer.in_loss:
            inside = "log_softmax" if loss == "cross_entropy" else "a sigmoid"
            better = (
                "`loss nll` after a LogSoftmax"
                if loss == "cross_entropy"
                else "`loss bce` after a Sigmoid"
            )
            self.warn(
                "W0403",
                f"`{loss}` applies {inside} itself, but `{model.name}` already ends in {tail.name}",
                tail.span,
                labels=here,
                help=f"remove the {tail.name} and let the model return raw scores (logits), "
                f"or use {better}",
            )
        elif LOSSES[loss].extra == "regression" and layer.clips is not None:
            self.warn(
                "W0404",
                f"{tail.name} after the output layer limits what `{model.name}` predicts "
                f"to {layer.clips}",
                tail.span,
                labels=here,
                help=f"a `{loss}` regression wants an unbounded output: "
                "end the model with its output layer",
            )

    # ---- W0105: a bias that batch norm cancels ----------------------------------------------

    def bias_before_norm(self, body: tuple, forward: s.Forward | None) -> None:
        if forward is not None:
            decls = {st.name: st.call for st in body if isinstance(st, (s.LayerStmt, s.SharedStmt))}
            for e in _expressions(forward.body):
                if isinstance(e, s.CallExpr) and isinstance(e.func, s.Name) and e.args:
                    inner = e.args[0].value
                    if isinstance(inner, s.CallExpr) and isinstance(inner.func, s.Name):
                        first, second = decls.get(inner.func.id), decls.get(e.func.id)
                        if first is not None and second is not None:
                            self._pair(first, second)
            return
        previous, shared = None, _shared(body)
        for st in body:
            if isinstance(st, s.SharedStmt):
                continue
            if isinstance(st, s.RepeatStmt):
                self.bias_before_norm(st.body, None)
                previous = None
                continue
            call = self._call_of(st, shared)
            if previous is not None and call is not None:
                self._pair(previous, call)
            previous = call

    def _pair(self, first: s.Call, second: s.Call) -> None:
        layer = REGISTRY.get(first.name)
        if layer is None or "biased" not in layer.traits:
            return
        if "centres" not in getattr(REGISTRY.get(second.name), "traits", ()):
            return
        names = [a.name for a in layer.args]
        inferred = [a.name for a in layer.args if a.infer is not None]
        bound = match_args(first, names, inferred, first.name, [], lead=layer.positional)
        if bound is None:
            return
        bias = bound.get("bias")
        if bias is not None and not (isinstance(bias.value, s.Const) and bias.value.value is True):
            return  # bias=false, or a value only known at a use
        self.warn(
            "W0105",
            f"the bias of this {first.name} is cancelled by the {second.name} after it",
            first.span,
            labels=(Label(second.span, "subtracts the mean, bias included"),),
            help=f"write `bias=false` in the {first.name}: batch norm adds a bias of its own",
        )

    # ---- W0405: validating on the training data ---------------------------------------------

    def same_validation(self, t: ir.TrainIR) -> None:
        if t.validation is None:
            return
        train, val = self.datas.get(t.data.name), self.datas.get(t.validation.name)
        if train is None or val is None:
            return
        keys = (*t.inputs, TARGET)
        if not all(_same_tensor(train, val, k) for k in keys):
            return
        setting = next(
            (st for st in train.stmts if isinstance(st, s.Setting) and st.name == "validation"),
            None,
        )
        span = setting.span if setting is not None else train.name_span
        what = "itself" if val is train else f"`{val.name}`, which holds the same data"
        self.warn(
            "W0405",
            f"data `{train.name}` is validated on {what}",
            span,
            help="validate on samples the model does not train on, "
            "or hold some out with `split 0.2`",
        )


def _shared(body: tuple) -> dict[str, s.Call]:
    return {st.name: st.call for st in body if isinstance(st, s.SharedStmt)}


def _target_names(target) -> set[str]:
    if isinstance(target, s.Name):
        return {target.id}
    return set().union(*(_target_names(t) for t in target.items)) if target.items else set()


def _expressions(stmts: tuple):
    """Every expression in a forward's statements, nested ones included."""
    stack = []
    for st in stmts:
        if isinstance(st, s.Assign):
            stack.append(st.value)
        elif isinstance(st, s.Return):
            stack.extend(st.values)
        elif isinstance(st, s.While):
            stack.append(st.cond)
            yield from _expressions(st.body)
    while stack:
        e = stack.pop()
        yield e
        if is_dataclass(e):
            for f in fields(e):
                v = getattr(e, f.name)
                for x in v if isinstance(v, tuple) else (v,):
                    if isinstance(x, s.Arg):
                        stack.append(x.value)
                    elif is_dataclass(x) and not isinstance(x, s.Span):
                        stack.append(x)


def _same_tensor(a: s.Data, b: s.Data, key: str) -> bool:
    """Whether tensor ``key`` of two data sections is written the same way, the tensors it is
    computed from substituted; random values only count as the same when both sections draw
    every random value alike, from the same seed."""
    if a is b:
        return True
    ea, ra = _definition(a, key)
    eb, rb = _definition(b, key)
    if ea is None or ea != eb:
        return False
    if ra or rb:
        return _statements(a) == _statements(b)
    return True


def _definition(data: s.Data, key: str) -> tuple[object, bool]:
    """Tensor ``key`` as a comparable value with every name it reads replaced by its definition,
    and whether it draws random values."""
    defs: dict[str, tuple] = {}
    for st in data.stmts:
        if isinstance(st, s.DataAssign):
            defs[st.name] = (_plain(st.value, defs), _is_random(st.value, defs))
    return defs.get(key, (None, False))


def _is_random(e, defs: dict) -> bool:
    for x in _expressions((s.Return((e,), e.span),)):
        if isinstance(x, s.CallExpr) and isinstance(x.func, s.Name) and x.func.id in RANDOM:
            return True
        if isinstance(x, s.Name) and x.id in defs and defs[x.id][1]:
            return True
    return False


def _plain(e, defs: dict):
    """A syntax node without its spans (and a number without how it was written), names of
    earlier tensors replaced by their definitions."""
    if isinstance(e, s.Name):
        return defs[e.id][0] if e.id in defs else ("name", e.id)
    if isinstance(e, s.Num):
        return ("num", e.value)
    if isinstance(e, tuple):
        return tuple(_plain(x, defs) for x in e)
    if is_dataclass(e) and not isinstance(e, s.Span):
        return (type(e).__name__,) + tuple(
            _plain(getattr(e, f.name), defs) for f in fields(e) if f.name != "span"
        )
    return e


def _statements(data: s.Data) -> tuple:
    """What decides a section's random values: every assignment in order, and the seed."""
    lines = tuple(
        (st.name, _plain(st.value, {})) for st in data.stmts if isinstance(st, s.DataAssign)
    )
    seed = [
        _plain(st.args, {}) for st in data.stmts if isinstance(st, s.Setting) and st.name == "seed"
    ]
    return lines, seed[0] if seed else (("Arg", None, ("num", 0)),)
