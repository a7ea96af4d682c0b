"""docs/LANGUAGE.md stays true: its examples compile (or fail, where marked) and its layer
table matches the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nndsl.compiler import analyze
from nndsl.docgen import END, START, splice

DOC = Path(__file__).resolve().parent.parent / "docs" / "LANGUAGE.md"
FENCE = re.compile(r"^```(nn|nn-error)\n(.*?)^```", re.M | re.S)


def _snippets():
    text = DOC.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield pytest.param(m.group(1), m.group(2), id=f"line{line}")


@pytest.mark.parametrize("kind, source", list(_snippets()))
def test_doc_example(kind, source):
    result = analyze(source)
    if kind == "nn":
        assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    else:
        assert not result.ok


CONSTRUCTS = ["Files, comments, white space", "Models", "Layers and arguments", "Blocks", "Repeat",
              "Shared layers", "Forward: connecting layers by hand", "Custom layers", "Loops",
              "Recurrent state", "Models inside models"]  # fmt: skip


@pytest.mark.parametrize("section", CONSTRUCTS)
def test_every_construct_has_an_example(section):
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    assert "```nn\n" in body, f"section {section!r} has no tested example"


def test_layer_table_matches_registry(update_golden):
    text = DOC.read_text(encoding="utf-8")
    fresh = splice(text)
    if update_golden:
        DOC.write_text(fresh, encoding="utf-8")
        text = fresh
    assert START in text and END in text
    assert text == fresh, "docs/LANGUAGE.md's layer table is stale: run pytest --update-golden"


def test_readme_shows_what_compile_writes():
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("```python\n", 1)[1].split("```", 1)[0]
    example = DOC.parent.parent / "examples" / "add.nn"
    assert example.read_text(encoding="utf-8").split("\n", 1)[1].strip() in readme
    from compiled import compile_file

    assert shown in compile_file(example)[0]
