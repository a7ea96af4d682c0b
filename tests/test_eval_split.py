"""Held-out test data and metrics counted over an epoch: `test 0.1` and `test other` in a data
section, `metrics f1` and `f1(scores, targets)`, and what a run writes after training
(test_metrics.json, the confusion matrix), as checked and as run, against the same numbers
computed here by hand from the saved weights."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys

import pytest
import torch
import torch.nn.functional as F
from compiled import NET_AND_PAIRS

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze, generate_kit


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The support module, imported from the file every script gets."""
    path = tmp_path_factory.mktemp("kit") / "trainkit.py"
    path.write_text(generate_kit(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("kit_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name)


def macro_f1(targets: torch.Tensor, predicted: torch.Tensor) -> float:
    """scikit-learn's f1_score(average="macro"): the mean F1 over the labels among the
    targets and the predictions, a label's F1 0 where its precision and recall are."""
    scores = []
    for c in torch.cat([targets, predicted]).unique().tolist():
        scores.append(binary_f1(targets == c, predicted == c))
    return sum(scores) / len(scores)


def binary_f1(targets: torch.Tensor, predicted: torch.Tensor) -> float:
    """F1 of the positive class from the precision and recall, 0 where they are 0."""
    hits = (targets & predicted).sum().item()
    precision = hits / max(predicted.sum().item(), 1)
    recall = hits / max(targets.sum().item(), 1)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


# ---- the support module ---------------------------------------------------------------------


def test_a_confusion_matrix_has_a_row_per_true_class(kit):
    matrix = kit.confusion(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 0, 1, 0]), 3)
    assert matrix.dtype == torch.int64
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    # binary: of masks, shaped like the outputs
    masks = torch.tensor([[True], [False]]), torch.tensor([[True], [True]])
    assert kit.confusion(*masks, 2).tolist() == [[0, 1], [0, 1]]


def test_f1_of_counts_summed_over_batches_is_the_macro_f1_of_all_predictions(kit):
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 4, (500,), generator=g)  # class 4 is never a target...
    guesses = torch.randint(0, 5, (500,), generator=g)
    predicted = torch.where(torch.rand(500, generator=g) < 0.6, targets, guesses)
    predicted[predicted == 4] = 3  # ... nor predicted: it is left out, as scikit-learn does
    pending, sums = [], {}
    for y, p in zip(targets.split(64), predicted.split(64)):
        terms = {"loss": torch.tensor(1.0), "counts/f1": kit.confusion(y, p, 5)}
        kit.keep(pending, sums, terms, len(y))
    kit.measure(pending, sums)
    metrics = kit.summarize(sums)
    assert list(metrics) == ["loss", "f1"]
    assert sums["counts/f1"].sum() == 500
    assert metrics["f1"] == pytest.approx(macro_f1(targets, predicted), abs=1e-12)
    # the mean of each batch's F1 is another number: F1 must come from the summed counts
    batches = [macro_f1(y, p) for y, p in zip(targets.split(64), predicted.split(64))]
    assert abs(sum(batches) / len(batches) - metrics["f1"]) > 1e-4


def test_metrics_of_each_sample_average_as_the_batch_means_weighted_by_samples(kit):
    """A step's per-sample values (`out.argmax(1) == y`, per-token ones of sequences whose
    length varies by batch) count as each batch's mean, weighted by its samples, as a 0-dim
    mean does; the same numbers whether added up every batch or in one reduction."""
    g = torch.Generator().manual_seed(1)
    batches = []
    for n, t in ((64, 5), (64, 7), (13, 3)):  # the last batch smaller, its sequences shorter
        right = torch.rand(n, generator=g) < 0.7
        tokens = torch.rand(n, t, generator=g) < 0.4
        error = torch.rand(n, 2, generator=g)
        batches.append((n, right, tokens, error))
    want = {"loss": 0.0, "accuracy": 0.0, "token_accuracy": 0.0, "mae": 0.0}
    pending, sums, each = [], {}, {}
    for n, right, tokens, error in batches:
        terms = {
            "loss": error.mean(),
            "accuracy": right,
            "token_accuracy": tokens,
            "mae": error,
        }
        for key, value in terms.items():
            want[key] += value.double().mean().item() * n
        kit.keep(pending, sums, terms, n)
        kit.measure([(n, terms)], each)  # added up batch by batch
    kit.measure(pending, sums)
    samples = sum(b[0] for b in batches)
    got, one_by_one = kit.summarize(sums), kit.summarize(each)
    assert list(got) == list(want)
    for key, total in want.items():
        assert got[key] == pytest.approx(total / samples, abs=1e-12)
        assert one_by_one[key] == pytest.approx(total / samples, abs=1e-12)
    # the right answers of the first batch: the mean of 64 booleans, counted exactly
    alone: dict = {}
    kit.measure([(64, {"accuracy": batches[0][1]})], alone)
    assert kit.summarize(alone)["accuracy"] == batches[0][1].sum().item() / 64


def test_per_sample_values_wait_only_until_they_hold_held_elements(kit):
    """Outputs as large as images are added up long before 256 batches wait, so that the
    pending values never hold much more than `HELD` elements."""
    big = torch.zeros(4, kit.HELD // 16)  # a quarter of HELD per batch
    pending, sums = [], {}
    for _ in range(3):
        kit.keep(pending, sums, {"loss": torch.tensor(1.0), "mae": big}, 4)
    assert len(pending) == 3 and not sums
    kit.keep(pending, sums, {"loss": torch.tensor(1.0), "mae": big}, 4)
    assert len(pending) == 4  # exactly HELD elements wait: not more than HELD
    kit.keep(pending, sums, {"loss": torch.tensor(1.0), "mae": big}, 4)
    assert pending == [] and sums["samples"] == 20
    assert kit.summarize(sums) == {"loss": 1.0, "mae": 0.0}
    small = {"loss": torch.tensor(2.0), "accuracy": torch.ones(64, dtype=torch.bool)}
    for _ in range(255):
        kit.keep(pending, sums, small, 64)
    assert len(pending) == 255  # small values wait for 256 batches
    kit.keep(pending, sums, small, 64)
    assert pending == []


def test_f1_of_two_classes_is_the_f1_of_class_1(kit):
    targets = torch.tensor([1, 1, 1, 0, 0, 0, 0, 1])
    predicted = torch.tensor([1, 0, 0, 0, 1, 0, 0, 1])
    matrix = kit.confusion(targets > 0, predicted > 0, 2)
    assert kit.f1_score(matrix) == pytest.approx(binary_f1(targets > 0, predicted > 0))
    assert kit.f1_score(torch.zeros(2, 2, dtype=torch.int64)) == 0.0  # no positives at all


def test_the_test_split_is_disjoint_from_training_and_validation_and_seeded(kit):
    data = {"i": torch.arange(100), "y": torch.arange(100) % 3}
    train, val, test = kit.train_val_test(data, 0.2, 0.1, seed=3)
    parts = [set(part["i"].tolist()) for part in (train, val, test)]
    assert [len(p) for p in parts] == [70, 20, 10]
    assert set.union(*parts) == set(range(100))
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert torch.equal(kit.train_val_test(data, 0.2, 0.1, seed=3)[2]["i"], test["i"])
    assert not torch.equal(kit.train_val_test(data, 0.2, 0.1, seed=4)[2]["i"], test["i"])
    # the test samples do not depend on the validation split
    for val_fraction in (0.0, 0.5):
        assert torch.equal(kit.train_val_test(data, val_fraction, 0.1, 3)[2]["i"], test["i"])
    assert torch.equal(kit.split(data, 0.1, 3)[1]["i"], test["i"])
    # a streamed Dataset holds out the same samples
    rows = torch.utils.data.TensorDataset(torch.arange(100))
    streamed = kit.train_val_test(rows, 0.2, 0.1, seed=3)
    for held, part in zip(streamed, (train, val, test)):
        assert sorted(held.indices) == sorted(part["i"].tolist())
    with pytest.raises(SystemExit, match="hold out all 100 samples"):
        kit.train_val_test(data, 0.5, 0.5, seed=3)


def test_split_alone_holds_out_what_it_did_before(kit):
    """Scripts without test data keep their validation samples."""
    data = {"i": torch.arange(50)}
    order = torch.randperm(50, generator=torch.Generator().manual_seed(7))
    train, val = kit.split(data, 0.2, 7)
    assert torch.equal(val["i"], order[:10]) and torch.equal(train["i"], order[10:])


# ---- a run with test data -----------------------------------------------------------------------

CLASSIFIER = """
model Four(x: [6]) {
    hidden = Linear(16)
    ReLU()
    out = Linear(4)
}

data blobs {
    x = randn(1500, 6)
    y = argmax(x[:, 0:4] + 0.6 * randn(1500, 4), 1)
    classes ["north", "east", "south", "west"]
    batch 50
    split 0.2
    test 0.2
    seed 5
}

train Four on blobs {
    loss cross_entropy
    optimizer adam(lr=0.01)
    epochs 4
    metrics accuracy, f1
    seed 2
}
"""


def load_run(folder):
    """The generated model and script of a run folder, imported from it."""
    sys.path.insert(0, str(folder))
    try:
        modules = {}
        for name in ("trainkit", "model", *(p.stem for p in folder.glob("train_*.py"))):
            spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
            modules[name] = importlib.util.module_from_spec(spec)
            sys.modules[name] = modules[name]
            spec.loader.exec_module(modules[name])
        return modules
    finally:
        sys.path.remove(str(folder))
        for name in ("trainkit", "model"):
            sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """CLASSIFIER trained once: its run folder, what it printed, and the test data and the
    best weights' scores on it, computed here."""
    folder = tmp_path_factory.mktemp("blobs") / "run"
    (folder.parent / "blobs.nn").write_text(CLASSIFIER, encoding="utf-8")
    assert nndsl(["run", str(folder.parent / "blobs.nn"), "--out", str(folder)]) == 0
    modules = load_run(folder)
    script = modules["train_four"]
    cfg = script.kit.parse_args(script.Config, script.__doc__, [])
    _, val, test = script.kit.train_val_test(
        script.load_blobs(cfg), cfg.val_fraction, cfg.test_fraction, cfg.seed
    )
    model = modules["model"].Four()
    model.load_state_dict(torch.load(folder / "best.pt", weights_only=True))
    with torch.no_grad():
        scores = {"val": model.eval()(val["x"]), "test": model(test["x"])}
    return folder, {"val": val, "test": test}, scores


def test_the_best_weights_are_tested_and_the_final_ones_kept(kit, tmp_path):
    """A run whose best epoch is not its last: the test metrics are best.pt's, while the model
    and model.pt keep the final weights."""
    evaluations = []

    def step(model, batch):
        out, y = model(batch["x"]), batch["y"]
        loss = F.cross_entropy(out, y)
        if not model.training:  # each evaluation looks worse than the one before
            evaluations.append(1)
            loss = loss + 10 * len(evaluations)
        return {"loss": loss, "counts/f1": kit.confusion(y, out.argmax(1), 3)}

    g = torch.Generator().manual_seed(0)
    x = torch.randn(90, 2, generator=g)
    data = {"x": x, "y": (x[:, 0] > 0).long() + (x[:, 1] > 0).long()}
    train, val, test = kit.train_val_test(data, 0.2, 0.2, seed=0)
    cfg = kit.Config(epochs=3, batch_size=10, lr=0.1, out_dir=str(tmp_path / "r"), quiet=True)
    run = kit.Run(cfg, "net")
    model = torch.nn.Linear(2, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    metrics = run.train(model, optimizer, step, train, val, test, classes=["a", "b", "c"])
    best = torch.load(tmp_path / "r" / "best.pt", weights_only=True)
    final = torch.load(tmp_path / "r" / "model.pt", weights_only=True)
    assert not torch.equal(best["weight"], final["weight"])  # best epoch 1 of 3
    assert torch.equal(model.weight.detach(), final["weight"])
    report = json.loads((tmp_path / "r" / "test_metrics.json").read_text(encoding="utf-8"))
    assert report["epoch"] == 1 and report["test_f1"] == metrics["test_f1"]
    with torch.no_grad():
        out = test["x"] @ best["weight"].T + best["bias"]
    assert report["test_loss"] == pytest.approx(
        F.cross_entropy(out, test["y"]).item() + 10 * len(evaluations), rel=1e-6
    )
    assert report["test_f1"] == pytest.approx(macro_f1(test["y"], out.argmax(1)), abs=1e-9)
    header = (tmp_path / "r" / "test_confusion.csv").read_text().splitlines()[0]
    assert header == "true \\ predicted,a,b,c"


def test_the_script_holds_out_test_data_and_counts_a_confusion_matrix(tmp_path):
    (tmp_path / "blobs.nn").write_text(CLASSIFIER, encoding="utf-8")
    assert nndsl(["compile", str(tmp_path / "blobs.nn"), "-o", str(tmp_path / "model.py")]) == 0
    script = (tmp_path / "train_four.py").read_text(encoding="utf-8")
    assert "test_fraction: float = 0.2  # of the data held out to test" in script
    assert '"counts/f1": kit.confusion(y, out.argmax(1), 4),' in script
    assert "data, val_data, test_data = kit.train_val_test(" in script
    assert 'classes=["north", "east", "south", "west"]' in script


def test_test_metrics_are_those_of_the_best_weights_on_the_test_data(trained, capsys):
    folder, data, scores = trained
    y, out = data["test"]["y"], scores["test"]
    report = json.loads((folder / "test_metrics.json").read_text(encoding="utf-8"))
    with open(folder / "metrics.csv", newline="") as f:
        history = list(csv.DictReader(f))
    best = min(history, key=lambda row: float(row["val_loss"]))
    assert report["weights"] == "best.pt" and report["epoch"] == int(best["epoch"])
    assert report["samples"] == len(y) == 300  # evaluated in two batches, 256 and 44
    assert report["test_loss"] == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-5)
    predicted = out.argmax(1)
    assert report["test_accuracy"] == pytest.approx((predicted == y).float().mean().item())
    assert report["test_f1"] == pytest.approx(macro_f1(y, predicted), abs=1e-9)
    north = report["classes"]["north"]
    assert north["support"] == (y == 0).sum().item()
    assert north["f1"] == pytest.approx(binary_f1(y == 0, predicted == 0), abs=1e-6)


def test_the_confusion_matrix_is_the_best_weights_on_the_test_data(trained):
    folder, data, scores = trained
    y, predicted = data["test"]["y"], scores["test"].argmax(1)
    with open(folder / "test_confusion.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", "north", "east", "south", "west"]
    assert [r[0] for r in rows[1:]] == ["north", "east", "south", "west"]
    by_hand = [[((y == t) & (predicted == p)).sum().item() for p in range(4)] for t in range(4)]
    assert [[int(n) for n in r[1:]] for r in rows[1:]] == by_hand
    assert (folder / "test_confusion.png").read_bytes().startswith(b"\x89PNG")
    assert not (folder / "val_confusion.csv").exists()


def test_f1_is_logged_each_epoch_and_counts_are_not(trained):
    folder, data, scores = trained
    with open(folder / "metrics.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert list(history[0]) == [
        "epoch", "loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1", "seconds"
    ]  # fmt: skip
    best = min(history, key=lambda row: float(row["val_loss"]))
    y, predicted = data["val"]["y"], scores["val"].argmax(1)
    assert float(best["val_f1"]) == pytest.approx(macro_f1(y, predicted), abs=1e-9)
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert rows and all("loss" in r and not any("counts" in k for k in r) for r in rows)


def test_eval_tests_the_weights_it_is_given(trained, tmp_path, capsys):
    folder, _, _ = trained
    source, out = folder.parent / "blobs.nn", tmp_path / "eval"
    assert nndsl(["run", str(source), "--out", str(out), "--eval", str(folder / "best.pt")]) == 0
    printed = capsys.readouterr().out
    assert f"({folder / 'best.pt'})" in printed and "test_f1 " in printed
    mine = json.loads((out / "test_metrics.json").read_text(encoding="utf-8"))
    theirs = json.loads((folder / "test_metrics.json").read_text(encoding="utf-8"))
    assert mine["epoch"] is None and mine["weights"] == str(folder / "best.pt")
    assert {k: v for k, v in mine.items() if k.startswith("test_")} == pytest.approx(
        {k: v for k, v in theirs.items() if k.startswith("test_")}
    )
    assert (out / "test_confusion.csv").read_text() == (folder / "test_confusion.csv").read_text()


def test_the_run_says_which_weights_it_tested(tmp_path, capsys):
    source = tmp_path / "blobs.nn"
    source.write_text(CLASSIFIER.replace("epochs 4", "epochs 2"), encoding="utf-8")
    assert nndsl(["run", str(source), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last[last.index("test_f1") + 1]  # --quiet: one line, the test metrics at its end
    assert nndsl(["run", str(source), "--out", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert "test_loss " in printed and "  (best.pt, epoch " in printed
    assert "held out: " in printed and "test_metrics.json, test_confusion.csv" in printed


# ---- other forms: `test other`, binary F1, F1 of another head -----------------------------------

TEST_OTHER = """
model Two(x: [3]) {
    Linear(2)
}

data train_rows {
    x = randn(64, 3)
    y = argmax(x[:, 0:2], 1)
    split 0.25
}

data exam {
    x = randn(40, 3)
    y = argmax(x[:, 0:2], 1)
}

train Two on train_rows {
    loss cross_entropy
    epochs 2
}
"""


def test_test_other_tests_on_that_data_section(tmp_path):
    source = TEST_OTHER.replace("    split 0.25\n", "    split 0.25\n    test exam\n")
    result = analyze(source, tmp_path)
    assert result.ok and not result.diagnostics, [d.message for d in result.diagnostics]
    (tmp_path / "two.nn").write_text(source, encoding="utf-8")
    assert nndsl(["run", str(tmp_path / "two.nn"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    script = (tmp_path / "r" / "train_two.py").read_text(encoding="utf-8")
    assert "    test_data = load_exam(cfg)\n" in script and "test_fraction" not in script
    report = json.loads((tmp_path / "r" / "test_metrics.json").read_text(encoding="utf-8"))
    assert report["samples"] == 40 and "test_accuracy" in report
    # no f1, but a classifier with test data: its confusion matrix, by class id
    rows = (tmp_path / "r" / "test_confusion.csv").read_text().splitlines()
    assert rows[0] == "true \\ predicted,0,1" and len(rows) == 3
    assert "f1" not in report and "f1" not in (tmp_path / "r" / "metrics.csv").read_text()


def test_a_test_fraction_beside_validation_data_is_held_out_of_the_training_data(tmp_path):
    source = TEST_OTHER.replace("    split 0.25\n", "    validation exam\n    test 0.25\n")
    (tmp_path / "two.nn").write_text(source, encoding="utf-8")
    assert nndsl(["run", str(tmp_path / "two.nn"), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    script = (tmp_path / "r" / "train_two.py").read_text(encoding="utf-8")
    split = "    data, test_data = kit.split(load_train_rows(cfg), cfg.test_fraction, cfg.seed)\n"
    assert split + "    val_data = load_exam(cfg)\n" in script
    report = json.loads((tmp_path / "r" / "test_metrics.json").read_text(encoding="utf-8"))
    assert report["samples"] == 16  # of the 64 training rows
    header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,accuracy,val_loss,val_accuracy,seconds"


BINARY = """
model Coin(x: [4]) {
    Linear(8) ReLU()
    Linear(1)
}

data coins {
    x = randn(400, 4)
    y = float(sum(x, 1, keepdim=true) > 0.3)
    split 0.5
}

train Coin on coins {
    loss bce_with_logits
    metrics f1
    epochs 3
}
"""


def test_binary_f1_is_the_f1_of_class_1_and_writes_the_validation_matrix(tmp_path):
    (tmp_path / "coin.nn").write_text(BINARY, encoding="utf-8")
    folder = tmp_path / "r"
    assert nndsl(["run", str(tmp_path / "coin.nn"), "--out", str(folder), "--quiet"]) == 0
    script = (folder / "train_coin.py").read_text(encoding="utf-8")
    assert '"counts/f1": kit.confusion(y > 0.5, out > 0, 2),' in script
    modules = load_run(folder)
    script = modules["train_coin"]
    cfg = script.kit.parse_args(script.Config, script.__doc__, [])
    _, val = script.kit.split(script.load_coins(cfg), cfg.val_fraction, cfg.seed)
    model = modules["model"].Coin()
    model.load_state_dict(torch.load(folder / "best.pt", weights_only=True))
    with torch.no_grad():
        predicted = model.eval()(val["x"]) > 0
    with open(folder / "metrics.csv", newline="") as f:
        history = list(csv.DictReader(f))
    best = min(history, key=lambda row: float(row["val_loss"]))
    assert float(best["val_f1"]) == pytest.approx(binary_f1(val["y"] > 0.5, predicted))
    # without test data: the validation data's confusion matrix, and no test_metrics.json
    rows = list(csv.reader((folder / "val_confusion.csv").open()))
    tp = ((val["y"] > 0.5) & predicted).sum().item()
    assert rows[0] == ["true \\ predicted", "0", "1"] and int(rows[2][2]) == tp
    assert not (folder / "test_metrics.json").exists()


def test_f1_of_another_head_is_a_call(tmp_path):
    source = """
model Heads(x: [4]) {
    body = Linear(8)
    kinds = Linear(3)
    odd = Linear(1)
    forward {
        h = relu(body(x))
        return kinds(h), odd(h)
    }
}

data d {
    x = randn(120, 4)
    y = argmax(x[:, 0:3], 1)
    z = float(x[:, 3:4] > 0)
    split 0.25
}

train Heads on d {
    loss cross_entropy(out, y) + bce_with_logits(out1, z)
    metrics f1, f1(out1, z, threshold=0)
    early_stop val_f1, patience=3
    epochs 2
}
"""
    (tmp_path / "heads.nn").write_text(source, encoding="utf-8")
    folder = tmp_path / "r"
    assert nndsl(["run", str(tmp_path / "heads.nn"), "--out", str(folder), "--quiet"]) == 0
    script = (folder / "train_heads.py").read_text(encoding="utf-8")
    assert '"counts/f1": kit.confusion(y, out.argmax(1), 3),' in script
    assert '"counts/f1/out1": kit.confusion(z > 0.5, out1 > 0, 2),' in script
    assert 'early_stop=kit.EarlyStop("val_f1", cfg.patience, mode="max")' in script
    header = (folder / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"f1", "f1/out1", "val_f1", "val_f1/out1"} <= set(header)
    # the confusion matrix written is the loss's own head's
    assert len((folder / "val_confusion.csv").read_text().splitlines()) == 4


# ---- diagnostics -------------------------------------------------------------------------------


def _data(*settings: str) -> str:
    """NET_AND_PAIRS with more data settings, trained by a regression loss."""
    lines = "".join(f"    {s}\n" for s in settings)
    return NET_AND_PAIRS.replace("    batch 2\n", "    batch 2\n" + lines) + (
        "train Net on pairs {\n    loss mse\n}\n"
    )


# the settings go on line 12 (the second on 13), after `batch 2`
BAD = [
    (_data("test 0"), "E0125", (12, 10)),
    (_data("test 1.5"), "E0125", (12, 10)),
    (_data("test -0.1"), "E0125", (12, 10)),
    (_data("test true"), "E0106", (12, 10)),
    (_data('test "half"'), "E0106", (12, 10)),
    (_data("split 0.5", "test 0.5"), "E0125", (13, 5)),
    (_data("test 0.1", "test 0.2"), "E0105", (13, 5)),
    (_data("test nowhere"), "E0401", (12, 5)),
    (_data("test pairs"), "E0413", (12, 5)),
    (_data("test 0.4", "split 0.4"), "E0418", (13, 5)),  # 2 + 2 of 4 samples: none left
]


@pytest.mark.parametrize(
    "source, code, where", BAD, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(BAD)]
)
def test_bad_test_settings_are_located(tmp_path, source, code, where):
    result = analyze(source, tmp_path)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert errors and errors[0].code == code, [(d.code, d.message) for d in errors]
    assert (errors[0].span.line, errors[0].span.column) == where, errors[0].message


def test_test_naming_the_validation_data_is_refused(tmp_path):
    source = TEST_OTHER.replace("    split 0.25\n", "    validation exam\n    test exam\n")
    errors = [d for d in analyze(source, tmp_path).diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["E0413"]
    assert "tested on `exam`, its validation data" in errors[0].message


def test_f1_of_a_regression_is_refused_but_a_call_compares_two_tensors(tmp_path):
    source = _data().replace("    loss mse\n", "    loss mse\n    metrics f1\n")
    errors = [d for d in analyze(source, tmp_path).diagnostics if d.severity == "error"]
    line = source.splitlines().index("    metrics f1") + 1
    assert errors and errors[0].code == "E0405" and errors[0].span.line == line
    # as `accuracy(a, b)` does, the call form counts the values on each side of a threshold
    source = source.replace("metrics f1", "metrics f1(out, y, threshold=10)")
    result = analyze(source, tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]
    ((key, expr),) = result.program.trains[0].metric_exprs
    assert key == "counts/f1" and expr.func.attr == "confusion"


def test_a_section_of_steps_takes_no_test_data(tmp_path):
    from pathlib import Path

    gan = (Path(__file__).resolve().parent.parent / "examples" / "digits_gan.nn").read_text()
    source = gan.replace("    batch 64\n", "    batch 64\n    test 0.1\n")
    assert source != gan
    examples = Path(__file__).resolve().parent.parent / "examples"
    errors = [d for d in analyze(source, examples).diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["E0423"] and "holds `test`" in errors[0].message


def test_a_held_out_classifier_whose_scores_do_not_fit_is_a_diagnostic():
    """A head too small for the classes (and the f1 and test split that need its confusion
    matrix) crashed the checker after reporting E0406: the confusion matrix read the type of
    scores that had failed."""
    from compiled import ROOT

    source = (ROOT / "examples" / "iris.nn").read_text(encoding="utf-8")
    result = analyze(source.replace("out = Linear(3)", "out = Linear(2)"), ROOT / "examples")
    assert not result.ok
    assert {"E0406", "E0421"} <= {d.code for d in result.diagnostics}
