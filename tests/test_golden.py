"""Golden files for every example and case, plus the invariants every generated file keeps."""

from __future__ import annotations

import ast
import difflib

import pytest
from compiled import CASES, EXAMPLES, GOLDEN, compile_file

from nndsl.codegen.formatting import black_format

SOURCES = EXAMPLES + CASES


def test_golden_names_are_unique():
    stems = [p.stem for p in SOURCES]
    assert len(stems) == len(set(stems))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_golden(path, update_golden):
    code, _ = compile_file(path)
    golden = GOLDEN / f"{path.stem}.py"
    if update_golden:
        golden.write_text(code, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}; run pytest --update-golden and read it"
    expected = golden.read_text(encoding="utf-8")
    if code != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), code.splitlines(True), "golden", "generated"
            )
        )
        pytest.fail(f"{path.name} no longer compiles to {golden.name}:\n{diff}")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_generated_code_invariants(path):
    code, program = compile_file(path)
    tree = ast.parse(code)
    own = {i.module for i in program.imports}  # the user's files of classes, beside the source
    body = code.split("\n", 3)[3]
    assert black_format(body, cache=False) == body, "black would change the generated code"
    assert compile_file(path)[0] == code, "compiling twice must give the same bytes"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in own:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert all(n.split(".")[0] in ("torch", "") for n in names), names
    assert max(len(line) for line in code.splitlines()) <= 88
