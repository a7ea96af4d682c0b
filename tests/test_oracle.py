"""The oracle that keeps the checker honest: run each generated model for real and compare
every shape and parameter count with what the checker predicted, without torch."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch
from compiled import (
    BUILT,
    CASES,
    compile_file,
    concrete,
    expected_text,
    load_module,
    shape_text,
    structure_text,
    uncounted,
)

DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64,
          "int32": torch.int32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "bool": torch.bool}  # fmt: skip


def _input(t):
    shape = concrete(t.shape)
    if t.dtype == "bool":
        return torch.rand(shape) > 0.5
    if t.dtype.startswith("int"):
        return torch.randint(0, 2, shape, dtype=DTYPES[t.dtype])
    return torch.randn(shape, dtype=DTYPES[t.dtype])


def _inputs(info) -> list:
    """Random tensors for the model's inputs; an optional input gets None."""
    torch.manual_seed(0)
    return [None if t.optional else _input(t) for t in info.inputs]


def _type_text(t) -> str:
    if isinstance(t, tuple):
        return "(" + ", ".join(_type_text(x) for x in t) + ")"
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def _dtypes_match(out, t) -> bool:
    if isinstance(t, tuple):
        return all(_dtypes_match(o, x) for o, x in zip(out, t))
    return out.dtype == DTYPES.get(t.dtype, out.dtype)


def _recorder(into: list):
    """A forward hook that records the structure of each output into ``into``."""

    def hook(module, args, out):
        first = structure_text(out[0]) if isinstance(out, tuple) else ""
        into.append((structure_text(out), first))

    return hook


@pytest.mark.parametrize("path", BUILT + CASES, ids=lambda p: p.stem)
def test_forward_matches_checker(path):
    code, program = compile_file(path)
    namespace = load_module(code, path.stem, path.parent)
    assert program.models, "every example defines a model"
    for info in program.models:
        model = namespace[info.name]().eval()
        outside = uncounted(model, info)
        params = sum(
            p.numel() for p in model.parameters() if p.requires_grad and id(p) not in outside
        )
        assert params == info.total_params, f"{info.name}: torch counts {params}"

        seen: dict[int, list] = defaultdict(list)
        expected: dict[int, list] = defaultdict(list)
        hooked = set()
        for row in info.rows:
            if not row.path:
                continue
            if row.type in ("Parameter", "Buffer"):
                get = model.get_parameter if row.type == "Parameter" else model.get_buffer
                assert shape_text(tuple(get(row.path).shape)) == expected_text(row.shape_text)
                continue
            module = model.get_submodule(row.path)
            if isinstance(module, torch.nn.ModuleList):  # never called: its layers are
                continue
            expected[id(module)].append((row.path, expected_text(row.shape_text)))
            if id(module) not in hooked:
                hooked.add(id(module))
                module.register_forward_hook(_recorder(seen[id(module)]))
        with torch.no_grad():
            out = model(*_inputs(info))
        assert structure_text(out) == expected_text(_type_text(info.returns))
        assert _dtypes_match(out, info.returns)
        for key, rows in expected.items():
            got = seen[key]
            assert len(got) == len(rows), rows
            for (whole, first), (path, shape) in zip(got, rows):
                assert shape in (whole, first), (path, shape, whole)
