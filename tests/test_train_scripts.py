"""The training scripts: golden files, invariants, and runs of every example's train section.

Runs happen in this process through the CLI (``nndsl run``), which imports the very script
``nndsl compile`` writes; each smoke run stops after a few optimizer steps.
"""

from __future__ import annotations

import ast
import csv
import difflib
import sys
from pathlib import Path

import pytest
from compiled import BUILT, EXAMPLES, GOLDEN, NET_AND_PAIRS, train_scripts

from nndsl.cli import main as nndsl
from nndsl.codegen.formatting import black_format

TRAINED = [p for p in EXAMPLES if train_scripts(p)]
SCRIPTS = [(p, name) for p in TRAINED for name, _ in train_scripts(p)]
STDLIB = set(sys.stdlib_module_names)


def test_most_examples_train():
    assert len(TRAINED) >= 10, [p.name for p in TRAINED]


@pytest.mark.parametrize("path,name", SCRIPTS, ids=[f"{p.stem}-{n}" for p, n in SCRIPTS])
def test_golden_training_script(path, name, update_golden):
    code = dict(train_scripts(path))[name]
    golden = GOLDEN / "train" / f"{path.stem}.{name}"
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(code, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}; run pytest --update-golden and read it"
    expected = golden.read_text(encoding="utf-8")
    if code != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), code.splitlines(True)))
        pytest.fail(f"{path.name} no longer compiles to {golden.name}:\n{diff}")


@pytest.mark.parametrize("path,name", SCRIPTS, ids=[f"{p.stem}-{n}" for p, n in SCRIPTS])
def test_training_script_invariants(path, name):
    code = dict(train_scripts(path))[name]
    body = code.split("\n", 3)[3]
    assert black_format(body, cache=False) == body  # black over the whole file
    assert dict(train_scripts(path))[name] == code, "compiling twice must give the same bytes"
    tree = ast.parse(code)
    for node in ast.walk(tree):  # torch, numpy, the standard library, the model and the kit
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            assert node in tree.body, "a script imports everything at its top"
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for n in names:
                assert n.split(".")[0] in STDLIB | {"torch", "numpy", "model", "trainkit"}, n
    assert "nndsl" not in body.replace("trainkit", "")
    assert max(len(line) for line in code.splitlines()) <= 88


def last_metrics(folder) -> dict[str, str]:
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))[-1]


def _run(path, out, *flags) -> dict[str, str]:
    assert nndsl(["run", str(path), "--out", str(out), "--quiet", *flags]) == 0
    return last_metrics(out)


@pytest.mark.parametrize("path", [p for p in TRAINED if p in BUILT], ids=lambda p: p.stem)
def test_every_example_trains_a_few_steps(path, tmp_path, capsys):
    out = tmp_path / "run"
    assert nndsl(["run", str(path), "--out", str(out), "--quiet", "--max-steps", "3"]) == 0
    scripts = train_scripts(path)
    folders = [out] if len(scripts) == 1 else [out / n[6:-3] for n, _ in scripts]
    for folder in folders:
        last = last_metrics(folder)
        assert 1 <= int(last["epoch"]) <= 3  # three steps: at most three epochs
        # the loss, or each step's of a section of several models (which keeps no best.pt)
        losses = [k for k in last if k == "loss" or k.count("/") == 1 and k[:5] == "loss/"]
        best = {"best.pt"} if "loss" in last else set()
        assert losses and all(float(last[k]) == float(last[k]) for k in losses)  # not NaN
        names = {p.name for p in folder.iterdir()}
        assert {"model.py", "metrics.csv", "config.json", path.name} | best <= names
        if "\n    test " in path.read_text(encoding="utf-8"):  # the best weights, tested
            assert {"test_metrics.json", "test_confusion.csv"} <= names
        assert any(n.startswith("train_") and n.endswith(".py") for n in names)


# ---- the tutorial tasks, trained to the end with their fixed seeds -------------------------


def test_add_predicts_the_sum(tmp_path, capsys):
    _run(EXAMPLES[0].parent / "add.nn", tmp_path)
    predicted = float(capsys.readouterr().out.split("predict [10, 11] -> [")[1].split("]")[0])
    assert abs(predicted - 21) < 0.5


def test_linear_regression_learns_2x_plus_1(tmp_path):
    import torch

    _run(EXAMPLES[0].parent / "linear_regression.nn", tmp_path)
    weights = torch.load(tmp_path / "model.pt", weights_only=True)
    assert abs(weights["linear.weight"].item() - 2) < 0.05
    assert abs(weights["linear.bias"].item() - 1) < 0.05


@pytest.fixture(scope="module")
def trained_iris(tmp_path_factory):
    """iris.nn trained to the end once: its run folder and last metrics, for the accuracy test
    and the --eval test."""
    out = tmp_path_factory.mktemp("iris")
    return out, _run(EXAMPLES[0].parent / "iris.nn", out)


@pytest.mark.parametrize(
    "example,accuracy", [("digits_cnn.nn", 0.95), ("digits_lstm.nn", 0.9), ("iris.nn", 0.9)]
)
def test_real_data_accuracy(example, accuracy, tmp_path, request):
    """The bundled datasets: validation accuracy far above chance (0.1 for digits, 0.33 iris)."""
    if example == "iris.nn":
        last = request.getfixturevalue("trained_iris")[1]
    else:
        last = _run(EXAMPLES[0].parent / example, tmp_path)
    assert float(last["val_accuracy"]) >= accuracy


def test_dropout_comparison(tmp_path):
    """Morvan's point: on 20 noisy points the free network overfits, dropout generalises."""
    assert (
        nndsl(["run", str(EXAMPLES[0].parent / "dropout.nn"), "--out", str(tmp_path), "--quiet"])
        == 0
    )
    over, dropped = last_metrics(tmp_path / "overfitting"), last_metrics(tmp_path / "dropped")
    assert float(over["loss"]) < float(dropped["loss"])
    assert float(over["val_loss"]) > float(dropped["val_loss"])


def test_eval_reloads_saved_weights(trained_iris, tmp_path, capsys):
    path = EXAMPLES[0].parent / "iris.nn"
    folder, trained = trained_iris
    capsys.readouterr()
    weights = folder / "model.pt"
    assert nndsl(["run", str(path), "--out", str(tmp_path / "b"), "--eval", str(weights)]) == 0
    printed = capsys.readouterr().out.split()
    assert float(printed[printed.index("accuracy") + 1]) == pytest.approx(
        float(trained["val_accuracy"]), abs=1e-4
    )


@pytest.mark.parametrize(
    "weights, why",
    [
        ("garbage", ""),
        ("text", ": it is not a file torch.save wrote, or it is cut short"),  # was a KeyError
        ("empty", ": it is not a file torch.save wrote, or it is cut short"),  # said nothing
        ("damaged", ": its SHA-256 differs from bad.pt.sha256: it is damaged"),  # was loaded
        ("other_shapes", ""),
        ("missing", ""),
    ],
)
def test_eval_of_weights_that_do_not_fit_is_one_line(weights, why, tmp_path, capsys):
    """--eval of a damaged file, of another model's weights or of no file was a traceback."""
    import torch

    path = tmp_path / "bad.pt"
    if weights == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif weights == "text":
        path.write_text("hello world", encoding="utf-8")
    elif weights == "empty":
        path.write_bytes(b"")
    elif weights == "damaged":  # weights that load, beside another file's SHA-256
        torch.save({"hidden.weight": torch.zeros(8, 2)}, path)
        (tmp_path / "bad.pt.sha256").write_text(f"{'0' * 64}  bad.pt\n", encoding="utf-8")
    elif weights == "other_shapes":
        torch.save({"fc1.weight": torch.zeros(3, 3)}, path)
    add = EXAMPLES[0].parent / "add.nn"
    assert nndsl(["run", str(add), "--out", str(tmp_path / "r"), "--eval", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot load the weights in {path}{why}" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 2, err  # the run folder's line, then the error


# ---- init rules and optimizer groups, as checked and as run ----------------------------------


def load_scripts(path, folder):
    """Write the model and training scripts of ``path`` into ``folder`` and import them."""
    import importlib.util

    from compiled import compile_file

    from nndsl.compiler import generate_kit

    code, _ = compile_file(path)
    (folder / "model.py").write_text(code, encoding="utf-8")
    (folder / "trainkit.py").write_text(generate_kit(), encoding="utf-8")
    modules = {}
    sys.path.insert(0, str(folder))
    try:
        for name, text in train_scripts(path):
            (folder / name).write_text(text, encoding="utf-8")
            spec = importlib.util.spec_from_file_location(name[:-3], folder / name)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            modules[name[:-3]] = module
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
        sys.modules.pop("trainkit", None)
    return modules


def parse(module, *argv: str):
    """A script's Config from a command line, as `python train_x.py ARGV` makes it."""
    return module.kit.parse_args(module.Config, module.__doc__, list(argv))


def test_check_prints_each_parameters_init_rule_and_group(capsys):
    assert nndsl(["check", str(EXAMPLES[0].parent / "mlp.nn")]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if "  (" in line}
    assert "Linear.weight ~ kaiming_uniform" in rows["hidden.weight"]
    assert "out.weight ~ normal(0, 0.01)" in rows["out.weight"]  # the later rule wins
    assert "Linear.bias = 0" in rows["out.bias"] and ".bias: weight_decay=0" in rows["out.bias"]
    assert rows["hidden.weight"].rstrip().endswith("default")


def test_init_rules_and_groups_take_effect(tmp_path):
    import torch

    module = load_scripts(EXAMPLES[0].parent / "mlp.nn", tmp_path)["train_mlp"]
    cfg = parse(module)
    torch.manual_seed(0)
    model = module.MLP().requires_grad_(False)
    module.init_weights(model)
    model.requires_grad_(True)
    assert float(model.out.weight.detach().std()) == pytest.approx(0.01, rel=0.2)
    hidden = model.hidden.weight.detach()
    assert float(hidden.abs().max()) <= (6 / 20) ** 0.5  # kaiming bound, fan_in 20
    assert float(hidden.std()) > 0.1  # not the 0.01 rule
    assert model.hidden.bias.abs().max() == 0 and model.out.bias.abs().max() == 0
    optimizer = module.build_optimizer(model, cfg)
    decays = [(len(g["params"]), g["weight_decay"]) for g in optimizer.param_groups]
    assert decays == [(2, 0), (2, 0)]  # the biases' group, then the rest with SGD's default 0
    ids = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each exactly once


VALUES_SOURCE = NET_AND_PAIRS + """
train Net on pairs {
    loss huber(delta=0.5)
    optimizer adam(lr=0.01, betas=(0.85, 0.995)) {
        hidden.weight: betas=(0.8, 0.9), weight_decay=-0.0
        out.bias: betas=[0.5, 0.6], eps=1e-6
    }
    scheduler multistep(milestones=[1, 2], gamma=0.5)
    init {
        Linear.weight ~ uniform(-0.25, -0.125)
        Linear.bias = -1.5
    }
    epochs 3
}
"""


def test_tuples_lists_and_negative_numbers_as_training_values(tmp_path):
    """Values holding commas, brackets and minus signs reach torch as written: optimizer groups
    once split their settings on ", " and crashed the compiler on `betas=(0.8, 0.9)`."""
    import torch

    source = tmp_path / "values.nn"
    source.write_text(VALUES_SOURCE, encoding="utf-8")
    module = load_scripts(source, tmp_path)["train_net"]
    cfg = parse(module)
    model = module.Net().requires_grad_(False)
    module.init_weights(model)
    assert float(model.hidden.weight.max()) <= -0.125 and float(model.out.weight.min()) >= -0.25
    assert torch.equal(model.out.bias, torch.full((1,), -1.5))
    model.requires_grad_(True)
    optimizer = module.build_optimizer(model, cfg)
    groups = [(g["betas"], g["weight_decay"], g["eps"]) for g in optimizer.param_groups]
    assert groups == [((0.8, 0.9), 0.0, 1e-8), ((0.5, 0.6), 0, 1e-6), ((0.85, 0.995), 0, 1e-8)]
    assert [len(g["params"]) for g in optimizer.param_groups] == [1, 1, 2]
    final = module.main(parse(module, "--epochs", "3", "--out-dir", str(tmp_path / "o")))
    assert final["loss"] == final["loss"]  # trained through the scheduler's milestones, finite


BOUNDS_SOURCE = """
model Net(x: [2]) {
    hidden = Linear(4)
    ReLU()
    out = Linear(1)
}

data pairs {
    x = randn(8, 2)
    y = randn(8, 1)
    batch 4
}

train Net on pairs {
    loss mse
    optimizer adam(lr=0.01, betas=(0, 0.999))
    scheduler reduce_on_plateau(factor=0.99)
    init { hidden.weight ~ uniform(0.5, 0.5) out.weight ~ trunc_normal(a=-1, b=-1) }
    seed 9223372036854775807
    epochs 1
}
"""


def test_values_at_the_edges_of_their_ranges_train(tmp_path):
    """The largest seed and the boundary values check accepts are ones torch accepts too."""
    source = tmp_path / "bounds.nn"
    source.write_text(BOUNDS_SOURCE, encoding="utf-8")
    module = load_scripts(source, tmp_path)["train_net"]
    final = module.main(parse(module, "--out-dir", str(tmp_path / "o")))
    assert final["loss"] == final["loss"]


@pytest.mark.parametrize("optimizer", ["sgd(lr=0.05, momentum=0.9)", "adam(lr=0.01)"])
def test_a_fused_optimizer_trains_as_the_default_one_does_up_to_rounding(optimizer, tmp_path):
    """`fused=true` reaches torch's constructor as written, and its training ends where the
    default implementation's does, to float rounding."""
    finals, lines = [], []
    for fused in (False, True):
        written = optimizer.replace(")", ", fused=true)") if fused else optimizer
        source = tmp_path / f"fused_{fused}.nn"
        source.write_text(
            BOUNDS_SOURCE.replace("adam(lr=0.01, betas=(0, 0.999))", written),
            encoding="utf-8",
        )
        folder = tmp_path / str(fused)
        folder.mkdir()
        module = load_scripts(source, folder)["train_net"]
        text = Path(module.__file__).read_text(encoding="utf-8")
        lines.append(next(line for line in text.splitlines() if "torch.optim." in line))
        args = ("--epochs", "5", "--out-dir", str(folder / "o"), "--quiet")
        finals.append(module.main(parse(module, *args))["loss"])
    assert lines[1] == lines[0][:-1] + ", fused=True)" and "fused" not in lines[0]
    assert finals[1] == pytest.approx(finals[0], rel=1e-4)


def test_fused_belongs_to_the_optimizer_not_a_group():
    source = NET_AND_PAIRS + (
        "train Net on pairs {\n    loss mse\n    optimizer adam(lr=0.01) {\n"
        "        hidden.weight: fused=true\n    }\n}\n"
    )
    from nndsl.compiler import analyze

    result = analyze(source)
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    assert d.code == "E0413" and "`adam(..., fused=true)`" in d.help
    assert (d.span.line, d.span.column) == (16, 24)


def test_an_init_given_only_a_later_argument_passes_it_by_name(tmp_path):
    """`normal(std=0.01)` once became `nn.init.normal_(w, 0.01)`: a mean of 0.01 and std 1."""
    import torch

    source = tmp_path / "init.nn"
    source.write_text(
        VALUES_SOURCE.replace(
            """        Linear.weight ~ uniform(-0.25, -0.125)
        Linear.bias = -1.5""",
            """        hidden.weight ~ normal(std=0.01)
        out.weight ~ uniform(b=0.5)
        Linear.bias ~ normal(3)""",
        ),
        encoding="utf-8",
    )
    module = load_scripts(source, tmp_path)["train_net"]
    text = (tmp_path / "train_net.py").read_text(encoding="utf-8")
    assert "nn.init.normal_(w, std=0.01)" in text and "nn.init.uniform_(w, b=0.5)" in text
    torch.manual_seed(0)
    model = module.Net().requires_grad_(False)
    module.init_weights(model)
    hidden = model.hidden.weight
    assert float(hidden.std()) == pytest.approx(0.01, rel=0.3) and abs(float(hidden.mean())) < 0.01
    assert 0 <= float(model.out.weight.min()) and float(model.out.weight.max()) <= 0.5
    assert float(model.hidden.bias.mean()) == pytest.approx(3, abs=0.5)  # the mean, given first


ADD_SOURCE = NET_AND_PAIRS + """
train Net on pairs {
    loss mse
    optimizer sgd(lr=0.001)
    epochs 3
    save "net.pt"
}
"""


@pytest.mark.parametrize("dtype", ["float", "double", "half", "bfloat16"])
def test_every_input_dtype_trains(dtype, tmp_path):
    """A model whose input is declared in another floating dtype is built in it: its weights
    were float32, so the first forward refused the data."""
    import torch

    source = tmp_path / "net.nn"
    text = ADD_SOURCE.replace("x: [2]", f"x: [2] {dtype}")
    source.write_text(text, encoding="utf-8")
    last = _run(source, tmp_path / "run", "--epochs", "1")
    assert float(last["loss"]) == float(last["loss"])  # one epoch, a finite loss
    weights = torch.load(tmp_path / "run" / "net.pt", weights_only=True)
    want = {"float": torch.float32, "double": torch.float64, "half": torch.float16}
    assert {w.dtype for w in weights.values()} == {want.get(dtype, torch.bfloat16)}


def test_keep_mask_zeroes_small_weights(tmp_path):

    source = tmp_path / "masked.nn"
    source.write_text(
        "model M(x: [4]) { a = Linear(50) ReLU() b = Linear(1) }\n"
        "data d { x = randn(8, 4) y = randn(8, 1) }\n"
        "train M on d {\n loss mse\n"
        " optimizer sgd(lr=0.1) { layers[0].weight: weight_decay=0.5 }\n"
        " init { layers[0].weight ~ uniform(-10, 10) keep abs(w) >= 5 }\n}\n",
        encoding="utf-8",
    )
    module = load_scripts(source, tmp_path)["train_m"]
    model = module.M()
    module.init_weights(model)
    w = model.a.weight
    assert ((w == 0) | (w.abs() >= 5)).all() and (w == 0).any() and (w != 0).any()
    optimizer = module.build_optimizer(model, parse(module))
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.5, 0]
    assert optimizer.param_groups[0]["params"][0] is model.a.weight


def test_file_data_and_every_training_option_run(tmp_path, capsys):
    """npy, npz and pt data; bf16 and fp16 autocast, accumulation, clipping, three schedulers,
    early stopping, max steps: each combination trains and writes its metrics."""
    import numpy as np
    import torch

    g = np.random.default_rng(0)
    x = g.normal(size=(64, 3)).astype(np.float32)
    y = (x.sum(1) > 0).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "d.npz", feats=x, labels=y)
    torch.save({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, tmp_path / "d.pt")
    torch.save(torch.from_numpy(y), tmp_path / "y.pt")
    source = tmp_path / "files.nn"
    source.write_text(
        """
model M(x: [3]) { Linear(16) ReLU() out = Linear(2) }
model M2(x: [3]) { Linear(2) }
model M3(x: [3]) { Linear(2) }
data a { x = npy("x.npy") y = pt("y.pt") batch 16 }
data b { z = npz("d.npz") x = z["feats"] y = z["labels"] batch 16 }
data c { t = pt("d.pt") x = t["x"] y = t["y"] batch 16 drop_last true shuffle false }
train M on a {
    loss cross_entropy epochs 3 precision bf16 accumulate 2 clip 1.0
    scheduler onecycle(max_lr=0.1) log_every 2
}
train M2 on b {
    loss cross_entropy epochs 30 precision fp16 scheduler reduce_on_plateau(patience=1)
    deterministic true early_stop loss, patience=1, min_delta=10
}
train M3 on c { loss cross_entropy steps 5 optimizer rmsprop(lr=0.01, alpha=0.9) seed 3 }
""",
        encoding="utf-8",
    )
    assert nndsl(["run", str(source), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "step 2: loss" in out  # log_every
    assert "early stop: loss has not improved for 1 epochs" in out
    assert int(last_metrics(tmp_path / "r" / "m")["epoch"]) == 3
    assert int(last_metrics(tmp_path / "r" / "m2")["epoch"]) == 2  # min_delta 10: never better
    assert int(last_metrics(tmp_path / "r" / "m3")["epoch"]) == 2  # 3 + 2 of 4 steps per epoch
    assert float(last_metrics(tmp_path / "r" / "m")["accuracy"]) > 0.6


@pytest.mark.parametrize("device", ["cuda:7", "cuda:99"])
def test_a_device_the_machine_lacks_is_one_line_before_training(device, tmp_path, capsys):
    """It was a traceback from deep in torch ("Torch not compiled with CUDA enabled")."""
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    path = EXAMPLES[0].parent / "add.nn"
    assert nndsl(["run", str(path), "--out", str(tmp_path), "--device", device]) == 1
    err = capsys.readouterr().err
    assert f"device {device}: this machine has" in err and "Traceback" not in err
    assert not list(tmp_path.rglob("checkpoint-*"))


def test_zero_epochs_is_refused_not_an_endless_run(tmp_path, capsys):
    path = EXAMPLES[0].parent / "add.nn"
    assert nndsl(["run", str(path), "--out", str(tmp_path), "--epochs", "0"]) == 1
    assert "positive number of --epochs or --max-steps" in capsys.readouterr().err


@pytest.mark.parametrize("train, val", [("a_b", "A_b"), ("a_b", "ab"), ("ab_", "a_b")])
def test_streamed_sections_named_alike_stay_apart(train, val, tmp_path):
    """Data names that differ in case or underscores only once made one row class, and the
    training data was validated on (and trained from) the wrong file."""
    import numpy as np

    for name, rows in (("t", 12), ("v", 4)):
        np.save(tmp_path / f"{name}x.npy", np.zeros((rows, 4), np.float32))
        np.save(tmp_path / f"{name}y.npy", np.zeros((rows, 1), np.float32))
    source = tmp_path / "s.nn"
    source.write_text(
        "model M(x: [4]) { Linear(1) }\n"
        f'data {train} {{ x = npy("tx.npy") y = npy("ty.npy") stream true validation {val} }}\n'
        f'data {val} {{ x = npy("vx.npy") y = npy("vy.npy") stream true }}\n'
        f"train M on {train} {{ loss mse epochs 1 }}\n",
        encoding="utf-8",
    )
    script = load_scripts(source, tmp_path)["train_m"]
    cfg = parse(script, "--data-dir", str(tmp_path))
    train_rows, val_rows = getattr(script, f"load_{train}")(cfg), getattr(script, f"load_{val}")(
        cfg
    )
    assert (len(train_rows), len(val_rows)) == (12, 4)
    assert type(train_rows) is not type(val_rows)


def test_streamed_data_trains_exactly_like_data_in_memory(tmp_path, capsys):
    """`stream true` reads memory-mapped rows through a DataLoader; with the same order of
    samples the losses are those of the same data held in memory."""
    import numpy as np
    import torch

    g = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", (g.random((300, 1, 4, 4)) * 255).astype(np.uint8))
    np.save(tmp_path / "y.npy", g.integers(0, 3, 300))
    torch.save(
        {"x": torch.from_numpy(g.normal(size=(300, 16)).astype(np.float32))}, tmp_path / "f.pt"
    )
    body = """
    pixels = npy("x.npy")
    x = reshape(float(pixels) / 255, -1, 16) * 2 - 1
    y = npy("y.npy")
    batch 32
    shuffle false{stream}
"""
    source = tmp_path / "s.nn"
    source.write_text(
        "model A(x: [16]) { Linear(8) ReLU() Linear(3) }\n"
        "model B(x: [16]) { Linear(8) ReLU() Linear(3) }\n"
        "data memory {" + body.format(stream="") + "}\n"
        "data streamed {" + body.format(stream="\n    stream true") + "}\n"
        "train A on memory { loss cross_entropy epochs 2 }\n"
        "train B on streamed { loss cross_entropy epochs 2 }\n",
        encoding="utf-8",
    )
    assert nndsl(["run", str(source), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    script = (tmp_path / "r" / "b" / "train_b.py").read_text(encoding="utf-8")
    assert 'np.load(data_dir / "x.npy", mmap_mode="r")' in script
    assert "(torch.utils.data.Dataset)" in script  # the rows are read through a DataLoader
    a, b = last_metrics(tmp_path / "r" / "a"), last_metrics(tmp_path / "r" / "b")
    assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-6)
    assert a["accuracy"] == b["accuracy"]


def test_streamed_data_refuses_what_mixes_samples(tmp_path):
    import numpy as np

    from nndsl.compiler import analyze

    np.save(tmp_path / "x.npy", np.zeros((10, 4), dtype=np.float32))
    (tmp_path / "t.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    text = (
        'data d { x = npy("x.npy") m = mean(x, 0) t = csv("t.csv") w = randn(10, 4) '
        "y = x[:, 0] stream true }\n"
    )
    result = analyze(text, tmp_path)
    refused = [d.span.column for d in result.diagnostics if d.code == "E0409"]
    assert refused == [text.index(f) + 1 for f in ("mean", "csv(", "randn")]


def test_run_resume_continues_a_finished_run_for_more_epochs(tmp_path, capsys):
    path = EXAMPLES[0].parent / "iris.nn"
    assert nndsl(["run", str(path), "--out", str(tmp_path), "--quiet", "--epochs", "2"]) == 0
    first = (tmp_path / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert (
        nndsl(["run", str(path), "--out", str(tmp_path), "--quiet", "--epochs", "3", "--resume"])
        == 0
    )
    rows = (tmp_path / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4 and rows[:3] == first  # the two earlier epochs kept, one more trained
    assert "resuming from" in capsys.readouterr().err


def test_drop_last_drops_only_training_batches(tmp_path, capsys):
    """Validation data smaller than a batch is still evaluated, whole."""
    source = tmp_path / "d.nn"
    source.write_text(
        "model M(x: [2]) { Linear(3) }\n"
        "data d { x = randn(50, 2) y = randint(0, 3, 50) batch 32 drop_last true split 0.2 }\n"
        "train M on d { loss cross_entropy epochs 2 }\n",
        encoding="utf-8",
    )
    last = _run(source, tmp_path / "r")
    assert float(last["val_accuracy"]) * 10 == pytest.approx(
        round(float(last["val_accuracy"]) * 10)
    )
    script = (tmp_path / "r" / "train_m.py").read_text(encoding="utf-8")
    assert "drop_last=True" in script  # training only


def test_a_runtime_error_names_the_source_line(tmp_path, capsys):
    """Token ids beyond the embedding fail only on real data: the report leads to the layer.
    (Ids of values the checker knows, `randint(0, 20, ...)`, are E0426 at check.)"""
    source = tmp_path / "bag.nn"
    source.write_text(
        "model Bag(x: [5] long) {\n"
        "    emb = Embedding(10, 4)\n"
        "    Flatten()\n"
        "    out = Linear(2)\n"
        "}\n"
        "data tokens { x = long(abs(randn(100, 5)) * 20) y = randint(0, 2, 100) }\n"
        "train Bag on tokens { loss cross_entropy epochs 1 }\n",
        encoding="utf-8",
    )
    assert nndsl(["run", str(source), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "nndsl: training failed: IndexError" in err
    assert "in model.py, line " in err and "x = self.emb(x)" in err
    assert "from bag.nn:2: emb = Embedding(10, 4)" in err
    assert err.index("from bag.nn:2") < err.index("Traceback")  # the original error below


def test_final_weights_are_also_safetensors_tagged_with_the_source(tmp_path):
    import hashlib

    import torch
    from safetensors import safe_open

    path = EXAMPLES[0].parent / "tied.nn"
    _run(path, tmp_path, "--epochs", "1")
    pickled = torch.load(tmp_path / "model.pt", weights_only=True)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        meta = f.metadata()
        assert meta["source"] == "tied.nn"
        assert meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        for name in f.keys():
            assert torch.equal(f.get_tensor(name), pickled[name])


def test_conv_models_train_in_channels_last_memory(tmp_path, capsys):
    import torch

    source = tmp_path / "rgb.nn"
    source.write_text(
        "model Rgb(x: [3, 8, 8]) {\n    Conv2d(4, 3, padding=1)\n    ReLU()\n    Flatten()\n"
        "    Linear(2)\n}\n"
        "data d {\n    x = randn(32, 3, 8, 8)\n    y = randint(0, 2, 32)\n    batch 8\n}\n"
        "train Rgb on d {\n    loss cross_entropy\n    optimizer sgd(lr=0.1)\n    epochs 2\n}\n",
        encoding="utf-8",
    )
    module = load_scripts(source, tmp_path)["train_rgb"]
    data = {"x": torch.randn(32, 3, 8, 8), "y": torch.zeros(32, dtype=torch.long)}
    kit = module.kit
    run = kit.Run(parse(module, "--out-dir", str(tmp_path / "r")), "rgb")
    model = module.Rgb()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loop = kit.Loop(run, model, optimizer, module.step, channels_last=("x",))
    shuffled = list(loop.batches(data, 8, torch.Generator().manual_seed(0), False))
    assert all(b["x"].is_contiguous(memory_format=torch.channels_last) for b in shuffled)
    assert not data["x"].is_contiguous(memory_format=torch.channels_last)  # 3 channels: differs
    got = torch.cat([b["x"] for b in shuffled]).contiguous()  # the same samples, reordered
    order = torch.randperm(32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(got, data["x"][order])
    assert nndsl(["run", str(source), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    # a model without convolutions leaves the layout alone
    (tmp_path / "mlp").mkdir()
    mlp = load_scripts(EXAMPLES[0].parent / "mlp.nn", tmp_path / "mlp")["train_mlp"]
    assert "channels_last" not in Path(mlp.__file__).read_text(encoding="utf-8")


def test_early_stopping_without_validation_samples_is_one_line(tmp_path):
    """`--val-fraction 0` under `early_stop val_loss` ended in a KeyError after the first
    epoch; it is a one-line error naming the flag."""
    import subprocess
    import sys

    source = tmp_path / "net.nn"
    source.write_text(
        NET_AND_PAIRS + "train Net on pairs { loss mse epochs 3 early_stop val_loss }\n",
        encoding="utf-8",
    )
    source.write_text(source.read_text(encoding="utf-8").replace("batch 2", "batch 2 split 0.5"))
    assert nndsl(["compile", str(source), "-o", str(tmp_path / "model.py")]) == 0
    proc = subprocess.run(
        [sys.executable, "train_net.py", "--val-fraction", "0", "--out-dir", "r", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "early stopping watches val_loss" in proc.stderr and "Traceback" not in proc.stderr
