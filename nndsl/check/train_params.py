"""Optimizer parameter groups and init rules: selectors resolved against the model's parameters.

Every parameter falls in exactly one optimizer group (those no group claims form the default
group); a selector that matches nothing, or a parameter claimed by two groups, is an error.
Init rules apply in order, a later rule overriding an earlier one for the same tensor, so each
tensor is initialised once, by the last rule that selects it.
"""

from __future__ import annotations

from dataclasses import replace

from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import training as tr
from nndsl.ir.values import EvalError, Value, call_parts, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.training import INITS, bind_spec

MASK_VAR = "w"


def trainable(b) -> tuple:
    """The model's tensors an optimizer updates."""
    from nndsl.check.parameters import model_tensors

    return tuple(t for t in model_tensors(b.model) if t.trainable)


def optimizer_ok(b, values: dict, span: s.Span) -> None:
    """E0413 for nesterov without momentum, E0417 for a model with nothing to optimize."""
    if values.get("nesterov") and (values["momentum"] <= 0 or values["dampening"] != 0):
        b.error("E0413", "nesterov needs a momentum above 0 and no dampening", span)
        raise Reported
    if not trainable(b):
        b.error(
            "E0417",
            f"`{b.model.name}` has no trainable parameter for the optimizer to update",
            span,
            help="give the model a layer with weights, or drop its train section",
        )
        raise Reported


def _resolve(b, tensors, selectors: tuple[s.Selector, ...]) -> list | None:
    from nndsl.check.parameters import explain, select

    names: list = []
    ok = True
    for sel in selectors:
        found = select(tensors, sel.parts)
        if not found:
            b.error(
                "E0407",
                f"`{sel.text}` matches no parameter of `{b.model.name}`",
                sel.span,
                help=explain(tensors, sel.parts),
            )
            ok = False
        names += [t for t in found if t not in names]
    return names if ok else None


def _line(b, span: s.Span) -> str:
    """The rule or group as written, for a comment: ``Linear.bias = 0  (line 24)``."""
    text = ""
    if 0 < span.line <= len(b.r.lines):
        line = b.r.lines[span.line - 1]
        end = span.end_column - 1 if span.end_line == span.line else len(line)
        text = " ".join(line[span.column - 1 : end].split())
    return f"{text}  (line {span.line})" if text else f"line {span.line}"


def groups(b, spec, group_nodes) -> tuple[tr.OptimizerGroup, ...]:
    """Optimizer groups in source order; the default group (everything else) is implied."""
    if not group_nodes:
        return ()
    tensors = trainable(b)
    owner: dict[str, s.Group] = {}
    out = []
    # a group takes every argument of its optimizer but `fused`, the whole optimizer's
    spec = replace(spec, args=tuple(a for a in spec.args if a.name != "fused"))
    allowed = {a.name for a in spec.args}
    for g in group_nodes:
        fused = next((a for a in g.args if a.name == "fused"), None)
        if fused is not None:
            b.error(
                "E0413",
                "`fused` chooses how the whole optimizer updates, not one group",
                fused.span,
                help=f"set it on the optimizer: `{spec.name}(..., fused=true)`",
            )
            continue
        picked = _resolve(b, tensors, g.selectors)
        try:
            bound = bind_spec(spec, g.args, spec.name)
        except EvalError as err:
            b.error(err.code, err.message, err.span or g.span, help=err.help)
            continue
        if picked is None:
            continue
        clash = [t.name for t in picked if t.name in owner]
        if clash:
            first = owner[clash[0]]
            b.error(
                "E0408",
                f"`{clash[0]}` is already in an earlier group",
                g.selectors[0].span,
                labels=(Label(first.selectors[0].span, "claimed here first"),),
                help="each parameter belongs to one group; narrow one of the selectors",
            )
            continue
        for t in picked:
            owner[t.name] = g
        assert allowed  # every optimizer has arguments
        names = tuple(t.name for t in picked)
        out.append(tr.OptimizerGroup(names, bound.kwargs(), _line(b, g.span)))
    return tuple(out)


def init_rules(b, rules: tuple[s.InitRule, ...]) -> tuple[tr.InitRule, ...]:
    """One InitRule per rule that still initialises something, in source order."""
    tensors = trainable(b)
    last: dict[str, int] = {}
    resolved = []
    for i, rule in enumerate(rules):
        picked = _resolve(b, tensors, rule.selectors)
        code = _init_code(b, rule, picked or ())
        resolved.append((rule, picked, code))
        for t in picked or ():
            last[t.name] = i
    out = []
    for i, (rule, picked, code) in enumerate(resolved):
        if picked is None or code is None:
            continue
        mine = tuple(t.name for t in picked if last[t.name] == i)
        if not mine:
            b.r._warn(
                "W0401",
                "every tensor this rule selects is initialised again by a later rule",
                rule.span,
                help="remove the rule, or narrow the later one",
            )
            continue
        out.append(tr.InitRule(mine, code[0], _line(b, rule.span), code[1]))
    b.init_owner = {n: _line(b, resolved[i][0].span) for n, i in last.items()}
    return tuple(out)


# inits whose leading arguments nn.init takes positionally (`nn.init.normal_(w, 0, 0.01)`)
POSITIONAL_INITS = ("normal", "uniform", "constant")


def _init_code(b, rule: s.InitRule, picked) -> tuple[tr.Call, ex.Expr | None] | None:
    """The ``nn.init`` call on ``w`` and the mask expression (or None)."""
    w = tr.Arg(None, tr.Ref(MASK_VAR))
    try:
        if rule.op == "=":
            v = evaluate(rule.value, {}).py
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise EvalError(
                    "`=` sets every value to one number",
                    rule.value.span,
                    "E0106",
                    help="for a distribution write `~ normal(0, 0.01)`",
                )
            why = INITS["constant"].args[0].out_of_bounds(v, "the value `=` sets")
            if why is not None:  # what `= v` is: nn.init.constant_
                raise EvalError(why, rule.value.span, "E0125")
            if v == 0:
                return tr.Call("nn.init.zeros_", (w,)), None
            return tr.Call("nn.init.constant_", (w, tr.Arg(None, float(v)))), None
        name, span, args = call_parts(rule.value)
        if name not in INITS:
            from nndsl.util.naming import suggest

            raise EvalError(
                f"unknown init `{name}`",
                span,
                "E0401",
                help=suggest(name, INITS) or "inits: " + ", ".join(INITS),
            )
        spec = INITS[name]
        bound = bind_spec(spec, args, name)
        low = int(spec.extra)
        for t in picked:
            if len(t.shape) < low:
                raise EvalError(
                    f"`{name}` needs a tensor of at least {low} dims, "
                    f"but `{t.name}` is {len(t.shape)}-D",
                    span,
                    "E0415",
                    help="apply it to weights only, e.g. `Linear.weight`",
                )
        args = bound.positional(spec) if name in POSITIONAL_INITS else bound.kwargs()
        mask = _mask(b, rule.keep, picked) if rule.keep is not None else None
        return tr.Call(spec.torch, (w, *args)), mask
    except EvalError as err:
        b.error(err.code, err.message, err.span or rule.span, help=err.help)
        return None


def _mask(b, keep, picked) -> ex.Expr:
    """``keep abs(w) >= 5``: a bool expression over ``w`` with w's shape."""
    from nndsl.ir.shapes import ShapeError
    from nndsl.ir.tensors import Tensor
    from nndsl.registry.functions import call
    from nndsl.registry.operators import binary, unary

    def ev(e, t):
        match e:
            case s.Name(id=name) if name == MASK_VAR:
                return Value(t, ex.Name(MASK_VAR))
            case s.Num() | s.Const():
                return evaluate(e, {})
            case s.BinOp(op=op, left=l, right=r):
                return binary(op, ev(l, t), ev(r, t))
            case s.Unary(op=op, operand=o):
                return unary(op, ev(o, t))
            case s.CallExpr(func=s.Name(id=f), args=args):
                return call(
                    f,
                    [ev(a.value, t) for a in args if a.name is None],
                    {a.name: ev(a.value, t) for a in args if a.name is not None},
                )
        raise EvalError(
            f"a `keep` mask is an expression of `{MASK_VAR}`, the tensor", e.span, "E0106"
        )

    mask = None
    for p in picked:
        try:
            v = ev(keep, Tensor(tuple(p.shape), "float32"))
        except ShapeError as err:
            raise EvalError(err.message, keep.span, "E0303", help=err.help) from None
        if (
            not isinstance(v.py, Tensor)
            or v.py.dtype != "bool"
            or tuple(v.py.shape) != tuple(p.shape)
        ):
            raise EvalError(
                f"a `keep` mask must be a true/false tensor shaped like `{MASK_VAR}`",
                keep.span,
                "E0106",
                help=f"e.g. `keep abs({MASK_VAR}) >= 5`",
            )
        mask = v.expr
    return mask


def frozen(b, st: s.Freeze, groups: tuple[tr.OptimizerGroup, ...]) -> tuple[str, ...]:
    """``freeze encoder, .bias``: the parameters nothing trains, resolved as optimizer groups'
    selectors are. A frozen parameter in an optimizer group is an error (E0413), and so is
    freezing every parameter (E0417)."""
    tensors = trainable(b)
    picked = _resolve(b, tensors, st.selectors)
    if picked is None:
        raise Reported
    names = tuple(t.name for t in picked)
    for g in groups:
        both = [n for n in g.names if n in names]
        if both:
            b.error(
                "E0413",
                f"`{both[0]}` is frozen, and in an optimizer group",
                st.span,
                help="a frozen parameter is not trained: leave it out of the group, or unfreeze it",
            )
            raise Reported
    if len(names) == len(tensors):
        b.error(
            "E0417",
            f"`freeze` leaves `{b.model.name}` nothing to train",
            st.span,
            help="freeze a part of the model, such as the layers before its head",
        )
        raise Reported
    return names
