"""Test helpers: compile .nn sources and run the generated modules against the checker."""

from __future__ import annotations

from pathlib import Path

from nndsl.compiler import analyze, generate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
CASES = sorted((ROOT / "tests" / "cases").glob("*.nn"))
GOLDEN = ROOT / "tests" / "golden"
SYMBOL_SIZE = 5  # the size given to a symbolic dim such as T in a real forward pass
BATCH = 3


def compile_file(path: Path):
    """(generated code, checked program) for a source file that must compile."""
    result = analyze(path.read_text(encoding="utf-8"))
    assert result.ok, [d.message for d in result.diagnostics]
    return generate(result.program, path.name), result.program


def concrete(shape: tuple) -> tuple[int, ...]:
    return tuple(
        BATCH if d == "B" else SYMBOL_SIZE if isinstance(d, str) else int(d) for d in shape
    )


def shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def expected_text(text: str) -> str:
    """A checker shape string with B and symbols replaced by the sizes the oracle uses."""
    inner = text.strip("()")
    dims = [d.strip() for d in inner.split(",")] if inner else []
    out = [str(BATCH) if d == "B" else str(SYMBOL_SIZE) if d.isidentifier() else d for d in dims]
    return "(" + ", ".join(out) + ")"


def load_module(code: str, name: str) -> dict:
    """Execute generated code (our own output) and return its namespace."""
    namespace: dict = {"__name__": f"generated_{name}"}
    exec(compile(code, f"<generated {name}>", "exec"), namespace)
    return namespace
