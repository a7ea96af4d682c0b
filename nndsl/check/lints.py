"""Lints: warnings about programs that compile and train, but most likely not as meant.

They read the checked program's IR: each model's dataflow graph (:mod:`nndsl.ir.graph`: which
layer feeds which, with its arguments and where it is written) and the training sections'
structured values and data loaders. The syntax tree is read only to place a warning on a
setting. They run only on a program without errors, so that a mistake is never reported twice,
and they never change the generated code.

- W0104: Dropout as the last layer of a model.
- W0105: a bias in a Linear or Conv layer that the BatchNorm right after it cancels.
- W0403: a last layer that the loss applies again: Softmax or LogSoftmax before `cross_entropy`,
  Sigmoid before `bce_with_logits`.
- W0404: an activation after the output layer of a model trained with a regression loss.
- W0405: validation data that is the training data again.
- W0406, and W0403 for an output already in [0, 1]: the loss against the range of the model's
  output (:mod:`nndsl.check.loss_output`).
- W0407, W0408: outputs the loss does not train, data nothing reads (:mod:`nndsl.check.unused`).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from nndsl.check.fixes import call_at, set_argument
from nndsl.check.unused import unused_data, unused_outputs
from nndsl.diagnostics.core import Diagnostic, Label
from nndsl.ir import expr as ex
from nndsl.ir import graph as dg
from nndsl.ir import nodes as ir
from nndsl.lang import syntax as s
from nndsl.registry.layers import BY_FUNCTION, REGISTRY, Layer

RANDOM = ("rand", "randn", "randint", "rand_like", "randn_like", "randperm")


def lint(program: s.Program, checked: ir.ProgramIR) -> list[Diagnostic]:
    """Every lint warning of a checked program without errors."""
    out: list[Diagnostic] = []
    seen: set = set()  # a block used twice, or a repeat unrolled, is one place in the source

    def warn(code: str, message: str, span: s.Span, **kw) -> None:
        if (code, span) not in seen:
            seen.add((code, span))
            out.append(Diagnostic(code, message, span, severity="warning", **kw))

    flows = {name: _Flow(g) for name, g in checked.graphs.links().items()}
    for flow in flows.values():
        _bias_before_norm(flow, warn, program)
        tail = flow.tail()
        if tail is not None and "dropout" in _entry(tail).traits:
            warn(
                "W0104",
                f"{tail.name} is the last layer of `{flow.links.name}`",
                tail.span,
                help="dropout only adds noise to the output; put it before the output layer",
            )
    trains = {i.model: i for i in program.items if isinstance(i, s.Train)}
    datas = {i.name: i for i in program.items if isinstance(i, s.Data)}
    for t in checked.trains:
        node = trains.get(t.model)
        if node is not None and t.model in flows:
            _loss_after_tail(t, node, flows[t.model], warn)
        if t.validation is not None and _same_data(t):
            _same_validation(t, datas, warn)
    unused_outputs(program, checked, warn)
    unused_data(program, checked, warn)
    return out


def _entry(node: dg.LinkNode) -> Layer:
    """The registry entry of a layer node, or of the layer whose functional form an operation
    node is (``relu`` is ``ReLU``'s ``F.relu``); an empty one otherwise."""
    layer = REGISTRY.get(node.name) if node.kind == "layer" else BY_FUNCTION.get(node.name)
    return _NOTHING if layer is None else layer


_NOTHING = Layer("", (), lambda a, x: x, lambda a: (), "")


class _Flow:
    """One model's dataflow, with what feeds each node and what each node feeds; ports (where
    a block, repeat or nested model begins and ends) are looked through."""

    def __init__(self, links: dg.Links):
        self.links = links
        self.nodes = links.nodes
        self.fed = links.fed
        self.feeds: dict[int, list[int]] = {}
        for n in self.nodes:
            for p in self.fed.get(n, ()):
                self.feeds.setdefault(p, []).append(n)

    def source(self, node_id: int) -> dg.LinkNode | None:
        """The layer or operation that made what reaches ``node_id``'s first input."""
        seen = set()
        while True:
            inputs = self.fed.get(node_id, ())
            if len(inputs) != 1 or node_id in seen:
                return None
            seen.add(node_id)
            node = self.nodes.get(inputs[0])
            if node is None:
                return None
            if node.kind != "port":
                return node
            node_id = node.id

    def sinks(self, node_id: int) -> set[int]:
        """Every node other than a port that uses what ``node_id`` makes."""
        out, stack, seen = set(), list(self.feeds.get(node_id, ())), set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n not in self.nodes:
                continue
            if self.nodes[n].kind == "port":
                stack.extend(self.feeds.get(n, ()))
            else:
                out.add(n)
        return out

    def tail(self) -> dg.LinkNode | None:
        """The last layer or operation of the model's first output."""
        first = self.links.outputs
        while isinstance(first, tuple):
            if not first:
                return None
            first = first[0]
        node = self.source(first)
        return node if node is not None and node.kind in ("layer", "op") else None


def _bias_before_norm(flow: _Flow, warn, program: s.Program) -> None:
    """W0105: a biased layer whose output only a batch norm reads."""
    for norm in flow.nodes.values():
        if norm.kind != "layer" or "centres" not in _entry(norm).traits:
            continue
        first = flow.source(norm.id)
        if first is None or first.kind != "layer" or "biased" not in _entry(first).traits:
            continue
        if (first.args or {}).get("bias") is not True or flow.sinks(first.id) != {norm.id}:
            continue
        warn(
            "W0105",
            f"the bias of this {first.name} is cancelled by the {norm.name} after it",
            first.span,
            labels=(Label(norm.span, "subtracts the mean, bias included"),),
            help=f"write `bias=false` in the {first.name}: batch norm adds a bias of its own",
            fix=_bias_fix(program, first.span),
        )


def _bias_fix(program: s.Program, span: s.Span):
    call = call_at(program, span) if span is not None else None
    return None if call is None else set_argument(call, "bias", "false")


def _loss_after_tail(t: ir.TrainIR, node: s.Train, flow: _Flow, warn) -> None:
    """W0403, W0404 and W0406: the model's last layer, and its output's range, against the
    loss."""
    # imported here: only a program with a train section needs them
    from nndsl.check.loss_output import range_warnings
    from nndsl.check.ranges import output_range
    from nndsl.registry.training import LOSSES

    if t.step is not None and t.step.calls[0].operands[0] != ex.Name(t.step.outputs[0]):
        return  # a loss expression whose first loss does not take the first output
    loss = next((name for name, spec in LOSSES.items() if spec.torch == t.loss.target), None)
    tail = flow.tail()
    setting = next((st for st in node.stmts if getattr(st, "name", None) == "loss"), None)
    if loss is None or setting is None:
        return
    layer, model = _entry(tail) if tail is not None else _NOTHING, t.model
    if loss not in layer.in_loss:
        found = output_range(flow.links)
        for d in range_warnings(loss, model, found, setting.args[0].value.span):
            warn(d.code, d.message, d.span, labels=d.labels, help=d.help)
    if tail is None:
        return
    here = (Label(setting.span, f"the loss is `{loss}`"),)
    if loss in layer.in_loss:
        inside = "log_softmax" if loss == "cross_entropy" else "a sigmoid"
        better = (
            "`loss nll` after a LogSoftmax"
            if loss == "cross_entropy"
            else "`loss bce` after a Sigmoid"
        )
        warn(
            "W0403",
            f"`{loss}` applies {inside} itself, but `{model}` already ends in {layer.name}",
            tail.span,
            labels=here,
            help=f"remove the {layer.name} and let the model return raw scores (logits), "
            f"or use {better}",
        )
    elif LOSSES[loss].extra == "regression" and layer.clips is not None and t.step is None:
        # (a loss expression names what it compares: a bounded output may be meant)
        warn(
            "W0404",
            f"{layer.name} after the output layer limits what `{model}` predicts to {layer.clips}",
            tail.span,
            labels=here,
            help=f"a `{loss}` regression wants an unbounded output: "
            "end the model with its output layer",
        )


# ---- W0405: validating on the training data -----------------------------------------------------


def _same_data(t: ir.TrainIR) -> bool:
    """Whether the validation data computes every tensor the training uses as the training data
    does: the same definitions, the tensors they read substituted; random values only count as
    the same when both draw every random value alike, from the same seed."""
    a, b = t.data, t.validation
    if a == b:
        return True
    ra, rb = _definitions(a), _definitions(b)
    keys = [feed.tensor for key, feed in a.returns]
    if [f for _, f in a.returns] != [f for _, f in b.returns]:
        return False
    if any(k not in ra or ra[k] != rb.get(k) for k in keys):
        return False
    if any(_is_random(ra[k]) for k in keys):
        return (a.body, a.sources, a.seed) == (b.body, b.sources, b.seed)
    return True


def _definitions(d: ir.DataCode) -> dict[str, object]:
    """Each tensor a loader defines, as its expression with the names it reads replaced by
    their definitions."""
    defs: dict[str, object] = {}
    for st in (*d.sources, *d.body):
        if isinstance(st, ex.Assign) and isinstance(st.target, ex.Name):
            defs[st.target.id] = _substituted(st.value, defs)
    return defs


def _substituted(e, defs: dict):
    if isinstance(e, ex.Name):
        return defs.get(e.id, e)
    if isinstance(e, tuple):
        return tuple(_substituted(x, defs) for x in e)
    if is_dataclass(e) and not isinstance(e, ex.Lit):
        return (type(e).__name__,) + tuple(
            _substituted(getattr(e, f.name), defs) for f in fields(e) if f.name != "type"
        )
    return e


def _is_random(value) -> bool:
    if isinstance(value, tuple):
        if value[:1] == ("Attr",) and value[-1] in RANDOM:
            return True
        return any(_is_random(x) for x in value)
    return False


def _same_validation(t: ir.TrainIR, datas: dict, warn) -> None:
    train, val = datas.get(t.data.name), datas.get(t.validation.name)
    if train is None or val is None:
        return
    setting = next(
        (st for st in train.stmts if isinstance(st, s.Setting) and st.name == "validation"),
        None,
    )
    span = setting.span if setting is not None else train.name_span
    what = "itself" if val is train else f"`{val.name}`, which holds the same data"
    warn(
        "W0405",
        f"data `{train.name}` is validated on {what}",
        span,
        help="validate on samples the model does not train on, or hold some out with `split 0.2`",
    )
