"""Every parameter and buffer of a model, known at compile time, and selectors over them.

This module owns the names torch gives a generated model's tensors: :func:`model_tensors` lists
what ``model.named_parameters()`` and then ``model.named_buffers()`` list, with the same names,
shapes and order, from the checker's summary rows (each registry entry's ``tensors`` rule, and
``param`` / ``const`` declarations). A shared (tied) module is listed once, under the name torch
keeps: where the module is registered first. Shapes are always plain ints: every block use is
checked with concrete argument values, and a size that cannot be known is already an error.

:func:`select` resolves a selector, given as its ``parts`` (``body[2].fc1`` is
``("body", 2, "fc1")``; a number may also be a string of digits), against those tensors; it
returns them in the model's order:

- ``Linear``: a capitalised layer, block or model name selects every tensor inside every module
  of that type, at any depth. More parts are a path inside each such module: ``Linear.weight``,
  ``Block1.fc1.weight``, ``MultiheadAttention.out_proj``.
- ``.bias`` (parts ``("", "bias")``): every tensor whose name ends in that name, anywhere;
  ``.weight`` takes a MultiheadAttention's ``out_proj.weight`` too.
- ``hidden``, ``hidden.weight``, ``body[2].fc1.weight``: a path of attribute names from the top
  of the model, numbers indexing repeats (a negative one counts from the end); it selects every
  tensor at or under that path.
- ``layers[0]``, ``layers[-1].weight``: the top-level layer of that index (every top-level row
  that ``nndsl check`` prints counts, parameterless ones too), then a path inside it. In a model
  with a top-level attribute called ``layers``, ``layers[0]`` is that attribute's path.

Nothing matching gives an empty tuple; :func:`explain` says why.
"""

from __future__ import annotations

import re
from dataclasses import field

from nndsl.ir import nodes as ir
from nndsl.registry.layers import REGISTRY
from nndsl.util.frozen import frozen
from nndsl.util.naming import suggest

TENSOR_ROWS = ("Parameter", "Buffer")  # rows of a custom layer's own `param` / `const`


@frozen
class ParamTensor:
    """One parameter (``trainable``) or buffer of a generated model.

    ``name`` is torch's, ``module.kind``: ``module`` is the path of the layer or custom layer
    that owns it ("" for the model's own ``param``), ``kind`` the rest (``weight``,
    ``out_proj.weight`` in a MultiheadAttention). ``types[i]`` is the type of the module at the
    first i + 1 parts of ``module``: a layer, block or model name, ``repeat N`` for a repeat, or
    ``Sequential`` for one iteration of a repeat of several layers. ``top`` indexes the top-level
    row that first uses it, ``line`` is the source line declaring it, ``model`` the model it
    belongs to (selectors read its layers).
    """

    name: str
    module: str
    kind: str
    shape: tuple[int, ...]
    trainable: bool
    types: tuple[str, ...]
    top: int
    line: int = 0
    model: ir.ModelInfo | None = field(default=None, compare=False, repr=False)


def model_tensors(info: ir.ModelInfo) -> tuple[ParamTensor, ...]:
    """The model's parameters in torch's order, then its buffers.

    >>> from nndsl.compiler import analyze
    >>> info = analyze("model M(x: [2]) { hidden = Linear(8) ReLU() out = Linear(1) }")
    >>> [(t.name, t.shape, t.top) for t in model_tensors(info.program.models[0])]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('hidden.weight', (8, 2), 0), ('hidden.bias', (8,), 0),
     ('out.weight', (1, 8), 2), ('out.bias', (1,), 2)]
    """
    found, types, ranks = _walk(info)
    owners = dict.fromkeys(entry[0] for entry in found.values())
    modules = {
        m: (tuple(types.get(p, "Sequential") for p in _prefixes(m)), _order(m, ranks))
        for m in owners
    }
    made = [
        (ParamTensor(name, m, k, s, t, modules[m][0], top, line, info), (not t, modules[m][1], own))
        for name, (m, k, s, t, own, top, line) in found.items()
    ]
    made.sort(key=lambda p: p[1])
    return tuple(p for p, _ in made)


def _walk(info: ir.ModelInfo) -> tuple[dict, dict[str, str], dict[str, int]]:
    """The rows, read once: each tensor by name (first use wins), each module's type, and its
    registration slot, all under torch's module paths."""
    found: dict[str, tuple] = {}
    types: dict[str, str] = {}
    ranks: dict[str, int] = {}
    moved: dict[str, str] = {}  # a shared module used in a repeat: its row path -> torch's
    top = -1
    for row in info.rows:
        top += row.depth == 0
        if not row.path:
            continue
        path = _moved(row.path, moved)
        if row.alias and path.rpartition(".")[2].isdigit():  # not resolved yet
            moved[path] = path = _join(_owner(path), row.alias)
        own_tensor = row.type in TENSOR_ROWS
        if not own_tensor:
            types.setdefault(path, row.type)
        ranks.setdefault(path, row.slot)
        module = path.rpartition(".")[0] if own_tensor else path
        for i, (kind, shape, trainable) in enumerate(row.tensors):
            if kind in row.tied:  # another module's parameter: listed under that module
                continue
            entry = (module, kind, tuple(shape), trainable, row.slot if own_tensor else i)
            found.setdefault(_join(module, kind), entry + (top, row.line))
    return found, types, ranks


def _join(head: str, tail: str) -> str:
    return f"{head}.{tail}" if head and tail else head or tail


def _moved(path: str, moved: dict[str, str]) -> str:
    """``path`` with any prefix that names a shared module's use replaced by torch's name."""
    for _ in range(path.count(".") + 1 if moved else 0):
        parts = path.split(".")
        heads = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
        head = next((h for h in heads if h in moved), None)
        if head is None:
            break
        path = _join(moved[head], path[len(head) + 1 :])
    return path


def _owner(path: str) -> str:
    """The class holding the repeat a row sits in: ``blk.body.2.0`` -> ``blk``.

    >>> _owner("body.2.0"), _owner("blk.body.1")
    ('', 'blk')
    """
    parts = path.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    return ".".join(parts[:-1])


def _prefixes(module: str) -> list[str]:
    parts = module.split(".") if module else []
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _order(module: str, ranks: dict[str, int]) -> tuple[int, ...]:
    """Sort key of a module: where each module on its path is registered in its parent (a
    module's own tensors come before its children's: a prefix sorts first)."""
    lasts = [p.rpartition(".")[2] for p in _prefixes(module)]
    return tuple(
        int(x) if x.isdigit() else ranks.get(p, 0) for p, x in zip(_prefixes(module), lasts)
    )


# ---- selectors --------------------------------------------------------------------------------


def select(tensors: tuple[ParamTensor, ...], parts: tuple) -> tuple[ParamTensor, ...]:
    """The tensors a selector picks, in the order given (see the module docstring).

    >>> from nndsl.compiler import analyze
    >>> info = analyze("model M(x: [2]) { hidden = Linear(8) ReLU() out = Linear(1) }")
    >>> ts = model_tensors(info.program.models[0])
    >>> [t.name for t in select(ts, ("", "bias"))], [t.name for t in select(ts, ("layers", -1))]
    (['hidden.bias', 'out.bias'], ['out.weight', 'out.bias'])
    """
    _, groups, rest = _groups(tensors, _norm(parts))
    chosen = {t.name for group in groups for t, _ in _follow(group, rest)[0]}
    return tuple(t for t in tensors if t.name in chosen)


def _norm(parts: tuple) -> tuple:
    return tuple(int(p) if isinstance(p, str) and re.fullmatch(r"-?\d+", p) else p for p in parts)


def _groups(tensors, parts: tuple) -> tuple[str, list[list], tuple]:
    """The selector's form, the groups of (tensor, name parts) the rest of it is followed in,
    and that rest."""
    if not parts:
        return "empty", [], ()
    head, pairs = parts[0], [(t, t.name.split(".")) for t in tensors]
    firsts = {c[0] for _, c in pairs}
    if head == "":
        tail = ".".join(map(str, parts[1:]))
        return "kind", [[(t, ()) for t, _ in pairs if f".{t.name}".endswith(f".{tail}")]], ()
    if head == "layers" and len(parts) > 1 and isinstance(parts[1], int) and head not in firsts:
        i = parts[1] + _layer_count(tensors) if parts[1] < 0 else parts[1]
        return "layers", [[(t, c[1:]) for t, c in pairs if t.top == i]], parts[2:]
    if isinstance(head, str) and head[:1].isupper() and head not in firsts:
        instances: dict[str, list] = {}
        for t, c in pairs:
            for i in (i for i, ty in enumerate(t.types) if ty == head):
                instances.setdefault(".".join(c[: i + 1]), []).append((t, c[i + 1 :]))
        return "type", list(instances.values()), parts[1:]
    return "path", [pairs], parts


def _layer_count(tensors) -> int:
    """How many top-level rows the tensors' model has."""
    model = tensors[0].model if tensors else None
    if model is None:
        return max((t.top for t in tensors), default=-1) + 1
    return sum(r.depth == 0 for r in model.rows)


def _follow(group: list, rest: tuple) -> tuple[list, tuple, list[str], str]:
    """Narrow (item, name parts) pairs part by part. Returns what is left and the parts followed
    (negative indices resolved); on failure the last of those is the part not found, and also
    what was there instead and what those are (``tensor`` when all are tensors' last names)."""
    done: tuple = ()
    for k, part in enumerate(rest):
        here = list(dict.fromkeys(c[k] for _, c in group if len(c) > k))
        if isinstance(part, int) and part < 0:
            part += max((int(x) for x in here if x.isdigit()), default=-1) + 1
        done += (part,)
        kept = [(t, c) for t, c in group if len(c) > k and c[k] == str(part)]
        if not kept:
            leaf = all(isinstance(t, ParamTensor) for t, c in group if len(c) == k + 1)
            leaf = leaf and all(len(c) == k + 1 for _, c in group if len(c) > k)
            return [], done, here, "tensor" if leaf else "layer or tensor"
        group = kept
    return group, done, [], ""


# ---- explanations -----------------------------------------------------------------------------


def explain(tensors: tuple[ParamTensor, ...], parts: tuple) -> str:
    """Why a selector picks none of ``tensors``, for a diagnostic's help ("" when it picks some).

    >>> from nndsl.compiler import analyze
    >>> info = analyze("model M(x: [2]) { hidden = Linear(8) ReLU() out = Linear(1) }")
    >>> ts = model_tensors(info.program.models[0])
    >>> explain(ts, ("hiden",))
    'no layer named `hiden`; did you mean `hidden`?'
    >>> explain(ts, ("Linear", "gamma"))
    '`Linear` has no tensor `gamma`; it has weight, bias'
    """
    parts = _norm(parts)
    if select(tensors, parts):
        return ""
    if not tensors or not parts:
        return "the model has no parameters or buffers" if parts else "the selector is empty"
    form, groups, rest = _groups(tensors, parts)
    model = tensors[0].model
    rows = model.rows if model is not None else ()
    what = "parameters" if all(t.trainable for t in tensors) else "parameters or buffers"
    if form == "kind":
        name = ".".join(map(str, parts[1:]))
        have = list(dict.fromkeys(t.name.rpartition(".")[2] for t in tensors))
        return f"no tensor is called `{name}`; " + (
            suggest(name, have) or _listed(have, "the model")
        )
    if form == "layers":
        return _explain_layer(tensors, parts, groups[0], rows, what)
    if form == "type":
        return _explain_type(parts, groups, {r.type for r in rows}, what)
    modules = _walk(model)[1] if rows else {}
    left, done, here, noun = _follow(groups[0] + [(p, p.split(".")) for p in modules], rest)
    if left:
        where = ".".join(map(str, done))
        return f"`{_text(done)}` ({modules.get(where, 'a repeat iteration')}) has no {what}"
    return _missing(done, here, noun, modules)


def _explain_layer(tensors, parts, group, rows, what) -> str:
    count, i = _layer_count(tensors), parts[1]
    if not -count <= i < count:
        return f"layers[{i}] is out of range: the model has {count} top-level layers"
    if group:
        _, done, here, noun = _follow(group, parts[2:])
        return _missing(("layers", i) + done, here, noun, {})
    row = [r for r in rows if r.depth == 0][i] if rows else None
    first = row and next((t.top for t in tensors if t.name.startswith(f"{row.path}.")), None)
    if row and row.path and first is not None:
        return f"layers[{i}] uses shared `{row.path}` again; its tensors are layers[{first}]"
    shown = f" (`{row.path or '-'}`, {row.type})" if row else ""
    return f"layers[{i}]{shown} has no {what}"


def _explain_type(parts, groups, present: set[str], what) -> str:
    name = parts[0]
    if groups:
        _, done, here, noun = _follow(groups[0], parts[1:])
        return _missing((name,) + done, here, noun, {})
    if name in present:
        return f"`{name}` has no {what}"
    hint = None if name in REGISTRY else suggest(name, present | set(REGISTRY))
    return f"the model has no `{name}`" + (f"; {hint}" if hint else "")


def _missing(done: tuple, here: list[str], noun: str, modules: dict[str, str]) -> str:
    """The message for a path whose last part is not found: there was ``here`` instead."""
    where, part = _text(done[:-1]), done[-1]
    if isinstance(part, int) and here and all(x.isdigit() for x in here):
        n = max(map(int, here)) + 1
        return f"`{where}` is indexed 0 to {n - 1}; {part} is out of range"
    hint = suggest(str(part), here)
    if not where:
        return f"no layer named `{part}`; " + (hint or _listed(here))
    key = ".".join(map(str, done[:-1]))
    typed = f" ({modules[key]})" if key in modules else ""
    return f"`{where}`{typed} has no {noun} `{part}`; " + (hint or _listed(here))


def _listed(names: list[str], who: str = "it") -> str:
    return f"{who} has " + ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


def _text(parts: tuple) -> str:
    """A selector as the language writes it.

    >>> _text(("body", 2, "fc1"))
    'body[2].fc1'
    """
    return "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" if i else p for i, p in enumerate(parts)
    )
