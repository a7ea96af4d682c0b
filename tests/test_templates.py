"""The templates hold no logic: every decision is a field of the view built in Python
(nndsl/codegen/train_view.py), and the templates only substitute, loop and include."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path

import pytest

from nndsl.codegen import render as codegen
from nndsl.compiler import analyze
from nndsl.ir import training as tr

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TAG = re.compile(r"\{%-?\s*(.*?)\s*-?%\}", re.S)
EXPRESSION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
ALLOWED_TAGS = [
    re.compile(rf"(?:el)?if {DOTTED}"),  # a single field of the view, as it is
    re.compile(rf"for \w+(?:, \w+)* in {DOTTED}"),
    re.compile(rf"include (?:\"[\w/.]+\"|{DOTTED})"),
    re.compile(r"else|endif|endfor"),
]


def logic_in(text: str) -> list[str]:
    """The tags and substitutions of a template that do more than name a field."""
    bad = [t for t in TAG.findall(text) if not any(p.fullmatch(t) for p in ALLOWED_TAGS)]
    bad += [e for e in EXPRESSION.findall(text) if not re.fullmatch(DOTTED, e)]
    return bad


def templates() -> list[Path]:
    found = sorted(TEMPLATES.rglob("*.j2"))
    assert TEMPLATES / "train.py.j2" in found and TEMPLATES / "train" / "main.py.j2" in found
    return found


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_test_only_precomputed_fields(path):
    assert logic_in(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "tag",
    [
        '{% if t.precision == "fp16" %}',
        '{% if "csv" in t.readers %}',
        "{% if not t.validation %}",
        "{% if stream and t.validation %}",
        "{% elif t.accumulate > 1 %}",
        "{% if t.metrics | length %}",
        '{% set scaled = "loss" %}',
        "{% macro size(v) %}",
        '{{ "state.generator" if t.shuffle else "None" }}',
        "{{ d.name | title }}",
        '{{ t.save.rsplit(".", 1)[0] }}',
    ],
)
def test_the_check_finds_logic(tag):
    assert len(logic_in(f"x\n{tag}\ny\n")) == 1


def test_the_check_passes_plain_fields():
    text = "{% if fp16 %}\n{{ t.model }}\n{% for k, v in d.items %}{% include d.template %}"
    assert logic_in(text + '{% include "train/a.py.j2" %}{% endfor %}{% else %}{% endif %}') == []


def test_every_template_file_is_used():
    """Each include under templates/train/ is named by a template or chosen by the view
    (``f"train/load_{kind}.py.j2"``)."""
    text = "".join(p.read_text(encoding="utf-8") for p in templates())
    view = (TEMPLATES.parent / "nndsl" / "codegen" / "train_view.py").read_text(encoding="utf-8")
    for path in TEMPLATES.glob("train/*.j2"):
        name = f"train/{path.name}"
        assert f'"{name}"' in text or name.rsplit("_", 1)[0] + "_{" in view, name


@pytest.fixture(scope="module")
def trained():
    path = TEMPLATES.parent / "examples" / "iris.nn"
    result = analyze(path.read_text(encoding="utf-8"), path.parent)
    assert result.ok
    return result.program.trains[0]


@pytest.mark.parametrize(
    "changes",
    [
        {"precision": "fp16", "accumulate": 3, "clip": tr.Clip("norm", 1.0), "scheduler": "batch"},
        {"precision": "bf16", "distributed": True, "early_stop": ("loss", "max", 2, 0.5)},
        {"drop_last": True, "shuffle": False, "scheduler": "plateau", "task": "binary"},
    ],
)
def test_the_view_decides_and_the_script_follows(trained, changes):
    if changes.get("scheduler"):
        step_lr = tr.Call(
            "torch.optim.lr_scheduler.StepLR", (tr.Arg(None, tr.Ref("optimizer")), tr.Arg(None, 1))
        )
        changes = {**changes, "scheduler": tr.Scheduler(step_lr, changes["scheduler"])}
    t = replace(trained, **changes)
    code = codegen.render_train(t, "iris.nn", "model")
    ast.parse(code)
    assert ('precision="fp16"' in code) == (t.precision == "fp16")
    assert ('precision="bf16"' in code) == (t.precision == "bf16")
    assert ("accumulate=3" in code) == (t.accumulate == 3)
    assert ("drop_last=True" in code) == t.drop_last
    assert ("shuffle=False" in code) == (not t.shuffle)
    assert ('kit.EarlyStop("loss", cfg.patience, min_delta=0.5, mode="max")' in code) == (
        t.early_stop is not None
    )
    assert ("scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)" in code) == (
        t.scheduler is not None
    )
    per_step = t.scheduler is not None and t.scheduler.step == "batch"
    assert ('scheduler_every="step"' in code) == per_step
    assert ("total_steps = run.total_steps(data, accumulate=3)" in code) == per_step
    assert ("clip=1.0" in code) == (t.clip is not None)
    assert ("(out > 0.5) == (y > 0.5)" in code) == (t.task == "binary")
    assert "distributed" not in code  # every script is ready for torchrun as it is
