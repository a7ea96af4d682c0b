"""Test helpers: compile .nn sources and run the generated modules against the checker."""

from __future__ import annotations

import re
from pathlib import Path

from nndsl.compiler import analyze, generate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
# Examples whose full size is for a cluster (billions of parameters): the tests compile, check
# and plan them but never build their models; test_fsdp.py trains one at a reduced size.
UNBUILT = {"sharded_gpt.nn"}
BUILT = [p for p in EXAMPLES if p.name not in UNBUILT]  # the examples tests may instantiate


def shapes_only(path: Path):
    """Where a test that reads only the names and shapes of tensors builds the models of
    `path`: on the meta device (no memory) for the UNBUILT examples, else as usual."""
    import contextlib

    import torch

    return torch.device("meta") if path.name in UNBUILT else contextlib.nullcontext()


CASES = sorted((ROOT / "tests" / "cases").glob("*.nn"))
GOLDEN = ROOT / "tests" / "golden"
SYMBOL_SIZE = 5  # the size given to a symbolic dim such as T in a real forward pass
BATCH = 3


# A small regression model and its data, for tests that write the train section themselves.
NET_AND_PAIRS = """
model Net(x: [2]) {
    hidden = Linear(8)
    ReLU()
    out = Linear(1)
}

data pairs {
    x = [[1, 2], [3, 4], [5, 6], [7, 8]]
    y = [[3], [7], [11], [15]]
    batch 2
}
"""


def compile_file(path: Path):
    """(generated code, checked program) for a source file that must compile."""
    result = analyze(path.read_text(encoding="utf-8"), path.parent)
    assert result.ok, [d.message for d in result.diagnostics]
    return generate(result.program, path.name), result.program


def concrete(shape: tuple) -> tuple[int, ...]:
    return tuple(
        BATCH if d == "B" else SYMBOL_SIZE if isinstance(d, str) else int(d) for d in shape
    )


def shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def expected_text(text: str) -> str:
    """A checker shape string (possibly a nested tuple of shapes) with B and other symbols
    replaced by the sizes the oracle uses."""
    sized = re.sub(
        r"\b[A-Za-z_]\w*\b", lambda m: str(BATCH if m.group(0) == "B" else SYMBOL_SIZE), text
    )
    while True:  # multiply out merged sizes such as (5 * 6) * 2
        done = re.sub(r"\d+(?: \* \d+)+", lambda m: str(_product(m.group(0))), sized)
        done = re.sub(r"\((\d+)\)(?= \* )|(?<= \* )\((\d+)\)", lambda m: m[1] or m[2], done)
        if done == sized:
            return done
        sized = done


def _product(text: str) -> int:
    value = 1
    for factor in re.findall(r"\d+", text):
        value *= int(factor)
    return value


def structure_text(value) -> str:
    """What a forward returned, written as the checker writes types: ``((3, 1), (1, 3, 32))``."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(structure_text(v) for v in value) + ")"
    if value is None:
        return "None"
    return shape_text(tuple(value.shape))


def load_module(code: str, name: str, folder: Path | None = None) -> dict:
    """Execute generated code (our own output) and return its namespace; the Python files it
    imports classes from are found in ``folder`` (the source's)."""
    from nndsl.util.user_modules import importable

    namespace: dict = {"__name__": f"generated_{name}"}
    own = re.findall(r"^from (\w+) import", code, re.M)
    with importable(folder or Path.cwd(), [m for m in own if m != "torch"]):
        exec(compile(code, f"<generated {name}>", "exec"), namespace)
    return namespace


def escapes(path: Path) -> bool:
    """Whether the program of ``path`` uses torch modules by name or imported classes, whose
    parameters and saved activations the checker takes on the program's word (not counted)."""
    program = analyze(path.read_text(encoding="utf-8"), path.parent).program
    return bool(program.imports) or any(not r.counted for m in program.models for r in m.rows)


def uncounted(model, info) -> set[int]:
    """The ids of the parameters of a model's torch modules and imported classes, which the
    checker does not count."""
    return {
        id(p)
        for r in info.rows
        if not r.counted and r.path
        for p in model.get_submodule(r.path).parameters()
    }


def train_scripts(path: Path) -> list[tuple[str, str]]:
    """(file name, code) of each training script a source file compiles to, as
    ``nndsl compile path -o model.py`` writes them beside the .nn file."""
    from nndsl.compiler import generate_train

    _, program = compile_file(path)
    return [(f"{t.script}.py", generate_train(t, path.name, "model")) for t in program.trains]
