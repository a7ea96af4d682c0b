"""Error cases: each tests/errors/*.nn renders exactly its expected diagnostics (*.txt)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from nndsl.compiler import analyze
from nndsl.diagnostics.core import render_text

ERRORS = sorted((Path(__file__).parent / "errors").glob("*.nn"))


@pytest.mark.parametrize("path", ERRORS, ids=lambda p: p.stem)
def test_error_case(path, update_golden):
    source = path.read_text(encoding="utf-8")
    result = analyze(source, path.parent)
    assert not result.ok, f"{path.name} must not compile"
    rendered = render_text(result.diagnostics, source, path.name)
    expected_file = path.with_suffix(".txt")
    if update_golden:
        expected_file.write_text(rendered, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    if rendered != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), rendered.splitlines(True)))
        pytest.fail(f"diagnostics for {path.name} changed:\n{diff}")
