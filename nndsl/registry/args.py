"""The arguments of every kind of built-in, and how a call's arguments are matched to them.

Layers (:mod:`nndsl.registry.layers`), the functions of a forward
(:mod:`nndsl.registry.functions`) and the losses, optimizers, schedulers and init functions of a
train section (:mod:`nndsl.registry.training`) all declare their arguments as :class:`ArgSpec`
and match a call's arguments with :func:`bind`, so the same mistake reads the same wherever it
is made. Checking the values stays with each caller: a layer's against the input shape, a
function's are tensors and numbers, a train section's are constants, held to their bounds by
:meth:`ArgSpec.out_of_bounds`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import field

from nndsl.util.frozen import frozen
from nndsl.util.naming import suggest


class _Required:
    """The type of :data:`REQUIRED`."""

    def __repr__(self) -> str:
        return "REQUIRED"


FLOAT32_MAX = 3.4028234663852886e38  # torch refuses a larger scalar with float32 tensors
REQUIRED = _Required()  # the default of an argument that must be given (or, for a layer, inferred)


@frozen
class ArgSpec:
    """One argument of a built-in.

    ``kind`` says what values it takes, in the words of the table that declares it: a layer's
    ``int``, ``float``, ``bool``, ``str``, ``ints`` (an int or a tuple of ints); a function's
    ``tensor``, ``dim``, ``dims``, ``size``, ``number``...; a train section's ``number``,
    ``numbers``, ``int``, ``ints``... A ``?`` suffix also accepts none; a ``*`` prefix (functions)
    takes the remaining positional arguments.

    - ``infer``: a layer's argument computed from the input shape when it is not given;
      positional arguments pass over it (``Linear(8)`` is ``out_features``).
    - ``min`` / ``max`` (``exclusive_min`` / ``exclusive_max``: the value must be above ``min`` /
      below ``max``) and ``choices``: the values allowed; for a list of numbers, each one's, and
      ``length`` its number of values.
    - ``torch_name``: the name PyTorch gives it, when it differs (``T_max``).
    - ``emit``: written into generated code even when left at its default.
    """

    name: str
    kind: str
    default: object = REQUIRED
    infer: Callable[[object], object] | None = field(default=None, kw_only=True)
    min: float | None = field(default=None, kw_only=True)
    max: float | None = field(default=None, kw_only=True)
    exclusive_min: bool = field(default=False, kw_only=True)
    exclusive_max: bool = field(default=False, kw_only=True)
    length: int | None = field(default=None, kw_only=True)
    choices: tuple = field(default=(), kw_only=True)
    torch_name: str = field(default="", kw_only=True)
    emit: bool = field(default=False, kw_only=True)

    @property
    def type(self) -> str:
        """The kind, as the layer registry calls it."""
        return self.kind

    @property
    def base(self) -> str:
        """The kind without its marks: ``dims?`` gives ``dims``."""
        return self.kind.strip("*?")

    @property
    def variadic(self) -> bool:
        return self.kind.startswith("*")

    @property
    def optional(self) -> bool:
        """Whether none is one of its values."""
        return self.kind.endswith("?")

    @property
    def required(self) -> bool:
        """Whether a call must give it: no default, and nothing to infer it from."""
        return self.default is REQUIRED and self.infer is None

    @property
    def torch(self) -> str:
        """Its name in PyTorch."""
        return self.torch_name or self.name

    @property
    def shown(self) -> str:
        """The argument as a signature writes it: ``x``, ``*sizes``, ``dim=none``."""
        if self.variadic or self.default is REQUIRED:
            return "*" * self.variadic + self.name
        default = self.default
        return f"{self.name}={'none' if default is None else str(default).lower()}"

    def out_of_bounds(self, v: float, what: str) -> str | None:
        """Why the number ``v`` is not a value of this argument by its bounds, or None; an
        infinite or NaN number (``1e400`` is inf) never is. ``what`` names it in the message."""
        if isinstance(v, float) and not math.isfinite(v):
            return f"{what} must be a finite number, got {v}"
        if self.base in ("number", "numbers") and abs(v) > FLOAT32_MAX:
            return (
                f"{what} must be at most {FLOAT32_MAX:.7g} in size, the largest float32, "
                f"got {v:.4g}: torch cannot use it with float32 weights"
            )
        low = self.min is not None and (v <= self.min if self.exclusive_min else v < self.min)
        high = self.max is not None and (v >= self.max if self.exclusive_max else v > self.max)
        if not (low or high):
            return None
        lo, hi = self.min, self.max
        lower = None if lo is None else f"{'above' if self.exclusive_min else 'at least'} {lo}"
        upper = None if hi is None else f"{'below' if self.exclusive_max else 'at most'} {hi}"
        if lower and upper and not (self.exclusive_min or self.exclusive_max):
            return f"{what} must be between {lo} and {hi}, got {v}"
        return f"{what} must be {' and '.join(b for b in (lower, upper) if b)}, got {v}"


@frozen
class Problem:
    """One mistake in matching a call's arguments.

    ``at`` is the index (among the call's arguments) of the argument at fault, None when the
    mistake is one of absence (a missing argument); ``to`` the last index of a run of them (too
    many positional arguments); ``name`` the argument named (unknown, given twice or missing);
    ``first`` the index of the argument that gave it first (given twice).
    """

    code: str
    message: str
    at: int | None
    help: str | None = None
    to: int | None = None
    name: str | None = None
    first: int | None = None


@frozen
class Binding:
    """A call's arguments matched to a built-in's: ``slots`` gives, for each argument given, the
    index of the call argument that gives it (a tuple of them for a variadic one); ``problems``
    the mistakes, in the order of the call's arguments. A caller that stops at one reports
    ``problems[0]``."""

    slots: dict[str, int | tuple[int, ...]]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def bind(
    params: Sequence[ArgSpec],
    keys: Sequence[str | None],
    name: str,
    what: str | None = None,
    *,
    skip: Collection[str] = (),
    lead: int = 0,
    usage: str | None = None,
    complete: bool = True,
) -> Binding:
    """Match a call's arguments, given as their keywords in the order written (None for a
    positional one), to ``params``.

    ``name`` is the built-in's name, ``what`` how messages call it (`` `name` `` unless given).
    Positional arguments fill ``params`` minus ``skip`` in order; when there are more of them
    than the first ``lead`` parameters minus the skipped ones, they fill all of ``params`` in
    order instead (a layer's explicit form, ``Linear(2, 8)``). ``usage`` is the help for a call
    that does not fit, e.g. the signature; ``complete`` also asks for every required argument.
    """
    what = what or f"`{name}`"
    positional, first_keyword = _positional(keys)
    if first_keyword < 0:  # a positional argument after a keyword one, at -first_keyword - 1
        message = "a positional argument after a keyword argument"
        late = -first_keyword - 1
        return Binding({}, (Problem("E0104", message, late, "put the positional ones first"),))
    slots = _positional_slots(params, skip, lead, len(positional))
    taken: dict[str, int | tuple[int, ...]] = {}
    for j, p in enumerate(slots):
        if p.kind[:1] == "*":  # variadic
            taken[p.name] = tuple(positional[j:])
            break
        if j < len(positional):
            taken[p.name] = positional[j]
    if len(positional) > len(slots) and not (slots and slots[-1].variadic):
        problem = _too_many(params, slots, len(positional), what, usage)
        extra = positional[len(slots)]
        return Binding(taken, (Problem("E0104", problem[0], extra, problem[1], positional[-1]),))
    problems = []
    for i in range(first_keyword, len(keys)):
        key = keys[i]
        spec = next((p for p in params if p.name == key), None)
        if spec is None or spec.variadic:
            names = [p.name for p in params]
            listing = f"it takes {', '.join(names)}" if names else "it takes no arguments"
            hint = suggest(key, names) or usage or listing
            message = f"{what} has no argument `{key}`"
            problems.append(Problem("E0102", message, i, hint, name=key))
        elif key in taken:
            message = f"{what} got two values for `{key}`"
            first = taken[key]
            twice = Problem("E0105", message, i, "remove one of them", name=key, first=first)
            problems.append(twice)
        else:
            taken[key] = i
    if complete and not problems:
        problems += _missing(params, taken, name, what, usage)
    return Binding(taken, tuple(problems))


def _positional(keys: Sequence[str | None]) -> tuple[list[int], int]:
    """The indices of the positional arguments and that of the first keyword one (the count
    when there is none); for a positional argument after a keyword one, -1 - its index."""
    positional: list[int] = []
    first_keyword = len(keys)
    for i, k in enumerate(keys):
        if k is not None:
            first_keyword = min(first_keyword, i)
        elif i > first_keyword:
            return positional, -1 - i
        else:
            positional.append(i)
    return positional, first_keyword


def _positional_slots(
    params: Sequence[ArgSpec], skip: Collection[str], lead: int, count: int
) -> Sequence[ArgSpec]:
    """The parameters positional arguments fill, in order."""
    if not skip:
        return params
    short = [p for p in params if p.name not in skip]
    if not count:
        return short
    lead_short = [p for p in params[:lead] if p.name not in skip]
    explicit = len(lead_short) < lead and count > len(lead_short)
    return list(params) if explicit else short


def _too_many(params, slots, count: int, what: str, usage: str | None) -> tuple[str, str]:
    """(message, help) for ``count`` positional arguments where ``slots`` take them."""
    n = len(slots)
    most = "at most " if any(not p.required for p in slots) else ""
    by_position = "positional " if n < len(params) else ""
    were = "was" if count == 1 else "were"
    takes = (
        f"takes no {by_position}arguments"
        if n == 0
        else f"takes {most}{n} {by_position}argument{'s' * (n != 1)}"
    )
    return f"{what} {takes}, but {count} {were} given", usage or _by_position(params, slots)


def _by_position(params: Sequence[ArgSpec], slots: Sequence[ArgSpec]) -> str:
    if slots:
        return f"its positional parameters are: {', '.join(p.name for p in slots)}"
    if params:
        return f"give its arguments by keyword: {', '.join(p.name for p in params)}"
    return "it takes no arguments"


def _missing(params, taken: dict, name: str, what: str, usage: str | None) -> list[Problem]:
    """The first required argument the call leaves out, as a problem."""
    for p in params:
        if p.default is not REQUIRED or (p.name in taken and taken[p.name] != ()):
            continue
        needs = f"at least one of `{p.name}`" if p.variadic else f"`{p.name}`"
        hint = usage or f"write `{name}({p.name}=...)`"
        return [Problem("E0103", f"{what} needs {needs}", None, hint, name=p.name)]
    return []
