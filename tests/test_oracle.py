"""The oracle that keeps the checker honest: run each generated model for real and compare
every shape and parameter count with what the checker predicted, without torch."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch

from compiled import CASES, EXAMPLES, compile_file, concrete, expected_text, load_module, shape_text

DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64,
          "int32": torch.int32, "float16": torch.float16, "bfloat16": torch.bfloat16}  # fmt: skip


def _input(info) -> torch.Tensor:
    shape = concrete(info.input_shape)
    torch.manual_seed(0)
    if info.input_dtype.startswith("int"):
        return torch.randint(0, 2, shape, dtype=DTYPES[info.input_dtype])
    return torch.randn(shape, dtype=DTYPES[info.input_dtype])


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: p.stem)
def test_forward_matches_checker(path):
    code, program = compile_file(path)
    namespace = load_module(code, path.stem)
    assert program.models, "every example defines a model"
    for info in program.models:
        model = namespace[info.name]().eval()
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert params == info.total_params, f"{info.name}: torch counts {params}"

        seen: dict[int, list] = defaultdict(list)
        expected: dict[int, list] = defaultdict(list)
        hooked = set()
        for row in info.rows:
            if not row.path:
                continue
            module = model.get_submodule(row.path)
            expected[id(module)].append((row.path, expected_text(row.shape)))
            if id(module) not in hooked:
                hooked.add(id(module))
                module.register_forward_hook(
                    lambda m, a, out, key=id(module): seen[key].append(
                        shape_text(tuple((out[0] if isinstance(out, tuple) else out).shape))
                    )
                )
        with torch.no_grad():
            out = model(_input(info))
        assert shape_text(tuple(out.shape)) == expected_text(
            "(" + ", ".join(str(d) for d in info.output_shape) + ")"
        )
        assert out.dtype == DTYPES.get(info.output_dtype, out.dtype)
        for key, rows in expected.items():
            assert seen[key] == [shape for _, shape in rows], rows
