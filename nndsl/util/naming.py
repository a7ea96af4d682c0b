"""The one naming service: every identifier in generated code is legal, unique and shadows nothing.

User names are kept as written when they are safe. Names that would break the generated code
(keywords, dunders, the names generated code itself relies on) are refused with a reason; local
names that would only shadow a builtin are renamed with a trailing underscore.
"""

from __future__ import annotations

import builtins
import keyword
import re
from functools import lru_cache

# Names the generated module itself binds or relies on.
MODULE_NAMES = frozenset({"self", "torch", "nn", "F", "math", "super", "checked_shape"})

# Attributes and methods of torch.nn.Module, which a layer attribute must not replace.
MODULE_MEMBERS = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu
    cuda double dump_patches eval extra_repr float forward get_buffer get_extra_state
    get_parameter get_submodule half ipu load_state_dict modules mtia named_buffers
    named_children named_modules named_parameters parameters register_backward_hook
    register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train
    training type xpu zero_grad""".split()
)

_BUILTINS = frozenset(dir(builtins))


def problem(name: str, role: str) -> str | None:
    """Why ``name`` cannot be used in ``role`` (``attribute``, ``local`` or ``class``), or None.

    >>> problem("class", "attribute")
    '`class` is a Python keyword'
    >>> problem("forward", "attribute")
    '`forward` is a method of nn.Module and would be replaced'
    >>> problem("hidden", "attribute") is None
    True
    """
    if keyword.iskeyword(name):
        return f"`{name}` is a Python keyword"
    if name.startswith("__") and name.endswith("__"):
        return f"`{name}` is a dunder name, reserved by Python"
    if name in MODULE_NAMES:
        return f"`{name}` is a name the generated code relies on"
    if role == "attribute" and (name in MODULE_MEMBERS or name.startswith("_")):
        if name.startswith("_") and name not in MODULE_MEMBERS:
            return f"`{name}` starts with `_`, which nn.Module keeps for its own state"
        return f"`{name}` is a method of nn.Module and would be replaced"
    if role == "class" and (name in _BUILTINS or keyword.issoftkeyword(name)):
        return f"`{name}` is a Python builtin"
    return None


def local(name: str) -> str:
    """A safe local-variable spelling of a user name (already free of :func:`problem`).

    >>> local("input"), local("x"), local("match")
    ('input_', 'x', 'match_')
    """
    if name in _BUILTINS or keyword.issoftkeyword(name):
        return name + "_"
    return name


@lru_cache(maxsize=1024)
def snake(name: str) -> str:
    """``Block1`` -> ``block1``, ``ResBlock`` -> ``res_block``.

    >>> snake("ResBlock"), snake("MLP"), snake("Block1")
    ('res_block', 'mlp', 'block1')
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Namespace:
    """Hands out unique attribute names within one generated class, deterministically."""

    def __init__(self, taken: set[str]):
        self._taken = set(taken)
        self._counters: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        """``fc1``, ``fc2``...; a base ending in a digit gets ``_``: ``block1_1``."""
        sep = "_" if base[-1].isdigit() else ""
        n = self._counters.get(base, 0)
        while True:
            n += 1
            name = f"{base}{sep}{n}"
            if name not in self._taken:
                self._counters[base] = n
                self._taken.add(name)
                return name

    def unique(self, base: str) -> str:
        """``base`` itself when free, else ``base2``, ``base3``..."""
        name, n = base, 1
        while name in self._taken:
            n += 1
            name = f"{base}{n}"
        self._taken.add(name)
        return name

    def for_layer(self, type_name: str, prefix: str = "") -> str:
        """A fresh attribute for a module: ``prefix`` (a layer's, from its registry entry)
        numbered, or the snake-case type name (a block's)."""
        return self.fresh(prefix or snake(type_name))


class Suggestion(str):
    """The text of a ``did you mean`` hint that also carries the misspelt name (``typo``) and
    the name it suggests: a diagnostic whose help it is rewrites the one as the other where its
    span starts with it (:func:`nndsl.diagnostics.core.with_fixes`)."""

    name: str
    typo: str

    def __new__(cls, text: str, name: str, typo: str):
        self = super().__new__(cls, text)
        self.name, self.typo = name, typo
        return self

    def __getnewargs__(self):
        return (str(self), self.name, self.typo)


def suggest(name: str, candidates) -> Suggestion | None:
    """A ``did you mean`` hint for a misspelt name.

    >>> suggest("Conv2D", ["Conv1d", "Conv2d", "Linear"])
    'did you mean `Conv2d`?'
    >>> suggest("Conv2D", ["Conv2d"]).name
    'Conv2d'
    """
    pool = list(candidates)
    folded = {c.lower(): c for c in pool}
    match = folded.get(name.lower())
    if match is None:
        import difflib  # only for a misspelt name: not imported at every start

        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        match = close[0] if close else None
    return Suggestion(f"did you mean `{match}`?", match, name) if match else None
