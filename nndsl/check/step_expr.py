"""The body of a ``step`` block, and the ``samples`` drawing of a train section of steps.

A step computes one optimizer's loss from the batch: its names are the data section's tensors
(with the batch as ``B``), the values it assigns, and the train section's models, which it
calls as functions (``Critic(detach(fake))``); ``randn(B, 16)`` and ``rand(...)`` draw noise
of a shape given by numbers and ``B``. Everything else is as in a loss expression
(:class:`~nndsl.check.loss_expr.LossExpr`): the losses, the functions of a forward, numbers.
The result is the body of the step's function in the training script: statements, then the
loss and its terms.
"""

from __future__ import annotations

from dataclasses import replace

from nndsl.check.forward_types import bind_symbols, describe, fits, shown
from nndsl.check.loss_expr import LossExpr
from nndsl.check.loss_output import not_probabilities
from nndsl.check.ranges import output_range
from nndsl.diagnostics.core import Reported
from nndsl.ir import expr as ex
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.training import LOSSES
from nndsl.util.naming import suggest

MODELS = "models"  # the script's ModuleDict of the trained models, in every step
NOISE = {"randn": "torch.randn", "rand": "torch.rand"}


class StepExpr(LossExpr):
    """Checks the statements of one ``step`` (or the ``samples`` expression, which has no
    batch: ``batch`` None)."""

    def __init__(self, builder, models: dict, attrs: dict, data: dict, failed, batch: str | None):
        super().__init__(builder, {}, data, failed)
        self.first = "out"  # for the messages of a loss named without its operands
        self.models = models  # name -> ir.ModelInfo of the section's models
        self.attrs = attrs  # name -> its key in the script's ModuleDict
        self.batch = batch  # the data tensor whose length is B and whose device the noise takes
        self.locals: dict[str, Tensor] = {}
        self.body: list = []  # ex.Assign and tr.LossCall, in order
        self.called: set[str] = set()  # the models the step calls
        self.origin: dict = {}  # expression -> the model whose output it is (for bce's range)

    # ---- statements -----------------------------------------------------------------------

    def assign(self, st: s.DataAssign) -> None:
        taken = self.taken(st.name)
        if taken:
            self.error(
                "E0105",
                f"`{st.name}` is {taken} already",
                st.name_span,
                help="give the value a new name",
            )
        before = len(self.calls)
        v = self.value(st.value)
        if not isinstance(v.py, Tensor):
            self.error("E0420", f"`{st.name}` must be a tensor", st.value.span)
        new = self.calls[before:]
        if new and v.expr == ex.Name(new[-1].local):  # `real = bce(...)`: the call's own name
            last = replace(new[-1], local=st.name)
            self.calls[-1] = last
            self.flush(new[:-1])
            self.body.append(last)
        else:
            self.flush(new)
            self.body.append(ex.Assign(ex.Name(st.name), v.expr, shown(v.py)))
        if v.expr in self.origin:
            self.origin[ex.Name(st.name)] = self.origin[v.expr]
        self.locals[st.name] = v.py

    def loss(self, e) -> Value:
        """The step's loss: one floating number."""
        before = len(self.calls)
        v = self.check(e)
        new = self.calls[before:]
        if len(new) == 1 and v.expr == ex.Name(new[0].local) and not self.taken("loss"):
            new = [replace(new[0], local="loss")]  # `loss = F.mse_loss(...)`
            self.calls[-1] = new[0]
            v = Value(v.py, ex.Name("loss"))
        self.flush(new)
        return v

    def flush(self, calls: list) -> None:
        self.body.extend(calls)

    def taken(self, name: str) -> str:
        if name in self.locals:
            return "assigned"
        if name in self.data:
            return "a data tensor"
        if name in self.models:
            return "a model"
        if name in (MODELS, "batch", "B"):
            return "a name the step uses"
        return ""

    # ---- values ---------------------------------------------------------------------------

    def value(self, e) -> Value:
        match e:
            case s.CallExpr(func=s.Name(id=name)) if name in self.models:
                return self.model_call(name, e)
            case s.CallExpr(func=s.Name(id=name)) if name in NOISE:
                return self.noise(name, e)
            case s.Name(id=name) if name in self.locals:
                return Value(self.locals[name], ex.Name(name))
            case s.Name(id=name) if name in self.models:
                self.error(
                    "E0420",
                    f"`{name}` is a model: call it on its input",
                    e.span,
                    help=f"`{name}(...)`",
                )
        return super().value(e)

    def name(self, name: str, e: s.Name) -> Value:
        if name in self.failed:
            raise Reported
        if name in self.data:
            self.feeds.setdefault(name, None)
            return Value(self.data[name], ex.Name(name))
        if name in LOSSES:
            self.error("E0420", f"`{name}` is a loss: give it what it compares", e.span)
        known = [*self.locals, *self.data]
        self.error(
            "E0108",
            f"`{name}` is neither a data tensor nor a value this step assigns",
            e.span,
            help=suggest(name, known) or "the names here: " + ", ".join(known),
        )

    def local(self, name: str) -> str:
        taken = {*self.locals, *self.data, *self.attrs.values(), MODELS, "batch"}
        taken |= {c.local for c in self.calls}
        local, n = name, 1
        while local in taken:
            n += 1
            local = f"{name}_{n}"
        return local

    def model_call(self, name: str, e: s.CallExpr) -> Value:
        info = self.models[name]
        if any(a.name is not None for a in e.args):
            self.error("E0104", f"model `{name}` takes its inputs by position", e.span)
        args = [(a.value, self.value(a.value)) for a in e.args]
        required = [i for i in info.inputs if not i.optional]
        if not len(required) <= len(args) <= len(info.inputs):
            self.error(
                "E0118",
                f"model `{name}` takes {len(info.inputs)} input(s) but receives {len(args)}",
                e.span,
            )
        symbols: dict = {}
        for (node, v), want in zip(args, info.inputs):
            have = v.py
            ok = isinstance(have, Tensor) and have.dtype == want.dtype
            ok = ok and len(have.shape) == len(want.shape) and len(have.shape) > 0
            if ok:  # the first dim is the batch, of any size
                symbols["B"] = have.shape[0]
                ok = fits(have.shape[1:], want.shape[1:], symbols)
            if not ok:
                shown_have = describe(have)
                self.error(
                    "E0301",
                    f"model `{name}` takes `{want.name}` as {fmt_shape(want.shape)} "
                    f"{want.dtype} but receives {shown_have}",
                    node.span,
                )
        self.called.add(name)
        result = bind_symbols(info.returns, symbols)
        if not isinstance(result, Tensor):
            self.error(
                "E0420",
                f"model `{name}` returns several outputs, and a step takes models of one",
                e.span,
                help=f"return one tensor from `{name}`, or train it with a loss expression",
            )
        call = ex.Call(ex.Attr(ex.Name(MODELS), self.attrs[name]), tuple(v.expr for _, v in args))
        self.origin[call] = name
        return Value(result, call)

    def noise(self, name: str, e: s.CallExpr) -> Value:
        """``randn(B, 16)``: noise of that shape, on the batch's device."""
        if any(a.name is not None for a in e.args) or not e.args:
            self.error(
                "E0104",
                f"`{name}` takes the sizes of its dims, such as `{name}(B, 16)`",
                e.span,
            )
        dims, exprs = [], []
        for a in e.args:
            if isinstance(a.value, s.Name) and a.value.id == "B":
                if self.batch is None:
                    self.error(
                        "E0108",
                        "`B` is the size of a batch, which only a step has",
                        a.value.span,
                        help="draw a number of samples: `randn(64, 16)`",
                    )
                self.feeds.setdefault(self.batch, None)
                dims.append("B")
                exprs.append(ex.Call(ex.Name("len"), (ex.Name(self.batch),)))
                continue
            try:
                size = evaluate(a.value, {}).py
            except EvalError as err:
                self.error(err.code, err.message, err.span or a.value.span, help=err.help)
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                self.error("E0125", f"a size of `{name}` is a whole number, at least 1", a.span)
            dims.append(size)
            exprs.append(ex.constant(size))
        if self.batch is None:
            device = ex.Name("device")
        else:
            self.feeds.setdefault(self.batch, None)
            device = ex.Attr(ex.Name(self.batch), "device")
        expr = ex.Call(ex.dotted(NOISE[name]), tuple(exprs), (("device", device),))
        return Value(Tensor(tuple(dims), "float32"), expr)

    def loss_call(self, name: str, e: s.CallExpr) -> Value:
        v = super().loss_call(name, e)
        call = self.calls[-1]
        model = self.origin.get(call.operands[0])
        links = self.b.r.links(model) if name == "bce" and model else None
        if links is not None:
            found = not_probabilities("bce", model, output_range(links), e.span)
            if found is not None:
                self.b.r.diags.append(found)
                raise Reported
        return v
