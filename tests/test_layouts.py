"""examples/resnet18.nn and examples/mobilenet_v2.nn compile to torchvision's parameter layouts:
the same state_dict keys and shapes, so that torchvision's weights load with ``strict=True``.

Always checked against the facts in tests/data (each key and shape of torchvision 0.28's
``resnet18()`` and ``mobilenet_v2()`` state_dicts): at compile time, by the names the checker
gives the tensors, and at run time, by the generated model's own state_dict. Where torchvision
is installed (an optional test dependency: ``pip install --no-deps torchvision``), also against
the real models: a strict load of their weights and identical outputs in eval mode. Only the
models' Python definitions are used, so a torchvision whose compiled operators do not load on
this torch still serves.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
import torch
from compiled import ROOT, compile_file, load_module

from nndsl.check.parameters import model_tensors

FACTS = ROOT / "tests" / "data"
MODELS = {  # example, its model, torchvision's module and builder
    "resnet18": ("ResNet18", "resnet", "resnet18"),
    "mobilenet_v2": ("MobileNetV2", "mobilenetv2", "mobilenet_v2"),
}


def _facts(name: str) -> dict[str, list[int]]:
    return json.loads((FACTS / f"torchvision_{name}_keys.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=sorted(MODELS))
def compiled(request):
    """(example name, its model's checked info, an instance of the generated model)."""
    name = request.param
    code, program = compile_file(ROOT / "examples" / f"{name}.nn")
    info = next(m for m in program.models if m.name == MODELS[name][0])
    torch.manual_seed(0)
    model = load_module(code, name)[info.name]().eval()
    return name, info, model


def test_checker_names_torchvision_keys(compiled):
    name, info, _ = compiled
    named = {t.name: list(t.shape) for t in model_tensors(info)}
    assert named == _facts(name)


def test_state_dict_is_torchvision_layout(compiled):
    name, _, model = compiled
    facts = _facts(name)
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(got) == list(facts)  # the same keys in the same order
    assert got == facts


def test_weights_of_that_layout_load_strictly(compiled):
    name, _, model = compiled
    torch.manual_seed(1)
    weights = {
        k: torch.randint(0, 9, shape) if k.endswith("num_batches_tracked") else torch.randn(shape)
        for k, shape in _facts(name).items()
    }
    model.load_state_dict(weights, strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[k]), k


def _torchvision_model(module: str, builder: str) -> torch.nn.Module:
    """torchvision's model, built from its Python definition alone: its packages' __init__
    files (which load the compiled operators) are skipped."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchvision is not installed")
    before = set(sys.modules)
    root = Path(next(iter(spec.submodule_search_locations)))
    saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] == "torchvision"}
    try:
        for name, folder in (("torchvision", root), ("torchvision.models", root / "models")):
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
        try:
            definitions = importlib.import_module(f"torchvision.models.{module}")
        except ImportError as err:  # a dependency of torchvision's, such as PIL
            pytest.skip(f"torchvision's models do not import: {err}")
        torch.manual_seed(2)
        return getattr(definitions, builder)().eval()
    finally:
        for n in set(sys.modules) - before:
            if n.split(".")[0] == "torchvision":
                del sys.modules[n]
        sys.modules.update(saved)


def test_torchvision_weights_load_and_give_the_same_outputs(compiled):
    name, _, model = compiled
    reference = _torchvision_model(*MODELS[name][1:])
    weights = reference.state_dict()
    assert {k: list(v.shape) for k, v in weights.items()} == _facts(name)  # the facts hold
    model.load_state_dict(weights, strict=True)
    torch.manual_seed(3)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
