"""The structured values of a ``train`` section (:mod:`nndsl.ir.training`) written as Python.

Scalars are written as literals (``0.001``, ``-1.5``, ``"fan_out"``, ``float("inf")``), a
one-item tuple with its trailing comma, a number the source wrote as it was written.
"""

from __future__ import annotations

from nndsl.codegen.expr import write
from nndsl.codegen.text import string_safe
from nndsl.ir import expr as x
from nndsl.ir import training as tr


def value_code(v: object) -> str:
    """A value as Python.

    >>> value_code(tr.Seq((0.8, tr.Seq((1,)))))
    '(0.8, (1,))'
    >>> one = tr.Number(0.001, x.Lit(0.001, "1e-3"))
    >>> value_code(tr.Seq((one, -2), "list")), value_code(tr.Ref("cfg.lr"))
    ('[1e-3, -2]', 'cfg.lr')
    """
    if isinstance(v, tr.Ref):
        return v.name
    if isinstance(v, tr.Number):
        return write(v.expr)
    if isinstance(v, tr.Seq):
        inner = ", ".join(value_code(x) for x in v.items)
        if v.kind == "list":
            return f"[{inner}]"
        return f"({inner},)" if len(v.items) == 1 else f"({inner})"
    return write(x.constant(v))


def args_code(args: tuple[tr.Arg, ...]) -> str:
    """``w, 0, 0.01`` or ``lr=cfg.lr, betas=(0.85, 0.995)``."""
    return ", ".join(
        value_code(a.value) if a.name is None else f"{a.name}={value_code(a.value)}" for a in args
    )


def call_code(call: tr.Call) -> str:
    """``nn.HuberLoss(delta=0.5)``."""
    return f"{call.target}({args_code(call.args)})"


def options_code(options: tuple[tr.Arg, ...]) -> str:
    """An optimizer group's options as the items of a dict: ``"eps": 1e-06, "amsgrad": True``."""
    return ", ".join(f'"{a.name}": {value_code(a.value)}' for a in options)


def feed_code(feed: tr.Feed) -> str:
    """``x``, ``x.float()``, ``y.long()``, ``x.to(torch.bfloat16)``."""
    if feed.dtype is None:
        return feed.tensor
    method = {"float32": "float()", "int64": "long()"}.get(feed.dtype, f"to(torch.{feed.dtype})")
    return f"{feed.tensor}.{method}"


CLIP_FUNCTIONS = {"norm": "nn.utils.clip_grad_norm_"}


def init_from_lines(start: tr.InitFrom) -> list[str]:
    """The lines of ``main`` that load the weights training starts from."""
    rules = ", ".join(
        f'"{string_safe(a)}": ' + ("None" if b is None else f'"{string_safe(b)}"')
        for a, b in start.maps
    )
    args = ["model", "Path(__file__).resolve().parent / cfg.data_dir / cfg.init_from"]
    if rules:
        args.append(f"rename={{{rules}}}")
    if start.partial:
        args.append("partial=True")
    fresh = ", ".join(start.fresh[:3]) + (", ..." if len(start.fresh) > 3 else "")
    kept = f"; {fresh} start afresh" if start.fresh else ""
    return [
        f"# the weights training starts from (--init-from){kept}",
        f"kit.init_from({', '.join(args)})",
    ]
