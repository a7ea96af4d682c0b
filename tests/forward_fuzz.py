"""A third fuzz generator: random forwards of shape-changing tensor code (reshapes, views of
dims, indexing, broadcasting operators, reductions, joins, conversions and Linear layers),
drawn from a seed. Each program returns every tensor it computes, so that running it checks
the checker's shape and dtype of each statement, not only the last.

The generator keeps the true shapes beside the text (torch on the meta device, at one batch
size) and mostly draws what torch accepts there, sometimes what it does not; the checker may
refuse either (for instance a reshape that fits this batch only). What it accepts must run at
every batch size and symbolic size with exactly the predicted shapes and dtypes:
:func:`check_forward` runs it at two of each.
"""

from __future__ import annotations

import math
import random

import torch
from compiled import load_module
from fuzzing import Finding, check_source, generated_sources

GEN_BATCH, GEN_T = 3, 5  # the sizes the generator's own shapes are at
RUN_SIZES = ((3, 5), (2, 7), (4, 3))  # (B, T) the accepted programs run at
SIZES = (1, 2, 3, 4, 6, 8)
MAX_ELEMENTS = 4096  # per sample: larger values are not drawn
_DTYPES = {
    torch.float32: "float32",
    torch.int64: "int64",
    torch.bool: "bool",
    torch.float64: "float64",
    torch.int32: "int32",
}


class _Forward:
    """One program being drawn: its statements and the meta tensor of each name."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.env: dict[str, torch.Tensor] = {}
        self.lines: list[str] = []
        self.layers: list[str] = []
        self.widths: dict[str, int] = {}
        self.symbolic = rng.random() < 0.3
        self.sizes = {"B": GEN_BATCH, "T": GEN_T}

    # ---- the inputs ----------------------------------------------------------------------

    def inputs(self) -> list[str]:
        out = []
        for name in ("x", "m")[: self.rng.choice((1, 1, 2))]:
            dims = [self.rng.choice(SIZES) for _ in range(self.rng.randint(1, 3))]
            text = [str(d) for d in dims]
            if self.symbolic and name == "x":
                text[0], dims[0] = "T", GEN_T
            self.env[name] = torch.empty((GEN_BATCH, *dims), device="meta")
            out.append(f"{name}: [{', '.join(text)}]")
        return out

    # ---- the statements ------------------------------------------------------------------

    def tensor(self) -> str:
        """A name to operate on: usually one of the newest."""
        names = list(self.env)
        return names[-1] if self.rng.random() < 0.5 else self.rng.choice(names)

    def dim(self, t: torch.Tensor, extra: int = 0) -> int:
        rank = t.dim() + extra
        return self.rng.randrange(-rank, rank) if rank else 0

    def statement(self) -> None:
        """One assignment, kept where torch gives a value of a sensible size (and sometimes
        kept where torch refuses it: the checker must refuse it too)."""
        for _ in range(8):
            name = self.tensor()
            text = self.rng.choice(_DRAWS)(self, name)
            if text is None:
                continue
            try:
                value = _meta(text, self.env, self.sizes, self.widths)
            except Exception:  # torch refuses it (any error torch raises)
                if self.rng.random() < 0.1:
                    self._add(text, None)
                    return
                continue
            if isinstance(value, torch.Tensor) and value.numel() <= GEN_BATCH * MAX_ELEMENTS:
                self._add(text, value)
                return

    def _add(self, text: str, value) -> None:
        name = f"t{len(self.lines)}"
        self.lines.append(f"{name} = {text}")
        if value is not None:
            self.env[name] = value

    def layer(self, name: str) -> str | None:
        t = self.env[name]
        if t.dim() < 2 or not t.dtype.is_floating_point:
            return None
        layer = f"fc{len(self.layers)}"
        self.widths[layer] = self.rng.choice(SIZES)
        self.layers.append(f"{layer} = Linear({self.widths[layer]})")
        return f"{layer}({name})"


def _reshape(f: _Forward, name: str) -> str:
    t = f.env[name]
    per_sample = math.prod(t.shape[1:]) if t.dim() else 1
    sizes = _factors(per_sample, f.rng)
    if f.rng.random() < 0.15:  # a size that does not divide
        sizes[f.rng.randrange(len(sizes))] += 1
    lead = "B" if f.rng.random() < 0.3 else "-1"
    if f.rng.random() < 0.1:
        lead = str(GEN_BATCH)  # fits this batch only
    return f"reshape({name}, {', '.join([lead, *map(str, sizes)])})"


def _factors(n: int, rng: random.Random) -> list[int]:
    out = []
    for _ in range(rng.randint(0, 2)):
        divisors = [d for d in range(2, n + 1) if n % d == 0]
        if not divisors:
            break
        d = rng.choice(divisors)
        out.append(d)
        n //= d
    return [*out, n] if n > 1 or not out else out


def _permute(f: _Forward, name: str) -> str | None:
    rank = f.env[name].dim()
    if rank < 2:
        return None
    order = list(range(rank))
    f.rng.shuffle(order)
    return f"permute({name}, {', '.join(map(str, order))})"


def _transpose(f: _Forward, name: str) -> str:
    t = f.env[name]
    return f"transpose({name}, {f.dim(t)}, {f.dim(t)})"


def _flatten(f: _Forward, name: str) -> str:
    return f"flatten({name}, {f.dim(f.env[name])})"


def _squeeze(f: _Forward, name: str) -> str:
    t = f.env[name]
    ones = [i for i, n in enumerate(t.shape) if n == 1]
    if f.rng.random() < 0.5:
        return f"unsqueeze({name}, {f.dim(t, extra=1)})"
    return f"squeeze({name}, {f.rng.choice(ones) if ones else f.dim(t)})"


def _index(f: _Forward, name: str) -> str | None:
    t = f.env[name]
    if t.dim() < 2 or 0 in t.shape:
        return None
    n = t.shape[-1]
    item = f.rng.choice(
        [f"{f.rng.randrange(-n, n)}", f"{f.rng.randrange(n)}:", f":{f.rng.randint(1, n)}", "none"]
    )
    if f.rng.random() < 0.5:
        return f"{name}[..., {item}]"
    m = t.shape[1]
    return f"{name}[:, {f.rng.choice([str(f.rng.randrange(m)), '1:', 'none', ':'])}]"


def _operator(f: _Forward, name: str) -> str:
    op = f.rng.choice(["+", "-", "*", "/", "*", "+", "<", "==", "@"])
    other = f.rng.choice(list(f.env))
    if f.rng.random() < 0.3:
        other = f.rng.choice(["2", "0.5", "1"])
    elif f.rng.random() < 0.3:  # a reduced copy of itself: broadcasts against it
        other = f"sum({name}, dim={f.dim(f.env[name])}, keepdim=true)"
    return f"{name} {op} {other}"


def _reduce(f: _Forward, name: str) -> str:
    fn = f.rng.choice(["sum", "mean", "amax", "amin", "prod", "argmax", "max", "min"])
    t = f.env[name]
    if f.rng.random() < 0.15:
        return f"{fn}({name})"
    keep = f.rng.choice(["", ", keepdim=true", ", keepdim=false"])
    return f"{fn}({name}, dim={f.dim(t)}{keep})"


def _elementwise(f: _Forward, name: str) -> str:
    fn = f.rng.choice(["relu", "exp", "abs", "sigmoid", "tanh", "float", "long", "softmax"])
    if fn == "softmax":
        return f"softmax({name}, dim={f.dim(f.env[name])})"
    if f.rng.random() < 0.2:
        return f"clamp({name}, min=0)"
    return f"{fn}({name})"


def _join(f: _Forward, name: str) -> str:
    other = f.rng.choice([name, *f.env])
    fn = f.rng.choice(["cat", "stack"])
    extra = 1 if fn == "stack" else 0
    return f"{fn}([{name}, {other}], dim={f.dim(f.env[name], extra)})"


def _where(f: _Forward, name: str) -> str:
    other = f.rng.choice(list(f.env))
    return f"where({name} > 0, {name}, {other})"


_DRAWS = (
    _reshape,
    _reshape,
    _permute,
    _transpose,
    _flatten,
    _squeeze,
    _index,
    _index,
    _operator,
    _operator,
    _reduce,
    _reduce,
    _elementwise,
    _join,
    _where,
    _Forward.layer,
)

# ---- the generated text, evaluated by torch at the generator's sizes -------------------------

_TORCH = {
    "reshape": lambda t, *s: t.reshape(*s),
    "permute": lambda t, *d: t.permute(*d),
    "transpose": torch.transpose,
    "flatten": torch.flatten,
    "squeeze": torch.squeeze,
    "unsqueeze": torch.unsqueeze,
    "sum": torch.sum,
    "mean": torch.mean,
    "amax": torch.amax,
    "amin": torch.amin,
    "prod": torch.prod,
    "argmax": torch.argmax,
    "max": torch.amax,
    "min": torch.amin,
    "relu": torch.relu,
    "exp": torch.exp,
    "abs": torch.abs,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "float": lambda t: t.float(),
    "long": lambda t: t.long(),
    "softmax": torch.softmax,
    "clamp": torch.clamp,
    "cat": torch.cat,
    "stack": torch.stack,
    "where": torch.where,
}


def _meta(text: str, env: dict, sizes: dict, widths: dict):
    """What torch makes of one right-hand side at the generator's sizes (each Linear layer as
    a product with a weight of its width)."""
    python = text.replace("none", "None").replace("true", "True").replace("false", "False")
    layers = {name: _linear(width) for name, width in widths.items()}
    return eval(compile(python, "<draw>", "eval"), {**_TORCH, **env, **sizes, **layers})


def _linear(width: int):
    def call(t: torch.Tensor) -> torch.Tensor:
        return t @ torch.empty(t.shape[-1], width, device="meta", dtype=t.dtype)

    return call


def forward_program(seed: int) -> str:
    """A model whose forward does random tensor work on its inputs, from ``seed``."""
    f = _Forward(random.Random(seed))
    inputs = f.inputs()
    for _ in range(f.rng.randint(1, 6)):
        f.statement()
    made = [line.split(" = ")[0] for line in f.lines] or ["x"]
    body = [*(f"    {layer}" for layer in f.layers), "    forward {"]
    body += [f"        {line}" for line in f.lines]
    body += [f"        return {', '.join(made)}", "    }"]
    return "\n".join([f"model Fuzzed({', '.join(inputs)}) {{", *body, "}", ""])


def check_forward(text: str, unknown: list | None = None) -> bool:
    """Hold one drawn program to the checker's promises (:func:`fuzzing.check_source`), then
    run an accepted one at several batch and symbolic sizes: every returned tensor must have
    the predicted shape and dtype (a dim the checker calls unknown, ``?``, is noted in
    ``unknown`` and matches any size). Whether it was accepted."""
    result = check_source(text, run_models=False)
    if not result.ok:
        return False
    run_forward(generated_sources(result)["model.py"], result.program, unknown)
    return True


def run_forward(code: str, program, unknown: list | None = None) -> int:
    """Run the drawn model of an accepted ``program`` (``code``, its model file) at each of
    :data:`RUN_SIZES`; raises :class:`~fuzzing.Finding` where torch disagrees with the checker.
    Returns 1, the models run."""
    (info,) = program.models
    model = load_module(code, "forward")["Fuzzed"]().eval()
    params = sum(p.numel() for p in model.parameters())
    if params != info.total_params:
        raise Finding(f"torch counts {params} parameters, the checker {info.total_params}")
    for batch, t in RUN_SIZES:
        sizes = {"B": batch, "T": t}
        inputs = [torch.randn(tuple(_sized(d, sizes) for d in i.shape)) for i in info.inputs]
        with torch.no_grad():
            out = model(*inputs)
        out = out if isinstance(out, tuple) else (out,)
        want = info.returns if isinstance(info.returns, tuple) else (info.returns,)
        for k, (got, typed) in enumerate(zip(out, want, strict=True)):
            shape = tuple(_sized(d, sizes) for d in typed.shape)
            if None in shape and unknown is not None:
                unknown.append((k, typed.shape))
            fits = all(w is None or g == w for g, w in zip(got.shape, shape, strict=False))
            if len(got.shape) != len(shape) or not fits or _DTYPES.get(got.dtype) != typed.dtype:
                raise Finding(
                    f"output {k} at B={batch}, T={t}: torch gives {tuple(got.shape)} "
                    f"{got.dtype}, the checker predicted {typed.shape} {typed.dtype}"
                )
    return 1


def _sized(dim, sizes: dict) -> int:
    """A checker's dim (an int, a symbol, or a formula of symbols such as ``T * 2``) at
    ``sizes``."""
    if dim is None or isinstance(dim, int):
        return dim
    return int(eval(compile(str(dim), "<dim>", "eval"), {"__builtins__": {}}, dict(sizes)))
