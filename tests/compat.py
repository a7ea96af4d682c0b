"""What a program's models mean, as facts that do not depend on how the code is laid out: each
model's state_dict keys and shapes, its trainable parameter count, and what it returns in eval
mode for fixed weights (each tensor filled from a seed made of its key) and fixed inputs.

tests/compat/ holds the examples and test cases of release 0.1.0 and the facts that release's
compiler gave for them (facts.json); tests/test_compat.py holds today's compiler to them. To
write facts.json again from a checkout of that release (``git worktree add --detach <dir>
dd0eccf``), run this file with that checkout first on the path:

    PYTHONPATH=<dir> python tests/compat.py > tests/compat/facts.json
"""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
COMPAT = HERE / "compat"
BATCH, SYMBOL = 2, 5  # the batch and every symbolic size (T) of the inputs
SHOWN = 6  # output values recorded per output, besides their sum and absolute sum

_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}


def programs() -> list[Path]:
    """The .nn files of the release, examples and test cases."""
    return sorted(COMPAT.glob("*/*.nn"))


def base_of(path: Path) -> Path:
    """The folder an old program's data paths are read from: the examples' data is today's."""
    return HERE.parent / "examples" if path.parent.name == "examples" else path.parent


def program_facts(path: Path) -> dict:
    """The facts of every model of one program, by model name."""
    from nndsl.compiler import analyze, generate

    result = analyze(path.read_text(encoding="utf-8"), base_of(path))
    if not result.ok:
        return {"error": sorted({d.code for d in result.diagnostics if d.severity == "error"})}
    namespace: dict = {"__name__": "compat_model"}
    exec(compile(generate(result.program, "model.py"), "<compat>", "exec"), namespace)
    return {info.name: model_facts(namespace[info.name], info) for info in result.program.models}


def model_facts(cls, info) -> dict:
    model = cls().eval()
    state = model.state_dict()
    with torch.no_grad():
        for key, tensor in state.items():
            tensor.copy_(_filled(key, tensor))
        out = model(*_inputs(info))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return {
        "keys": {k: _shape_text(v.shape) for k, v in state.items()},
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "outputs": [_summary(o) for o in outs],
    }


def _filled(key: str, tensor: torch.Tensor) -> torch.Tensor:
    """Values for one state_dict entry from a seed of its key: small normals for weights,
    positive ones for variances, 0 for counters."""
    if not tensor.dtype.is_floating_point:
        return torch.zeros_like(tensor)
    g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    values = torch.randn(tensor.shape, generator=g, dtype=torch.float64) * 0.3
    if key.endswith("running_var"):
        values = values.abs() + 0.5
    return values.to(tensor.dtype)


def _inputs(info) -> list:
    g = torch.Generator().manual_seed(0)
    out = []
    for t in info.inputs:
        shape = tuple(
            BATCH if d == "B" else SYMBOL if isinstance(d, str) else int(d) for d in t.shape
        )
        dtype = _DTYPES[t.dtype]
        if t.optional:
            out.append(None)
        elif dtype == torch.bool:
            out.append(torch.rand(shape, generator=g) > 0.5)
        elif not dtype.is_floating_point:  # ids: small, in range of any Embedding
            out.append(torch.randint(0, 2, shape, generator=g, dtype=dtype))
        else:
            out.append(torch.randn(shape, generator=g, dtype=torch.float64).to(dtype))
    return out


def _summary(out) -> dict | None:
    if out is None:
        return None
    flat = out.detach().double().flatten()
    return {
        "shape": _shape_text(out.shape),
        "dtype": str(out.dtype).removeprefix("torch."),
        "sum": flat.sum().item(),
        "abs_sum": flat.abs().sum().item(),
        "first": " ".join(f"{v:.6g}" for v in flat[:SHOWN].tolist()),
    }


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def all_facts() -> dict:
    return {f"{p.parent.name}/{p.name}": program_facts(p) for p in programs()}


if __name__ == "__main__":
    import nndsl

    print(f"facts from {nndsl.__file__}", file=sys.stderr)
    torch.manual_seed(0)
    json.dump(all_facts(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
