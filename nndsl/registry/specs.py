"""The entries of the training tables (:mod:`nndsl.registry.training`, which re-exports this):
a loss, optimizer, scheduler or init function as a :class:`Spec`, and a call of one bound to its
arguments."""

from __future__ import annotations

from nndsl.ir.expr import literal_text
from nndsl.ir.training import Arg, value_of
from nndsl.ir.values import EvalError, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.args import REQUIRED, ArgSpec, bind
from nndsl.registry.saves import Saved
from nndsl.util.frozen import frozen


@frozen
class Spec:
    """A loss, optimizer, scheduler or init function."""

    name: str
    torch: str
    args: tuple[ArgSpec, ...]
    doc: str
    extra: str = ""  # task of a loss; step of a scheduler; min rank of an init
    ordered: tuple[tuple[str, str], ...] = ()  # (a, b): the values must have a <= b
    saves: tuple[Saved, ...] = ()  # a loss: what autograd keeps of it (nndsl.registry.saves)
    state: tuple[tuple[str, int], ...] = ()  # an optimizer: its state (as saves.ADAM_STATE)


@frozen
class Bound:
    """A spec's arguments after binding: every value, and the keyword arguments to emit (only
    the arguments given, in the spec's order, by their PyTorch names)."""

    values: dict
    args: tuple[Arg, ...]

    def kwargs(self, skip: tuple = ()) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.name not in skip)

    def positional(self, spec: Spec) -> tuple[Arg, ...]:
        """The arguments given, positionally while they are the spec's first ones in order, then
        by keyword: ``normal(std=0.01)`` is ``nn.init.normal_(w, std=0.01)``, not ``(w, 0.01)``,
        which would set the mean."""
        order = [a.torch for a in spec.args]
        out: list[Arg] = []
        for i, arg in enumerate(self.args):
            leading = all(o.name is None for o in out) and i < len(order) and arg.name == order[i]
            out.append(Arg(None, arg.value) if leading else arg)
        return tuple(out)


def bind_spec(spec: Spec, args: tuple[s.Arg, ...], where: str) -> Bound:
    """Bind call arguments to a spec; raises EvalError with the offending argument's span."""
    binding = bind(spec.args, [a.name for a in args], where)
    if binding.problems:
        p = binding.problems[0]
        span = None if not args else args[-1].span if p.at is None else args[p.at].span
        if p.to is not None:
            span = span.to(args[p.to].span)
        raise EvalError(p.message, span, p.code, help=p.help)
    given = {name: args[i] for name, i in binding.slots.items()}
    written = {name: evaluate(arg.value, {}).py for name, arg in given.items()}  # as written
    values, code = {}, []
    for a in spec.args:
        if a.name not in given:
            values[a.name] = a.default
            continue
        v = values[a.name] = _checked(a, written[a.name], given[a.name].value.span)
        code.append(Arg(a.torch, value_of(tuple(v) if a.kind == "numbers" else v)))
    _ordered(spec, values, given)
    return Bound(values, tuple(code))


def _checked(a: ArgSpec, v: object, span) -> object:
    def is_num(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    kind = a.kind
    if kind in ("numbers", "ints"):
        if (
            not isinstance(v, (list, tuple))
            or not v
            or not all(is_num(x) and (kind == "numbers" or isinstance(x, int)) for x in v)
        ):
            raise EvalError(
                f"`{a.name}` takes a list of {'numbers' if kind == 'numbers' else 'integers'}",
                span,
                "E0106",
            )
        if a.length is not None and len(v) != a.length:
            raise EvalError(
                f"`{a.name}` takes {a.length} numbers, got {len(v)}",
                span,
                "E0106",
                help=f"e.g. `{a.name}={literal_text(a.default)}`",
            )
        for x in v:
            _in_range(a, x, span, f"every value of `{a.name}`")
        return list(v) if kind == "ints" else tuple(float(x) for x in v)  # torch wants floats
    ok = {
        "number": is_num(v),
        "int": isinstance(v, int) and not isinstance(v, bool),
        "bool": isinstance(v, bool),
        "str": isinstance(v, str),
    }[kind]
    if v is None and a.default is None:
        return v
    if not ok:
        raise EvalError(f"`{a.name}` takes a {kind}, got {literal_text(v)}", span, "E0106")
    if a.choices and v not in a.choices:
        raise EvalError(f"`{a.name}` is one of {', '.join(map(repr, a.choices))}", span, "E0126")
    _in_range(a, v, span, f"`{a.name}`")
    return v


def _in_range(a: ArgSpec, v: object, span, what: str) -> None:
    """E0125 unless ``v`` lies within the argument's bounds (and is finite)."""
    why = a.out_of_bounds(v, what)
    if why is not None:
        raise EvalError(why, span, "E0125")


def _ordered(spec: Spec, values: dict, given: dict) -> None:
    """E0125 when two arguments the spec wants in order (``a <= b``) are not."""
    for lo, hi in spec.ordered:
        if values[lo] > values[hi]:
            arg = given.get(hi) or given[lo]
            raise EvalError(
                f"`{lo}` must be at most `{hi}`, got {lo}={values[lo]} and {hi}={values[hi]}",
                arg.span,
                "E0125",
                help=f"`{spec.name}` draws from {lo} .. {hi}",
            )


def spec_rows(table: dict[str, Spec]) -> list[tuple[str, str, str]]:
    """(signature, PyTorch, doc) per entry, for the docs."""
    rows = []
    for spec in table.values():
        params = ", ".join(
            a.name if a.default is REQUIRED else f"{a.name}={literal_text(a.default)}"
            for a in spec.args
        )
        rows.append((f"{spec.name}({params})" if params else spec.name, spec.torch, spec.doc))
    return rows
