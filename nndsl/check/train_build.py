"""Assembles :class:`ir.TrainIR` from a checked ``train`` section: data against the model's
inputs, the loss against its output and the targets, then optimizer groups, init rules,
schedule and the remaining settings."""

from __future__ import annotations

from nndsl.check.data import DataInfo
from nndsl.check.init_from import init_from
from nndsl.check.loss_expr import is_expression
from nndsl.check.loss_output import not_probabilities
from nndsl.check.memory import channels_last, weights_dtype
from nndsl.check.metric_expr import METRIC_CALLS
from nndsl.check.ranges import output_range
from nndsl.check.script_names import distinct_rows
from nndsl.check.train_data import DataRules
from nndsl.check.train_heldout import HeldOutRules
from nndsl.check.train_loss import LossRules
from nndsl.check.train_params import _line, frozen, groups, init_rules, optimizer_ok
from nndsl.check.train_settings import config_fields, other_settings, processes, training_batches
from nndsl.check.train_sizes import data_sizes
from nndsl.diagnostics.core import Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.ir.values import EvalError, call_parts
from nndsl.lang import syntax as s
from nndsl.registry.training import LOSSES, METRICS, OPTIMIZERS, SCHEDULERS, bind_spec
from nndsl.util.naming import suggest


def build(rules, node: s.Train, model, data: DataInfo, sets: dict) -> ir.TrainIR:
    return _Builder(rules, node, model, data, sets).run()


class _Builder(DataRules, LossRules, HeldOutRules):
    def __init__(self, rules, node, model, data, sets):
        self.r, self.node, self.model, self.data, self.sets = rules, node, model, data, sets
        self.failed = False
        # a loss expression's step and the data it feeds (None: a loss named alone), and the
        # metrics written as calls
        self.loss_step: tr.LossStep | None = None
        self.loss_feeds: dict | None = None
        self.metric_exprs: tuple = ()
        # the operands of the loss the metrics measure (scores, targets), and the scores' type
        self.scored: tuple = ((ex.Name("out"), ex.Name("y")), None)

    def error(self, code, message, span, **kw) -> None:
        self.r._error(code, message, span, **kw)
        self.failed = True

    def guard(self, thunk, default=None):
        """Run one part; a diagnostic there does not stop the other parts."""
        try:
            return thunk()
        except Reported:
            self.failed = True
        except EvalError as err:
            self.error(err.code, err.message, err.span or self.node.span, help=err.help)
        return default

    def setting(self, name: str):
        return self.sets.get(name)

    # ---- driver ---------------------------------------------------------------------------

    def run(self) -> ir.TrainIR:
        loss, self.task, output = self.guard(self.loss, (None, self.named_task(), ""))
        metrics = self.guard(lambda: self.metrics(self.task), ())
        data = self.guard(lambda: self.data_code(self.data, self.node.data_span))
        self.guard(lambda: training_batches(self, self.data))
        val = self.validation(data)
        held_out = self.held_out(data, val, metrics)
        optimizer = self.guard(self.optimizer, None)
        init = self.guard(self.init_rules, ())
        loaded = self.guard(self.start_weights)
        freeze = self.setting("freeze")
        frozen_names = self.frozen_names(freeze, optimizer)
        scheduler = self.guard(self.scheduler)
        other = self.guard(self.others, None)
        if self.failed or None in (data, loss, optimizer, other):
            raise Reported
        optimizer, lr = optimizer
        has_val = val is not None or self.data.split > 0
        self.guard(lambda: self.settled(other, metrics, has_val))
        if self.failed:
            raise Reported
        return ir.TrainIR(
            model=self.model.name,
            script=f"train_{self.model.name.lower()}",
            source_line=self.node.span.line,
            summary=self.summary(optimizer.call.target, other),
            data=data,
            validation=val,
            readers=self.readers(val, held_out["test"], other["predict"]),
            inputs=tuple(t.name for t in self.model.inputs if not t.optional),
            output=output,
            config=self.config(lr, other, has_val) + self.start_field(loaded),
            loss=loss,
            task=self.task,
            metrics=metrics,
            optimizer=optimizer,
            init=init,
            scheduler=scheduler,
            clip=other["clip"],
            accumulate=other["accumulate"],
            precision=other["precision"],
            compile=other["compile"],
            deterministic=other["deterministic"],
            early_stop=other["early_stop"],
            predict=other["predict"],
            save=other["save"],
            monitor="val_loss" if has_val else "loss",
            drop_last=self.data.drop_last,
            shuffle=self.data.shuffle,
            table=self.table(optimizer.groups, frozen_names),
            **processes(other),
            channels_last=channels_last(self.model, data),
            weights_dtype=weights_dtype(self.model),
            step=self.loss_step,
            metric_exprs=self.metric_exprs,
            frozen=frozen_names,
            frozen_source=_line(self, freeze.span) if freeze is not None else "",
            init_from=loaded or None,
            **held_out,
        )

    def validation(self, data) -> ir.DataCode | None:
        """The loader of the `validation` data section, when the data names one."""
        if self.data.validation is None:
            return None
        other = self.r._data(self.data.validation, self.data.setting_spans["validation"])
        val = other and self.guard(lambda: self.data_code(other, other.span))
        return val and distinct_rows(val, data)

    def readers(self, val, test=None, predict=None) -> tuple[str, ...]:
        """The file readers the training, validation, test and predicted data use."""
        other = set() if val is None else self.r.datas[self.data.validation].readers
        if test is not None:
            other = other | self.r.datas[self.data.test_data].readers
        if predict is not None and predict.data is not None:
            other = other | self.r.datas[predict.data.name].readers
        return tuple(sorted(self.data.readers | other))

    def table(self, groups: tuple[tr.OptimizerGroup, ...], frozen: tuple = ()) -> tuple:
        """Each trainable parameter with the rule that initialises it and its group."""
        from nndsl.check.parameters import model_tensors

        owner = getattr(self, "init_owner", {})
        group_of = {n: g.source for g in groups for n in g.names}
        group_of.update(dict.fromkeys(frozen, "frozen"))
        return tuple(
            (t.name, t.shape, owner.get(t.name, "PyTorch default"), group_of.get(t.name, "default"))
            for t in model_tensors(self.model)
            if t.trainable
        )

    def summary(self, opt: str, other: dict) -> str:
        what = f"{other['epochs']} epochs" if other["epochs"] else f"{other['steps']} steps"
        name = self.setting("loss").args[0].value
        step = self.loss_step
        if step is not None:  # the loss functions of an expression
            loss_name = " + ".join(dict.fromkeys(c.name for c in step.calls))
        else:
            loss_name = name.id if isinstance(name, s.Name) else name.func.id
        return (
            f"Train {self.model.name} on {self.data.name}: "
            f"{loss_name} loss, {opt.rsplit('.', 1)[-1]}, {what}."
        )

    # ---- data -----------------------------------------------------------------------------

    # ---- loss -----------------------------------------------------------------------------

    def spec(self, table: dict, kind: str, plural: str, name: str, span):
        """The entry of ``table`` for ``name``; E0401 with the nearest names when it has none."""
        if name not in table:
            hint = suggest(name, table) or f"{plural}: " + ", ".join(table)
            self.error("E0401", f"unknown {kind} `{name}`", span, help=hint)
            raise Reported
        return table[name]

    def loss(self) -> tuple[tr.Call, str, str]:
        st = self.setting("loss")
        if st is None:
            raise Reported  # reported with the settings
        if len(st.args) == 1 and st.args[0].name is None and is_expression(st.args[0].value):
            return self.loss_expression(st.args[0].value)
        name, span, args = call_parts(st.args[0].value) if len(st.args) == 1 else ("", st.span, ())
        spec = self.spec(LOSSES, "loss", "losses", name, span)
        bound = bind_spec(spec, args, name)
        out, output = self.model.returns, ""
        if isinstance(out, tuple):
            out, output = out[0], "[0]"
            while isinstance(out, tuple):
                out, output = out[0], output + "[0]"
        self.target(spec.extra, out, st.args[0].value.span)
        self.output_range(name, st.args[0].value.span)
        self.scored = ((ex.Name("out"), ex.Name("y")), out)
        return tr.Call(spec.torch, bound.kwargs()), spec.extra, output

    def named_task(self) -> str | None:
        """The task of a loss named alone (``loss mse``); None for an expression."""
        st = self.setting("loss")
        if st is None or len(st.args) != 1 or is_expression(st.args[0].value):
            return None
        name = call_parts(st.args[0].value)[0]
        return LOSSES[name].extra if name in LOSSES else None

    def output_range(self, loss: str, span) -> None:
        """E0419: ``bce`` on an output that may leave [0, 1], which torch would stop at."""
        links = self.r.links(self.model.name) if loss == "bce" else None
        if links is None:
            return
        found = not_probabilities(loss, self.model.name, output_range(links), span)
        if found is not None:
            self.r.diags.append(found)
            raise Reported

    def settled(self, other: dict, metrics: tuple, has_val: bool) -> None:
        """The checks that need every setting: what early stopping watches, then the data's
        sizes against the layers (E0425, E0426)."""
        self.watched(other["early_stop"], metrics, has_val)
        data_sizes(self, other)

    def watched(self, early_stop, metrics: tuple, has_val: bool) -> None:
        """early_stop watches something the run measures."""
        if early_stop is None:
            return
        name = early_stop[0]
        base = name.removeprefix("val_")
        span = self.setting("early_stop").span
        if base != "loss" and base not in metrics:
            self.error(
                "E0405",
                f"`early_stop` watches `{name}`, which this run does not measure",
                span,
                help=f"add `metrics {base}`, or watch `val_loss`",
            )
        elif name.startswith("val_") and not has_val:
            self.error(
                "E0405",
                f"`early_stop` watches `{name}`, "
                f"but data `{self.data.name}` has no validation part",
                span,
                help=f"add `split 0.2` or `validation <data>` to data `{self.data.name}`, "
                f"or watch `{base}`",
            )

    def metrics(self, task) -> tuple[str, ...]:
        st = self.setting("metrics")
        if st is None:
            return ("accuracy",) if task in ("classes", "binary", "binary_logits") else ()
        names = []
        calls = [
            a.value
            for a in st.args
            if a.name is None
            and isinstance(a.value, s.CallExpr)
            and isinstance(a.value.func, s.Name)
            and a.value.func.id in METRIC_CALLS
        ]
        bare = {a.value.id for a in st.args if isinstance(a.value, s.Name)}
        failed = self.loss_step is None and self.named_task() is None  # an expression that failed
        self.metric_exprs = self.metric_calls(calls, task, bare) if calls and not failed else ()
        for a in st.args:
            if a.value in calls:
                continue
            if a.name is not None or not isinstance(a.value, s.Name) or a.value.id not in METRICS:
                every = ", ".join([*METRICS, *(f"{m}(scores, targets)" for m in METRIC_CALLS)])
                self.error("E0401", "unknown metric", a.span, help="metrics: " + every)
                continue
            m = a.value.id
            if task is not None and task not in METRICS[m]:  # None: the loss failed
                self.error(
                    "E0405",
                    f"`{m}` does not apply to this loss",
                    a.span,
                    help="accuracy and f1 need a classification loss; mae a regression one",
                )
                continue
            if m not in names:
                names.append(m)
        return tuple(names)

    # ---- optimizer, groups, init ------------------------------------------------------------

    def optimizer(self) -> tuple[tr.Optimizer, object]:
        """The optimizer, its learning rate read from the config, and that rate's default."""
        st = self.setting("optimizer")
        if st is None:
            spec, args, span = OPTIMIZERS["adam"], (), self.node.span
        else:
            name, span, args = call_parts(st.value)
            spec = self.spec(OPTIMIZERS, "optimizer", "optimizers", name, span)
        bound = bind_spec(spec, args, spec.name)
        optimizer_ok(self, bound.values, span if st is not None else self.node.span)
        args = (tr.Arg("lr", tr.Ref("cfg.lr")), *bound.kwargs(skip=("lr",)))
        sets = groups(self, spec, st.groups if st is not None else ())
        return tr.Optimizer(tr.Call(spec.torch, args), sets), bound.values["lr"]

    def frozen_names(self, freeze, optimizer) -> tuple:
        if freeze is None or optimizer is None:
            return ()
        return self.guard(lambda: frozen(self, freeze, optimizer[0].groups), ())

    def start_weights(self) -> tr.InitFrom | None:
        """``init from``: the weights training starts from, which the parameter table names."""
        st = self.setting("init_from")
        if st is None:
            return None
        loaded = init_from(self, st)
        owner = getattr(self, "init_owner", {})
        self.init_owner = {**owner, **dict.fromkeys(loaded.loaded, f"from {loaded.path}")}
        return loaded

    def start_field(self, loaded: tr.InitFrom | None) -> tuple:
        if loaded is None:
            return ()
        comment = "the weights training starts from, in the data folder"
        return (ir.ConfigField("init_from", "str", loaded.path, comment),)

    def init_rules(self):
        st = self.setting("init")
        return init_rules(self, st.rules) if st is not None else ()

    def scheduler(self) -> tr.Scheduler | None:
        st = self.setting("scheduler")
        if st is None:
            return None
        name, span, args = call_parts(st.args[0].value)
        spec = self.spec(SCHEDULERS, "scheduler", "schedulers", name, span)
        bound = bind_spec(spec, args, name)
        args = (tr.Arg(None, tr.Ref("optimizer")), *bound.kwargs())
        if name == "cosine" and not any(a.name == "T_max" for a in args):
            if self.setting("epochs") is None and self.setting("steps") is not None:
                self.error(
                    "E0416",
                    "`cosine` over the epochs needs `epochs`, or its own `t_max`",
                    span,
                    help="write `scheduler cosine(t_max=10)` (in epochs)",
                )
                raise Reported
            args = (args[0], tr.Arg("T_max", tr.Ref("cfg.epochs")), *args[1:])
        if name == "onecycle":
            args += (tr.Arg("total_steps", tr.Ref("total_steps")),)
        return tr.Scheduler(tr.Call(spec.torch, args), spec.extra)

    # ---- the rest ---------------------------------------------------------------------------

    def others(self) -> dict:
        return other_settings(self)

    def config(self, lr, other: dict, has_val: bool = False) -> tuple[ir.ConfigField, ...]:
        return config_fields(self, lr, other)
