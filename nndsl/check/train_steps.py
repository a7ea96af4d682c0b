"""A train section of several models, trained in steps (a GAN, for instance):

    train Maker, Critic on digits {
        step Critic { fake = Maker(randn(B, 16))  loss ... }
        step Maker { loss ... }
        samples reshape(Maker(randn(64, 16)), 64, 8, 8)
    }

Each ``step`` names the model its optimizer trains and computes its loss from the batch, the
models and noise (:mod:`nndsl.check.step_expr`); the steps run in order on every batch. The
section's other settings are those of any train section, less the ones that belong to a
single loss and optimizer (``loss``, ``optimizer``, ``metrics``, ``scheduler``...), which are
E0423 here. The result is an :class:`ir.TrainIR` whose ``steps`` the script turns into one
function each.
"""

from __future__ import annotations

import dataclasses
import keyword

from nndsl.check.loss_expr import terms
from nndsl.check.parameters import model_tensors
from nndsl.check.step_expr import StepExpr
from nndsl.check.train_build import _Builder
from nndsl.check.train_params import optimizer_ok
from nndsl.check.train_settings import training_batches
from nndsl.diagnostics.core import Diagnostic, Label, Reported
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import call_parts
from nndsl.lang import syntax as s
from nndsl.registry.training import OPTIMIZERS, bind_spec
from nndsl.util.naming import Namespace, suggest

# what a train section of steps leaves to each step, or does not take (yet)
NOT_WITH_STEPS = {
    "loss": "each step has its own `loss`",
    "optimizer": "each step has its own `optimizer`",
    "metrics": "the steps log their losses and terms",
    "scheduler": "the learning rate of a step stays as its optimizer sets it",
    "early_stop": "there is no one loss to watch",
    "accumulate": "each batch updates every step's model once",
    "predict": "draw what the models make with `samples`",
    "init": "the models start from PyTorch's initialisation",
    "init_from": "the models start from PyTorch's initialisation",
    "freeze": "a step trains the parameters of its model",
    "compile": "the models run eagerly",
}


def build_steps(rules, node: s.Train, models: list, data, sets: dict) -> ir.TrainIR:
    return _StepsBuilder(rules, node, models, data, sets).run()


def steps_of(node: s.Train) -> list[s.Step]:
    return [st for st in node.stmts if isinstance(st, s.Step)]


class _StepsBuilder(_Builder):
    def __init__(self, rules, node, models: list, data, sets):
        super().__init__(rules, node, models[0], data, sets)
        self.infos = {m.name: m for m in models}
        # each model's key in the ModuleDict, unique and never a Python keyword (`models.x`)
        names = Namespace(set(keyword.kwlist) | set(keyword.softkwlist))
        self.attrs = {m.name: names.unique(m.name.lower()) for m in models}
        self.task = ""

    def model_feeds(self) -> tuple:
        return ()  # the models take what the steps give them, not the data by name

    def run(self) -> ir.TrainIR:
        self.refuse_settings()
        data = {n: Tensor(("B", *t.shape[1:]), t.dtype) for n, t in self.data.tensors.items()}
        batch = _first_read(self.node, data) or next(reversed(data), None)
        steps = self.checked_steps(data, batch)
        samples = self.guard(lambda: self.samples(data))
        self.unused_models(steps)
        if self.failed:
            raise Reported
        self.loss_feeds = self.step_feeds
        code = self.guard(lambda: self.data_code(self.data, self.node.data_span))
        self.guard(lambda: training_batches(self, self.data))
        val = self.validation(code)
        other = self.guard(self.others, None)
        if self.failed or code is None or other is None:
            raise Reported
        steps, config = self.rates(steps, other, val is not None or self.data.split > 0)
        names = [self.node.model, *(m for m, _ in self.node.more)]
        first = steps[0]
        return ir.TrainIR(
            model=self.node.model,
            script="train_" + "_".join(self.attrs[n] for n in names),
            source_line=self.node.span.line,
            summary=self.summary_line(steps, other),
            data=code,
            validation=val,
            readers=self.readers(val),
            inputs=(),
            output="",
            config=config,
            loss=tr.Call("", ()),
            task="",
            metrics=(),
            optimizer=first.optimizer,
            init=(),
            scheduler=None,
            clip=other["clip"],
            accumulate=1,
            precision=other["precision"],
            compile=False,
            deterministic=other["deterministic"],
            early_stop=None,
            predict=None,
            save=other["save"],
            monitor="",
            drop_last=self.data.drop_last,
            shuffle=self.data.shuffle,
            table=self.param_table(names),
            distributed=other["distributed"],
            models=tuple((self.attrs[n], n) for n in names),
            steps=tuple(steps),
            samples=samples,
        )

    def checked_steps(self, data: dict, batch: str | None) -> list:
        """Each step's function; a second step for one model is an error."""
        self.lrs: list = []
        self.step_feeds: dict = {}  # data tensor -> the dtype the steps' losses take it in
        steps, seen = [], {}
        for st in steps_of(self.node):
            if st.model in seen:
                self.error(
                    "E0105",
                    f"`{st.model}` has a step already",
                    st.model_span,
                    labels=(Label(seen[st.model], "its first step"),),
                    help="write one step per model: its loss may add several terms",
                )
                continue
            seen[st.model] = st.model_span
            steps.append(self.guard(lambda st=st: self.step(st, data, batch)))
        return steps

    def rates(self, steps: list, other: dict, has_val: bool) -> tuple[list, tuple]:
        """The steps' learning rates: `--lr` when they share one, else a flag each."""
        one_rate = len(set(self.lrs)) == 1
        config = self.config(self.lrs[0] if one_rate else 0.001, other, has_val)
        if one_rate:
            return [_rate(st, "cfg.lr") for st in steps], config
        return steps, config + tuple(
            ir.ConfigField(f"lr_{st.name}", "float", float(lr), f"the learning rate of {st.model}")
            for st, lr in zip(steps, self.lrs)
        )

    # ---- the section ----------------------------------------------------------------------

    def refuse_settings(self) -> None:
        for key, why in NOT_WITH_STEPS.items():
            st = self.setting(key)
            if st is not None:
                span = getattr(st, "name_span", None) or st.span
                where = " in a step" if key in ("loss", "optimizer") else ""
                self.error(
                    "E0423",
                    f"a train section of steps takes no `{key}`{where and ' of its own'}",
                    span,
                    help=why + (f": move it into a `step`{where}" if where else ""),
                )
        if "test" in self.data.setting_spans:  # no one loss, no best weights to test
            self.error(
                "E0423",
                f"a train section of steps does not test: data `{self.data.name}` holds `test`",
                self.data.setting_spans["test"],
                labels=(Label(self.node.model_span, "trained in steps here"),),
                help="leave `test` out of this data section, or train one model on it",
            )

    def unused_models(self, steps: list) -> None:
        trained = {st.model for st in steps if st is not None}
        for name, span in [(self.node.model, self.node.model_span), *self.node.more]:
            if name not in trained:
                self.r.diags.append(
                    Diagnostic(
                        "W0409",
                        f"no step trains `{name}`: its weights stay as they start",
                        span,
                        severity="warning",
                        help=f"add `step {name} {{ loss ... }}`, or leave `{name}` out",
                    )
                )

    def summary_line(self, steps: list, other: dict) -> str:
        what = f"{other['epochs']} epochs" if other["epochs"] else f"{other['steps']} steps"
        names = [self.node.model, *(m for m, _ in self.node.more)]
        kinds = dict.fromkeys(st.optimizer.call.target.rsplit(".", 1)[-1] for st in steps)
        return (
            f"Train {', '.join(names)} on {self.data.name}: a step each, "
            f"{' and '.join(kinds)}, {what}."
        )

    def param_table(self, names: list) -> tuple:
        rows = []
        for name in names:
            info = self.infos[name]
            for t in model_tensors(info):
                if t.trainable:
                    rows.append((f"{self.attrs[name]}.{t.name}", t.shape, "PyTorch default", name))
        return tuple(rows)

    # ---- one step -------------------------------------------------------------------------

    def step(self, st: s.Step, data: dict, batch: str | None) -> tr.ModelStep:
        if st.model not in self.infos:
            self.error(
                "E0423",
                f"`{st.model}` is not a model this section trains",
                st.model_span,
                help=suggest(st.model, self.infos) or "the models: " + ", ".join(self.infos),
            )
            raise Reported
        checker = StepExpr(self, self.infos, self.attrs, data, self.data.failed, batch)
        loss = optimizer = None
        for item in st.stmts:
            if isinstance(item, s.DataAssign):
                checker.assign(item)
            elif isinstance(item, s.Optimizer):
                optimizer = self.once(optimizer, item, "optimizer")
            elif item.name == "loss":
                loss = self.once(loss, item, "loss")
            else:
                self.error(
                    "E0423",
                    f"a step takes `loss`, `optimizer` and values, not `{item.name}`",
                    item.name_span,
                    help="settings of the whole training go outside the steps",
                )
        if loss is None:
            self.error(
                "E0416",
                f"step `{st.model}` needs a loss",
                st.span,
                help="add a line such as `loss bce_with_logits(score, ones_like(score))`",
            )
            raise Reported
        if len(loss.args) != 1 or loss.args[0].name is not None:
            self.error("E0104", "`loss` takes one expression", loss.span)
            raise Reported
        value = checker.loss(loss.args[0].value)
        for feed, dtype in checker.feeds.items():
            had = self.step_feeds.get(feed)
            if dtype is not None and had is not None and had != dtype:
                self.error(
                    "E0405",
                    f"`{feed}` is taken as {had} by one step and as {dtype} by another",
                    loss.span,
                )
            self.step_feeds[feed] = dtype or had
        name = self.attrs[st.model]
        parts = terms(loss.args[0].value, value, checker.calls)
        return tr.ModelStep(
            name=name,
            model=st.model,
            attr=name,
            optimizer=self.step_optimizer(optimizer, st, name),
            feeds=tuple(checker.feeds),
            body=tuple(checker.body),
            total=value.expr,
            terms=tuple((f"loss/{name}/{key.removeprefix('loss/')}", e) for key, e in parts),
        )

    def once(self, found, item, key: str):
        if found is not None:
            self.error("E0105", f"`{key}` is set twice in this step", item.span)
            raise Reported
        return item

    def step_optimizer(self, st, step: s.Step, name: str) -> tr.Optimizer:
        if st is None:
            spec, args, span = OPTIMIZERS["adam"], (), step.model_span
        else:
            opt, span, args = call_parts(st.value)
            spec = self.spec(OPTIMIZERS, "optimizer", "optimizers", opt, span)
        bound = bind_spec(spec, args, spec.name)
        optimizer_ok(self, bound.values, span)
        self.lrs.append(bound.values["lr"])
        rate = tr.Ref(f"cfg.lr_{name}")  # cfg.lr when every step has the same rate
        args = (tr.Arg("lr", rate), *bound.kwargs(skip=("lr",)))
        if st is not None and st.groups:
            self.error(
                "E0423",
                "a step's optimizer takes no parameter groups",
                st.groups[0].span,
                help="give the step's optimizer one set of arguments",
            )
        return tr.Optimizer(tr.Call(spec.torch, args), ())

    # ---- samples --------------------------------------------------------------------------

    def samples(self, data: dict) -> tr.Samples | None:
        st = self.setting("samples")
        if st is None:
            return None
        if len(st.args) != 1 or st.args[0].name is not None:
            self.error("E0104", "`samples` takes one expression", st.span)
            raise Reported
        e = st.args[0].value
        checker = StepExpr(self, self.infos, self.attrs, {}, frozenset(), None)
        v = checker.value(e)
        shape = v.py.shape if isinstance(v.py, Tensor) else None
        if (
            shape is None
            or len(shape) not in (3, 4)
            or not all(isinstance(d, int) for d in shape)
            or (len(shape) == 4 and shape[1] not in (1, 3))
            or checker.calls
        ):
            shown = fmt_shape(shape) if shape is not None else "not a tensor"
            self.error(
                "E0420",
                f"`samples` draws images (N, H, W) or (N, C, H, W) with 1 or 3 channels; "
                f"this is {shown}",
                e.span,
                help="reshape what the model makes: `reshape(Maker(randn(64, 16)), 64, 8, 8)`",
            )
            raise Reported
        return tr.Samples(v.expr, tuple(int(d) for d in shape))


def _rate(step: tr.ModelStep, ref: str) -> tr.ModelStep:
    call = step.optimizer.call
    args = (tr.Arg("lr", tr.Ref(ref)), *call.args[1:])
    optimizer = dataclasses.replace(step.optimizer, call=dataclasses.replace(call, args=args))
    return dataclasses.replace(step, optimizer=optimizer)


def _first_read(node: s.Train, data: dict) -> str | None:
    """The first data tensor the steps read, by its place in the text: the batch's size and
    device come from it."""
    for st in steps_of(node):
        for name in s.names_read(st.stmts):
            if name in data:
                return name
    return None
