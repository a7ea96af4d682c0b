"""Programs valid in release 0.1.0 keep compiling with the same meaning: each example and test
case of that release (tests/compat/) gives models with the same state_dict keys and shapes, the
same parameter count, and the same outputs for the same weights and inputs, as that release's
compiler gave (tests/compat/facts.json, written by tests/compat.py from its checkout)."""

from __future__ import annotations

import json
import math

import pytest
from compat import COMPAT, program_facts, programs

OLD = json.loads((COMPAT / "facts.json").read_text(encoding="utf-8"))


def test_every_program_of_the_release_has_its_facts():
    assert sorted(OLD) == [f"{p.parent.name}/{p.name}" for p in programs()]
    assert len(OLD) >= 30


@pytest.mark.parametrize("path", programs(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_release_program_keeps_its_meaning(path):
    old = OLD[f"{path.parent.name}/{path.name}"]
    new = program_facts(path)
    assert "error" not in new, f"{path.name} no longer compiles: {new.get('error')}"
    assert sorted(new) == sorted(old), "the models it defines"
    for name, facts in old.items():
        now = new[name]
        assert now["keys"] == facts["keys"], f"{name}: state_dict keys or shapes"
        assert now["params"] == facts["params"], f"{name}: parameter count"
        assert len(now["outputs"]) == len(facts["outputs"]), f"{name}: outputs"
        for k, (got, want) in enumerate(zip(now["outputs"], facts["outputs"])):
            if want is None:
                assert got is None
                continue
            assert (got["shape"], got["dtype"]) == (want["shape"], want["dtype"]), (name, k)
            for field in ("sum", "abs_sum"):
                assert math.isclose(
                    got[field], want[field], rel_tol=1e-4, abs_tol=1e-4
                ), f"{name} output {k}: {field} {got[field]} was {want[field]}"
            pairs = zip(got["first"].split(), want["first"].split(), strict=True)
            assert all(
                math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-5) for a, b in pairs
            )
