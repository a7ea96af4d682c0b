"""``init from "base.safetensors" partial { "out.*" -> none }``: the weights a training starts
from, checked against the model before any torch runs.

The file's header is read at compile time (a ``.safetensors`` header is JSON; a ``.pt``
state_dict is read by the same torch-free unpickler as ``.pt`` data files). Its keys are
renamed by the rules in braces (``"layer1.*" -> "body.0.*"``; ``-> none`` leaves keys out),
then every key must name a parameter or buffer of the model with the same shape, and every
tensor of the model must be in the file, unless ``partial`` says that the ones it lacks keep
their initialisation. Each mismatch is E0424 with the names and shapes involved.
"""

from __future__ import annotations

from nndsl.check.parameters import model_tensors
from nndsl.datafiles.common import DataFileError
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import training as tr
from nndsl.ir.shapes import fmt_shape
from nndsl.lang import syntax as s
from nndsl.util.naming import suggest

SUFFIXES = (".safetensors", ".pt", ".pth")
SHOWN = 4  # names listed in a message before "and N more"


def init_from(b, st: s.InitFrom) -> tr.InitFrom:
    """The checked ``init from``: which of the model's tensors the file sets."""
    from nndsl.datafiles.inspect import inspect_pt, inspect_safetensors

    error = b.r._error
    if not st.path.lower().endswith(SUFFIXES):
        error(
            "E0424",
            f"`init from` reads a .safetensors file or a .pt state_dict, not {st.path!r}",
            st.path_span,
            help="save the weights with safetensors' save_file, or torch.save(model.state_dict())",
        )
        raise Reported
    reader = inspect_safetensors if st.path.lower().endswith(".safetensors") else inspect_pt
    try:
        found = reader(st.path, getattr(b.r, "base", None))
    except DataFileError as err:
        error("E0424", err.message, st.path_span, help=err.help)
        raise Reported from None
    if not isinstance(found, dict):
        error("E0424", f"{st.path} holds one tensor, not a state_dict", st.path_span)
        raise Reported
    file_keys = {k: tuple(a.shape) for k, a in found.items()}
    renamed = _renamed(b, st, file_keys)
    model = {t.name: tuple(t.shape) for t in model_tensors(b.model)}
    _fits(b, st, renamed, model)
    loaded = tuple(k for k in model if k in renamed)
    fresh = tuple(k for k in model if k not in renamed)
    if fresh and not st.partial:
        error(
            "E0424",
            f"{st.path} has no weights for {_listed(fresh)} of `{b.model.name}`",
            st.path_span,
            help="add `partial` after the file name to keep their initialisation"
            + ("" if st.maps else ', or rename the file\'s keys: `{ "old.*" -> "new.*" }`'),
        )
        raise Reported
    maps = tuple((m.source, m.target) for m in st.maps)
    return tr.InitFrom(st.path, maps, st.partial, loaded, fresh)


def _renamed(b, st: s.InitFrom, keys: dict) -> dict[str, tuple]:
    """The file's keys after the rules, each key by the first rule that matches it."""
    for m in st.maps:
        stars = m.source.count("*")
        if stars > 1 or (m.target is not None and m.target.count("*") != stars):
            b.r._error(
                "E0424",
                "a key rule has one `*` on each side, or none on either",
                m.span,
                help='e.g. `"layer1.*" -> "body.0.*"`, or `"head.*" -> none`',
            )
            raise Reported
    out: dict[str, tuple] = {}
    used = set()
    for key, shape in keys.items():
        for i, m in enumerate(st.maps):
            new = _apply(m, key)
            if new is not False:
                used.add(i)
                if new is not None:
                    out[new] = shape
                break
        else:
            out[key] = shape
    for i, m in enumerate(st.maps):
        if i not in used:
            b.r._error(
                "E0424",
                f"no key of {st.path} matches {m.source!r}",
                m.span,
                help=suggest(m.source, keys) or f"its keys: {_listed(tuple(keys))}",
            )
            raise Reported
    return out


def _apply(m: s.KeyMap, key: str):
    """The new name of ``key`` under the rule (None: left out), or False when it does not
    match."""
    if "*" not in m.source:
        return m.target if key == m.source else False
    head, tail = m.source.split("*")
    if not (key.startswith(head) and key.endswith(tail) and len(key) >= len(head) + len(tail)):
        return False
    if m.target is None:
        return None
    middle = key[len(head) : len(key) - len(tail)]
    return m.target.replace("*", middle)


def _fits(b, st: s.InitFrom, renamed: dict, model: dict) -> None:
    extra = [k for k in renamed if k not in model]
    if extra:
        b.r._error(
            "E0424",
            f"{st.path} has {_listed(tuple(extra))}, which `{b.model.name}` does not",
            st.path_span,
            help=f"its tensors: {_listed(tuple(model))}; leave the others out with "
            f'`{{ "{_pattern(extra[0])}" -> none }}`',
        )
        raise Reported
    for key in model:
        shape = renamed.get(key, model[key])
        if model[key] != shape:
            b.r._error(
                "E0424",
                f"{st.path} holds `{key}` as {fmt_shape(shape)}, but `{b.model.name}` has it "
                f"as {fmt_shape(model[key])}",
                st.path_span,
                labels=tuple(Label(m.span, "renamed here") for m in st.maps[:1]),
                help=f'leave it out: `{{ "{key}" -> none }}`, and add `partial`',
            )
            raise Reported


def _pattern(key: str) -> str:
    return key.rsplit(".", 1)[0] + ".*" if "." in key else key


def _listed(names: tuple) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:SHOWN])
    more = len(names) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")
