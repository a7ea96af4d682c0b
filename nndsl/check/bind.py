"""Binding call arguments: positional and keyword arguments matched to a layer's or block's
parameters, evaluated, and checked for type and range. Problems become diagnostics.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from nndsl.check.fixes import floor_division
from nndsl.diagnostics.core import Diagnostic, Label
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.args import ArgSpec, bind
from nndsl.registry.layers import Layer
from nndsl.util.naming import suggest


def eval_diag(err: EvalError) -> Diagnostic:
    return Diagnostic(err.code, err.message, err.span, help=err.help)


def match_args(
    call: s.Call,
    names: Sequence[str],
    skippable: Sequence[str],
    what: str,
    diags: list[Diagnostic],
    lead: int = 0,
) -> dict[str, s.Arg] | None:
    """Map the call's arguments to parameter names, each of which may be left out (the caller
    asks for the ones it needs); ``skippable`` and ``lead`` as :func:`match_call` has them."""
    params = tuple(ArgSpec(n, "any", None) for n in names)
    return match_call(call, params, what, diags, skip=skippable, lead=lead)


def match_call(
    call: s.Call,
    params: Sequence[ArgSpec],
    what: str,
    diags: list[Diagnostic],
    skip: Collection[str] = (),
    lead: int = 0,
) -> dict[str, s.Arg] | None:
    """Map the call's arguments to ``params`` (see :func:`nndsl.registry.args.bind`).

    Positional arguments fill ``params`` minus ``skip`` (the inferred ones) in order; when
    there are more of them than the first ``lead`` parameters minus the inferred ones, they
    fill all of ``params`` in order instead: the explicit form, ``Linear(2, 8)``.
    Returns None when the call is malformed (diagnostics were added).
    """
    if not call.args:
        return {}  # nothing to match, so nothing can be wrong
    keys = [a.name for a in call.args]
    binding = bind(params, keys, what, what, skip=skip, lead=lead, complete=False)
    for p in binding.problems:
        span = call.args[p.at].span
        if p.to is not None:
            span = span.to(call.args[p.to].span)
        first = () if p.first is None else (Label(call.args[p.first].span, "first given here"),)
        diags.append(Diagnostic(p.code, p.message, span, labels=first, help=p.help))
    if not binding.ok:
        return None
    return {name: call.args[i] for name, i in binding.slots.items()}


_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "ints": "an integer or a tuple of integers",
    "ints?": "an integer, a tuple of integers or none",
    "int?": "an integer or none",
    "float?": "a number or none",
    "shape": "an integer or a tuple of integers",
}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def type_ok(kind: str, v: object) -> bool:
    """Whether value ``v`` fits argument type ``kind``.

    >>> type_ok("ints", (3, 3)), type_ok("int", True), type_ok("float", 1)
    (True, False, True)
    """
    if kind.endswith("?") and v is None:
        return True
    base = kind.rstrip("?")
    if base == "int":
        return _is_int(v)
    if base == "float":
        return _is_int(v) or isinstance(v, float)
    if base == "bool":
        return isinstance(v, bool)
    if base == "str":
        return isinstance(v, str)
    if base in ("ints", "shape"):
        return _is_int(v) or (
            isinstance(v, (tuple, list)) and len(v) > 0 and all(_is_int(x) for x in v)
        )
    return True


def _numbers(v: object) -> list:
    if isinstance(v, (tuple, list)):
        return [x for x in v if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return [v] if isinstance(v, (int, float)) and not isinstance(v, bool) else []


def layer_args(
    call: s.Call, layer: Layer, env: dict[str, Value], diags: list[Diagnostic]
) -> tuple[dict[str, Value], dict[str, s.Arg]] | None:
    """Evaluate and check the user's arguments to a registry layer.

    Returns the values and the syntax node of each, or None after adding diagnostics.
    """
    skip = layer.inferred_names
    bound = match_call(call, layer.args, layer.name, diags, skip=skip, lead=layer.positional)
    if bound is None:
        return None
    values: dict[str, Value] = {}
    ok = True
    for name, node in bound.items():
        spec = layer.arg(name)
        try:
            value = evaluate(node.value, env)
        except EvalError as err:
            diags.append(eval_diag(err))
            ok = False
            continue
        problem = check_value(spec.name, spec.kind, value.py, spec.min, spec.max, spec.choices)
        if problem:
            fix = floor_division(node.value) if problem[0] == "E0106" and problem[2] else None
            diags.append(
                Diagnostic(problem[0], problem[1], node.value.span, help=problem[2], fix=fix)
            )
            ok = False
            continue
        values[name] = value
    return (values, bound) if ok else None


def check_value(name, kind, v, lo, hi, choices) -> tuple[str, str, str | None] | None:
    """(code, message, help) when ``v`` does not fit, else None."""
    if not type_ok(kind, v):
        word = _TYPE_WORDS.get(kind, kind)
        hint = (
            "use `//` for integer division"
            if kind.startswith("int") and isinstance(v, float)
            else None
        )
        return "E0106", f"`{name}` must be {word}, not {_show(v)}", hint
    if choices and v not in choices:
        options = ", ".join(repr(c) for c in choices)
        return (
            "E0126",
            f"`{name}` must be one of {options}, not {_show(v)}",
            suggest(str(v), [str(c) for c in choices]),
        )
    for x in _numbers(v):
        if lo is not None and x < lo:
            return "E0125", f"`{name}` must be at least {_num(lo)}, not {_num(x)}", None
        if hi is not None and x > hi:
            return "E0125", f"`{name}` must be at most {_num(hi)}, not {_num(x)}", None
    return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


def _show(v: object) -> str:
    text = repr(v)
    if isinstance(v, bool):
        text = "true" if v else "false"
    elif v is None:
        text = "none"
    return text if len(text) <= 40 else text[:37] + "..."


def emit_args(layer: Layer, args: dict, values: dict[str, Value]) -> tuple[ir.Arg, ...]:
    """Constructor arguments as generated code passes them: positional first, then keywords."""
    out = []
    positional = True
    for i, spec in enumerate(layer.args):
        if spec.name in values:
            e = values[spec.name].expr
        elif spec.infer is not None:
            e = ex.of_dim(args[spec.name])
        elif spec.emit:
            e = ex.constant(spec.default)
        else:
            positional = False
            continue
        positional = positional and i < layer.positional
        out.append(ir.Arg(None if positional else spec.name, e))
    return tuple(out)
