"""The loss half of a train section's builder when the loss is an expression, and the metrics
written as calls (mixed into ``train_build._Builder``): the names and types they can read, the
:class:`~nndsl.ir.training.LossStep` a loss expression becomes, the data it feeds."""

from __future__ import annotations

from dataclasses import replace

from nndsl.check.loss_expr import LossExpr, output_names, terms
from nndsl.check.metric_expr import MetricExpr
from nndsl.diagnostics.core import Reported
from nndsl.ir import expr as ex
from nndsl.ir import training as tr
from nndsl.ir.tensors import Tensor
from nndsl.registry.training import LOSSES


class LossRules:
    def loss_env(self) -> tuple[tuple[str, ...], dict, dict]:
        """The names of the model's outputs, and the types of the outputs and of the data a
        loss expression (or a metric written as a call) can read, with the batch as B."""
        returns = self.model.returns
        leaves = list(returns) if isinstance(returns, tuple) else [returns]
        names = output_names(self.r.syntax.get(self.model.name), len(leaves))
        outputs = {
            n: Tensor(t.shape, t.dtype) for n, t in zip(names, leaves) if not isinstance(t, tuple)
        }
        inputs = {t.name: t.dtype for t in self.model.inputs}
        data = {
            n: Tensor(("B", *t.shape[1:]), inputs.get(n, t.dtype))
            for n, t in self.data.tensors.items()
            if n not in outputs
        }
        return names, outputs, data

    def metric_calls(self, calls: list, task: str, taken=()) -> tuple[tuple[str, object], ...]:
        """Metrics written as calls: each one's key and the expression of its batch mean. With
        a loss named alone, they read `out` (the first output) and `y`, as its step binds."""
        names, outputs, data = self.loss_env()
        if self.loss_step is None:
            y = self.data.tensors.get("y")
            kind = "int64" if task == "classes" else "float32"
            data = {} if y is None else {"y": Tensor(("B", *y.shape[1:]), kind)}
            outputs = {"out": next(iter(outputs.values()))}
        checker = MetricExpr(self, outputs, data, self.data.failed)
        found, keys = [], {}
        for e in calls:
            try:
                kind, expr, label = checker.metric(e)
            except Reported:
                self.failed = True
                continue
            keys[kind] = keys.get(kind, 0) + (2 if kind in taken else 1)
            found.append((kind, label, expr))
        step = self.loss_step
        if step is not None:  # the data the metrics read is fed and bound too
            inputs = {t.name for t in self.model.inputs}
            for name, dtype in checker.feeds.items():
                if name not in inputs and (name not in self.loss_feeds or dtype is not None):
                    self.loss_feeds[name] = dtype
            more = tuple(n for n in checker.feeds if n not in step.feeds)
            self.loss_step = replace(step, feeds=step.feeds + more)
        named = [(kind if keys[kind] == 1 else f"{kind}/{label}", e) for kind, label, e in found]
        # a confusion matrix, which the support module adds up and scores (F1)
        return tuple((f"counts/{key}" if key.split("/")[0] == "f1" else key, e) for key, e in named)

    def loss_expression(self, e) -> tuple[tr.Call, str, str]:
        """``loss mse(recon, x) + 0.001 * kl``: the step it becomes (``self.step``), and its
        first loss function as the loss, its task and its output as the metrics'."""
        self.loss_feeds: dict = {}  # the data it reads (none, until it checks)
        names, outputs, data = self.loss_env()
        inputs = {t.name for t in self.model.inputs}
        returns = self.model.returns
        checker = LossExpr(self, outputs, data, self.data.failed)
        value = checker.check(e)
        if not checker.calls:
            self.error(
                "E0420",
                "a loss expression holds at least one loss function",
                e.span,
                help=f"e.g. `mse({names[0]}, y)`",
            )
            raise Reported
        for call in checker.calls:  # bce on the first output: its range, as `loss bce`
            if call.target == LOSSES["bce"].torch and call.operands[0] == ex.Name(names[0]):
                self.output_range("bce", e.span)
        self.loss_feeds = {k: v for k, v in checker.feeds.items() if k not in inputs}
        self.loss_step = tr.LossStep(
            outputs=names,
            used=tuple(i for i, n in enumerate(names) if n in checker.used),
            feeds=tuple(checker.feeds),
            calls=tuple(checker.calls),
            total=value.expr,
            terms=terms(e, value, checker.calls),
        )
        first = checker.calls[0]
        self.scored = (first.operands, checker.scores)
        output = "[0]" if isinstance(returns, tuple) else ""
        return tr.Call(first.target, first.kwargs), first.task, output
