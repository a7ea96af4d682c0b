"""`checkpoint_activations true`: the kit recomputes the activations of each block
(`trainkit.blocks`: the outermost submodules of a program's block class, or copies of a repeat)
in the backward pass. It keeps fewer tensors for the backward and changes no number: gradients,
dropout masks and batch-norm statistics are those of training without it, bit for bit. A train
section of steps refuses it at check time.
"""

from __future__ import annotations

import copy
import importlib.util
import sys

import pytest
import torch
from compiled import GOLDEN, NET_AND_PAIRS, ROOT

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze, generate_kit

BLOCKS = """
block Unit {
    Linear(16, bias=false) BatchNorm1d() ReLU() Dropout(0.5) Linear(8) ReLU()
}
model Net(x: [8]) {
    body = repeat 3 { Unit() }
    out = Linear(4)
}
data d {
    x = randn(96, 8)
    y = argmax(x[:, 0:4], 1)
    batch 32
}
"""
TRAIN = """
train Net on d {
    loss cross_entropy
    optimizer sgd(lr=0.1, momentum=0.9)
    epochs 2
"""


def module_of(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    path = tmp_path_factory.mktemp("kit") / "trainkit.py"
    path.write_text(generate_kit(), encoding="utf-8")
    return module_of(path, "trainkit_under_test")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """The model module of BLOCKS."""
    folder = tmp_path_factory.mktemp("blocks")
    (folder / "net.nn").write_text(BLOCKS + TRAIN + "}\n", encoding="utf-8")
    assert nndsl(["compile", str(folder / "net.nn"), "-o", str(folder / "model.py")]) == 0
    return module_of(folder / "model.py", "blocks_model_under_test")


def names(kit, model) -> list[str]:
    paths = {id(m): n for n, m in model.named_modules()}
    return [paths[id(b)] for b in kit.blocks(model)]


@pytest.mark.parametrize(
    "golden,model,found",
    [
        ("nested_blocks", "RGNet", [f"body.{i}" for i in range(4)]),  # a repeat of a block
        ("block_params", "Deep", ["tower"]),  # the outermost block: its own blocks are in it
        ("batchnorm", "WithoutBatchNorm", [f"hidden.{i}" for i in range(8)]),  # of layers
        ("transformer", "TinyEncoder", ["encoder.0", "encoder.1"]),
        ("tied", "Tied", []),  # no block, no repeat
    ],
)
def test_the_blocks_are_the_programs_blocks_and_repeat_copies(kit, golden, model, found):
    module = module_of(GOLDEN / f"{golden}.py", f"golden_{golden}")
    assert names(kit, getattr(module, model)()) == found


def saved_and_grads(model, x):
    """The tensors the forward keeps for the backward, the gradients after it, the
    buffers."""
    saved = []
    torch.manual_seed(7)  # the dropout masks
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        loss = model(x).square().mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return len(saved), grads, {n: b.clone() for n, b in model.named_buffers()}


def test_checkpointed_blocks_keep_less_and_give_the_same_gradients(kit, net):
    torch.manual_seed(0)
    plain = net.Net()
    checkpointed = copy.deepcopy(plain)
    kit.checkpoint_blocks(checkpointed)
    x = torch.randn(16, 8)
    kept, grads, buffers = saved_and_grads(plain, x)
    kept_ac, grads_ac, buffers_ac = saved_and_grads(checkpointed, x)
    assert kept_ac < kept / 2
    assert grads.keys() == grads_ac.keys()
    for name, grad in grads.items():  # the same dropout masks and batch statistics
        assert torch.equal(grad, grads_ac[name]), name
    for name, buffer in buffers.items():  # batch norm counts the batch once
        assert torch.equal(buffer, buffers_ac[name]), name
    assert buffers["body.0.bn1.num_batches_tracked"] == 1
    with torch.no_grad():  # without a backward nothing is recomputed
        torch.manual_seed(7)
        plain.eval(), checkpointed.eval()
        assert torch.equal(plain(x), checkpointed(x))


def test_training_with_checkpointed_activations_changes_no_weight(tmp_path):
    weights = []
    for extra in ("", "    checkpoint_activations true\n"):
        out = tmp_path / f"run{len(weights)}"
        source = tmp_path / f"net{len(weights)}.nn"
        source.write_text(BLOCKS + TRAIN + extra + "}\n", encoding="utf-8")
        assert nndsl(["run", str(source), "--out", str(out), "--quiet"]) == 0
        weights.append(torch.load(out / "model.pt", weights_only=True))
    assert "checkpoint_activations=True" in (out / "train_net.py").read_text()
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name


def test_checkpoint_activations_takes_a_bool():
    result = analyze(NET_AND_PAIRS + "train Net on pairs { loss mse checkpoint_activations 1 }")
    errors = [d.message for d in result.diagnostics if d.severity == "error"]
    assert errors == ["`checkpoint_activations` takes a bool"]


@pytest.mark.parametrize("setting", ["checkpoint_activations true", "distributed fsdp"])
def test_a_train_section_of_steps_refuses_it(setting):
    text = (ROOT / "examples" / "digits_gan.nn").read_text(encoding="utf-8")
    at = text.rindex("}")
    result = analyze(text[:at] + f"    {setting}\n" + text[at:], ROOT / "examples")
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and "a train section of steps does not take it" in errors[0].message
