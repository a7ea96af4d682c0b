"""Test helper: what autograd keeps for the backward of one training step, measured in torch.

A train section's generated script is imported; its ``step`` (or each ``<name>_step`` of a
section of several models) runs on the first ``batch`` samples of the section's own data,
under ``torch.autograd.graph.saved_tensors_hooks``. The pack hook gives autograd, for every
tensor it saves, a box holding that tensor's storage, and keeps the box only weakly: a box
still alive when the step has returned is a tensor the backward would read (one saved by a
graph already freed, such as a ``detach``-ed model's, is gone). The measure is the bytes of the storages those tensors live in, each storage once
(two views of one storage, or one tensor saved twice, count once), leaving out the storages
of the models' parameters and buffers, which are not activations.
"""

from __future__ import annotations

import importlib.util
import sys
import weakref
from pathlib import Path

import torch
from compiled import compile_file, train_scripts
from torch import nn

from nndsl.compiler import generate_kit


class _Box:
    """What the pack hook gives autograd to keep: the storage alone (as autograd would keep
    it), not the tensor, whose grad_fn would make a cycle with the box and keep a graph that
    autograd frees (the backward is never run, so nothing unpacks it)."""

    __slots__ = ("storage", "__weakref__")


def saved_bytes(run, *held: nn.Module) -> tuple[int, object]:
    """The bytes of the storages autograd keeps from ``run()``, and what it returned (kept
    alive by the caller until the count is made), the storages of ``held``'s parameters and
    buffers left out."""
    boxes = []

    def pack(t: torch.Tensor) -> _Box:
        box = _Box()
        box.storage = t.untyped_storage()
        boxes.append(weakref.ref(box))
        return box

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: None):
        got = run()
    own = {t.untyped_storage().data_ptr() for m in held for t in (*m.parameters(), *m.buffers())}
    storages = {}
    for ref in boxes:
        box = ref()
        if box is not None and box.storage.data_ptr() not in own:
            storages[box.storage.data_ptr()] = box.storage.nbytes()
    return sum(storages.values()), got


def load_scripts(path: Path, folder: Path) -> tuple[dict, object]:
    """The training scripts of ``path`` written into ``folder`` and imported, by module name,
    and the checked program."""
    code, program = compile_file(path)
    (folder / "model.py").write_text(code, encoding="utf-8")
    (folder / "trainkit.py").write_text(generate_kit(), encoding="utf-8")
    modules = {}
    sys.path.insert(0, str(folder))
    try:
        for name, text in train_scripts(path):
            (folder / name).write_text(text, encoding="utf-8")
            spec = importlib.util.spec_from_file_location(f"memory_{name[:-3]}", folder / name)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses look their module up
            spec.loader.exec_module(module)
            modules[name[:-3]] = module
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
        sys.modules.pop("trainkit", None)
    return modules, program


def measure_section(module, t, path: Path, batch: int, each: bool = False):
    """What autograd keeps of a step of train section ``t`` (its script ``module``) on the
    first ``batch`` samples of its data: the largest of its steps for a section of several
    (``each``: a list, a step's each)."""
    torch.manual_seed(0)
    cfg = module.Config()
    if hasattr(cfg, "data_dir"):  # the data files' folder: the example's own
        cfg.data_dir = str(path.resolve().parent)
    data = getattr(module, f"load_{t.data.name}")(cfg)
    rows = torch.arange(batch) % len(next(iter(data.values())))  # a small set repeats
    batch_data = {k: v[rows] for k, v in data.items()}
    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(t.precision)

    def run(fn, model):
        if autocast is None:
            return fn(model, batch_data)
        with torch.autocast("cpu", dtype=autocast):
            return fn(model, batch_data)

    if t.steps:
        models = nn.ModuleDict({key: getattr(module, cls)() for key, cls in t.models}).train()
        kept = [
            saved_bytes(lambda s=s: run(getattr(module, f"{s.name}_step"), models), models)[0]
            for s in t.steps
        ]
        return kept if each else max(kept)
    model = getattr(module, t.model)().train()
    for name, p in model.named_parameters():
        p.requires_grad_(name not in t.frozen)
    return saved_bytes(lambda: run(module.step, model), model)[0]


def example_sections(paths, folder: Path) -> list[tuple[str, Path, object, object, object]]:
    """(label, path, program, train section, its script module) for every train section of
    ``paths``."""
    out = []
    for path in paths:
        sub = folder / path.stem
        sub.mkdir(parents=True, exist_ok=True)
        modules, program = load_scripts(path, sub)
        for t in program.trains:
            label = f"{path.stem}:{'+'.join(c for _, c in t.models) or t.model}"
            out.append((label, path, program, t, modules[t.script]))
    return out
