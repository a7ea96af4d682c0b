"""Train sections: the loss against the model's output and the data's targets, the optimizer
and its parameter groups, init rules, the schedule and every other setting; builds
:class:`ir.TrainIR` for the training-script template.

Settings, losses, optimizers, schedulers and init functions are tables here: their arguments,
defaults and the PyTorch they become. Selectors resolve against the model's parameter list
(:mod:`nndsl.check.parameters`), so a group or rule that matches nothing, or a parameter claimed
by two groups, is an error with a location before any training runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from nndsl.check.data import DataInfo
from nndsl.check.script_names import clash
from nndsl.check.train_steps import build_steps, steps_of
from nndsl.check.train_text import build_text, refuse_generate, with_vocabulary
from nndsl.diagnostics.core import Diagnostic, Label, Reported
from nndsl.ir import graph as dg
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import MAX_INT
from nndsl.ir.values import EvalError, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.training import TRAIN_SETTINGS
from nndsl.util.naming import suggest


class TrainRules:
    """Checks one ``train`` section against its model and data."""

    def __init__(
        self,
        diags: list[Diagnostic],
        models: dict,
        datas: dict[str, DataInfo],
        links: Callable[[], dict[str, dg.Links]] | None = None,
    ):
        self.diags = diags
        self.models = models  # name -> ir.ModelInfo (None after errors)
        self.datas = datas
        self._links, self._made = links, None  # each model's dataflow, made on first use
        self.syntax: dict[str, s.Model] = {}  # the models as written

    def links(self, model: str) -> dg.Links | None:
        """The dataflow of a checked model, for the ranges of its outputs."""
        if self._made is None and self._links is not None:
            self._made = self._links()
        return (self._made or {}).get(model)

    def _error(self, code: str, message: str, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, **kw))

    def _warn(self, code: str, message: str, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, severity="warning", **kw))

    # ---- driver -------------------------------------------------------------------------

    def train(self, node: s.Train) -> ir.TrainIR | None:
        before = len(self.diags)
        if node.more or steps_of(node):
            return self._train_steps(node, before)
        model = self._model(node)
        data = self._data(node.data, node.data_span)
        sets = self._settings(node)
        if model is None or data is None:
            return None
        try:
            t = self._build(node, model, data, sets)
        except Reported:
            return None
        found = clash(t, node.model_span)
        if found is not None:
            self.diags.append(found)
        return None if any(d.severity == "error" for d in self.diags[before:]) else t

    def _train_steps(self, node: s.Train, before: int) -> ir.TrainIR | None:
        """A section of several models, trained in steps."""
        names = [(node.model, node.model_span), *node.more]
        models = [self._model_named(name, span) for name, span in names]
        seen: dict = {}
        for name, span in names:
            if name in seen:
                self._error(
                    "E0105",
                    f"`{name}` is named twice in this section",
                    span,
                    labels=(Label(seen[name], "first named here"),),
                    help="name each model the section trains once",
                )
                return None
            seen[name] = span
        data = self._data(node.data, node.data_span)
        sets = self._settings(node)
        if None in models or data is None:
            return None
        if not steps_of(node):
            self._error(
                "E0423",
                "a train section of several models trains them in steps",
                node.span,
                help=f"add `step {node.model} {{ loss ... }}` for each model it trains",
            )
            return None
        try:
            refuse_generate(self, sets)
            t = with_vocabulary(self, build_steps(self, node, models, data, sets), data)
        except Reported:
            return None
        found = clash(t, node.model_span)
        if found is not None:
            self.diags.append(found)
        return None if any(d.severity == "error" for d in self.diags[before:]) else t

    def _model(self, node: s.Train):
        return self._model_named(node.model, node.model_span)

    def _model_named(self, name: str, span: s.Span):
        if name not in self.models:
            self._error("E0401", f"no model named `{name}`", span, help=suggest(name, self.models))
            return None
        return self.models[name]

    def _data(self, name: str, span: s.Span) -> DataInfo | None:
        if name not in self.datas:
            self._error(
                "E0401", f"no data section named `{name}`", span, help=suggest(name, self.datas)
            )
            return None
        return self.datas[name]

    # ---- settings -----------------------------------------------------------------------

    def _settings(self, node: s.Train) -> dict:
        """Each setting by name; unknown and repeated ones are reported and left out."""
        found: dict[str, object] = {}
        for st in node.stmts:
            if isinstance(st, s.Step):
                continue  # checked with the section's steps
            key = {
                s.Optimizer: "optimizer",
                s.InitBlock: "init",
                s.InitFrom: "init_from",
                s.Freeze: "freeze",
            }.get(type(st), getattr(st, "name", ""))
            if key in found:
                self._error(
                    "E0105",
                    f"`{key}` is set twice",
                    getattr(st, "name_span", st.span),
                    labels=(Label(_span_of(found[key]), "first set here"),),
                )
                continue
            if isinstance(st, s.Setting) and key not in TRAIN_SETTINGS:
                hint = suggest(key, TRAIN_SETTINGS) or "settings: " + ", ".join(TRAIN_SETTINGS)
                if key in ("lr", "momentum", "weight_decay"):
                    hint = f"`{key}` is an optimizer argument: `optimizer sgd({key}=...)`"
                self._error("E0401", f"unknown train setting `{key}`", st.name_span, help=hint)
                continue
            found[key] = st
        if "loss" not in found and not steps_of(node):
            self._error(
                "E0416",
                f"train `{node.model}` needs a loss",
                node.span,
                help="add a line such as `loss mse` or `loss cross_entropy`",
            )
        return found

    def _one(self, st: s.Setting, kind: str = "any") -> object:
        """The single value of a setting, checked against ``kind``."""
        if len(st.args) != 1 or st.args[0].name is not None:
            self._error("E0104", f"`{st.name}` takes one value", st.span)
            raise Reported
        arg = st.args[0].value
        if kind == "name":
            if isinstance(arg, s.Name):
                return arg.id
            if isinstance(arg, s.Str):
                return arg.value
            self._error("E0106", f"`{st.name}` takes a name", arg.span)
            raise Reported
        try:
            v = evaluate(arg, {}).py
        except EvalError as err:
            self._error("E0106", err.message, err.span, help=err.help)
            raise Reported from None
        ok = {
            "int": isinstance(v, int) and not isinstance(v, bool),
            "number": isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "str": isinstance(v, str),
        }.get(kind, True)
        if not ok:
            self._error(
                "E0106", f"`{st.name}` takes a {'number' if kind == 'number' else kind}", arg.span
            )
            raise Reported
        return v

    def _positive(self, st: s.Setting, kind: str = "int", minimum: float = 1) -> object:
        v = self._one(st, kind)
        if kind == "number" and not math.isfinite(v):  # 1e400 is inf
            self._error("E0125", f"`{st.name}` must be a finite number, got {v}", st.args[0].span)
            raise Reported
        if v < minimum or (kind == "int" and v > MAX_INT):
            rule = f"at least {minimum}" if v < minimum else "at most 2**63 - 1"
            self._error("E0125", f"`{st.name}` must be {rule}, got {v}", st.args[0].span)
            raise Reported
        return v

    def _choice(self, st: s.Setting, choices: tuple) -> str:
        v = self._one(st, "name")
        if v not in choices:
            self._error(
                "E0126",
                f"`{st.name}` is one of {', '.join(choices)}; got `{v}`",
                st.args[0].span,
                help=suggest(v, choices),
            )
            raise Reported
        return v

    # ---- the whole section --------------------------------------------------------------

    def _build(self, node: s.Train, model, data: DataInfo, sets: dict) -> ir.TrainIR:
        return build_text(self, node, model, data, sets)


def _span_of(node) -> s.Span:
    return getattr(node, "name_span", None) or node.span
