"""The data's sizes against the layers whose run depends on them: a batch norm trained on a
batch of one sample (torch: "Expected more than 1 value per channel when training"), and an
Embedding read at ``arange(T)`` with fewer rows than the data makes ``T``. Both checked clean
and then died in torch with a traceback; now E0425 and E0426 at check, and a one-line error
from the training script where only the run knows the batch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from compiled import EXAMPLES, ROOT
from fuzzing import check_source, check_training

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze

EXAMPLES_DIR = EXAMPLES[0].parent


DENSE = "Linear(8, bias=false)\n    BatchNorm1d()\n    ReLU()"


def norm_program(
    body: str = DENSE,
    inputs: str = "x: [4]",
    samples: int = 9,
    batch: str = "batch 4",
    more: str = "",
) -> str:
    """A model of `body` then a Linear, trained on `samples` random samples."""
    shape = inputs.split("[")[1].rstrip("]")
    return (
        f"model M({inputs}) {{\n    {body}\n    Linear(1)\n}}\n\n"
        f"data d {{\n    x = randn({samples}, {shape})\n    y = randn({samples}, 1)\n"
        f"    {batch}\n{more}}}\n\n"
        "train M on d {\n    loss mse\n    epochs 1\n}\n"
    )


IMAGE = "BatchNorm2d()\n    Flatten()"
SEQUENCE = "BatchNorm1d()\n    Flatten()"
NORM_CASES = [
    # a BatchNorm1d over (B, C): one value per channel at one sample
    ("last_batch_of_one", norm_program(), "E0425"),
    ("batch_1", norm_program(batch="batch 1"), "E0425"),
    ("only_one_sample", norm_program(samples=1, batch="batch 1"), "E0425"),
    ("split_leaves_one", norm_program(samples=4, batch="batch 2", more="    split 0.75\n"), "E0425"),
    ("test_leaves_a_last_one", norm_program(samples=10, more="    test 0.1\n"), "E0425"),
    ("default_batch_of_65", norm_program(samples=65, batch=""), "E0425"),
    ("over_c_by_1", norm_program(SEQUENCE, "x: [3, 1]"), "E0425"),
    ("instance_norm_one_position", norm_program("InstanceNorm1d()\n    Flatten()", "x: [3, 1]", batch="batch 3"), "E0425"),
    # every batch holds at least two samples, or each sample has several values per channel
    ("drop_last", norm_program(more="    drop_last true\n"), None),
    ("batches_of_two_or_more", norm_program(samples=10), None),
    ("split_leaves_two", norm_program(samples=4, batch="batch 2", more="    split 0.5\n"), None),
    ("validation_of_one", norm_program(samples=5, batch="batch 2", more="    split 0.2\n"), None),
    ("over_c_by_l", norm_program(SEQUENCE, "x: [3, 2]", batch="batch 1"), None),
    ("image_batch_1", norm_program(IMAGE, "x: [2, 3, 3]", batch="batch 1"), None),
    ("image_of_one_pixel", norm_program(IMAGE, "x: [2, 1, 1]", batch="batch 1"), "E0425"),
    ("layer_norm_batch_1", norm_program("Linear(8)\n    LayerNorm()", batch="batch 1"), None),
]  # fmt: skip


@pytest.mark.parametrize("name, source, expected", NORM_CASES, ids=[c[0] for c in NORM_CASES])
def test_batch_norm_sizes(tmp_path, name, source, expected):
    result = check_source(source, tmp_path)
    errors = [d.code for d in result.diagnostics if d.severity == "error"]
    if expected is None:
        assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
        assert check_training(result, tmp_path / "run", tmp_path) == 1  # one step in torch
    else:
        assert errors == [expected], [f"{d.code} {d.message}" for d in result.diagnostics]


def _error(source: str, base=None):
    result = analyze(source, base)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1, [f"{d.code} {d.message}" for d in result.diagnostics]
    return errors[0]


def _fixed(source: str, fix) -> str:
    lines = source.splitlines(keepends=True)
    line = lines[fix.span.line - 1]
    lines[fix.span.line - 1] = (
        line[: fix.span.column - 1] + fix.text + line[fix.span.end_column - 1 :]
    )
    return "".join(lines)


def test_a_last_batch_of_one_is_located_at_the_batch_and_names_the_layer():
    d = _error(
        norm_program().replace("Linear(8, bias=false)\n    BatchNorm1d()", "bn = BatchNorm1d()")
    )
    assert (d.code, d.span.line) == ("E0425", 10), d  # `batch 4`
    assert "9 training samples in batches of 4" in d.message and "`bn`" in d.message, d.message
    assert "drop_last true" in d.help and "batch 2" not in d.help, d.help  # 9 % 2 is 1 again
    assert [label.span.line for label in d.labels] == [2], d.labels  # the layer


@pytest.mark.parametrize("samples, better", [(9, 3), (7, 4), (10, 2)])
def test_batch_1_offers_a_batch_that_leaves_no_sample_alone(samples, better):
    source = norm_program(samples=samples, batch="batch 1")
    d = _error(source)
    assert d.fix is not None and d.fix.text == f"batch {better}", d
    assert analyze(_fixed(source, d.fix)).ok


GPT = (EXAMPLES_DIR / "gpt.nn").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "rows, read, expected",
    [
        (2, "wpe(arange(T))", "0 .. 63"),
        (64, "wpe(arange(T) + 1)", "1 .. 64"),
        (65, "wpe(arange(T) + 1)", None),
        (63, "wpe(arange(T - 1))[:1]", None),
        (62, "wpe(arange(T - 1))[:1]", "0 .. 62"),
        (64, "wpe(T - 1 - arange(T))", None),
        (64, "wpe(T - arange(T))", "1 .. 64"),
    ],
)
def test_an_embedding_read_at_sizes_the_data_fixes(rows, read, expected):
    source = GPT.replace("wpe = Embedding(64, 64)", f"wpe = Embedding({rows}, 64)")
    source = source.replace("wpe(arange(T))", read)
    result = analyze(source, EXAMPLES_DIR)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if expected is None:
        assert result.ok, [f"{d.code} {d.message}" for d in errors]
        return
    assert [d.code for d in errors] == ["E0426"], [f"{d.code} {d.message}" for d in errors]
    d = errors[0]
    assert f"ids {expected}" in d.message and "T is 64 in data `sonnets`" in d.message, d.message
    line = next(i for i, t in enumerate(source.splitlines(), 1) if read in t)
    index = read[4:].rsplit(")", 1)[0]
    assert source.splitlines()[line - 1][d.span.column - 1 :].startswith(index), d.span
    assert d.span.line == line, d
    data_line = next(i for i, t in enumerate(source.splitlines(), 1) if "idx = windows" in t)
    assert {label.span.line for label in d.labels} >= {data_line}, d.labels
    assert d.fix is not None and analyze(_fixed(source, d.fix), EXAMPLES_DIR).ok, d.fix


def test_an_embedding_in_a_block_is_checked_with_the_callers_sizes():
    source = (
        "block Pos {\n    pe = Embedding(4, 16)\n    forward(x) = x + pe(arange(L))\n}\n"
        "model M(idx: [L] long) {\n    emb = Embedding(10, 16)\n    pos = Pos()\n"
        "    out = Linear(10)\n    forward {\n        return out(pos(emb(idx)))\n    }\n}\n"
        "data d {\n    idx = randint(0, 10, 16, 6)\n    y = randint(0, 10, 16, 6)\n    batch 4\n}\n"
        "train M on d {\n    loss cross_entropy(flatten(out, 0, 1), flatten(y))\n}\n"
    )
    d = _error(source)
    assert d.code == "E0426" and "L is 6" in d.message and d.span.line == 3, d
    assert analyze(source.replace("Embedding(4, 16)", "Embedding(6, 16)")).ok


@pytest.fixture(scope="module")
def kit():
    """templates/trainkit.py as a module of its own."""
    spec = importlib.util.spec_from_file_location(
        "trainkit_sizes", ROOT / "templates" / "trainkit.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_the_kit_says_a_batch_norm_batch_of_one_in_one_line(kit):
    import torch

    batch = {"x": torch.randn(1, 3)}
    try:
        torch.nn.BatchNorm1d(3)(batch["x"])
    except ValueError as err:
        refused = err
    one = kit.one_sample_error(refused, batch, 1)
    assert isinstance(one, SystemExit) and str(one).startswith(
        "error: a training batch of 1 sample "
    )
    assert "--batch-size" in str(one) and "drop_last" in str(one) and "\n" not in str(one)
    assert "per process (2 processes)" in str(kit.one_sample_error(refused, batch, 2))
    assert kit.one_sample_error(ValueError("something else"), batch, 1) is None
    wrapped = RuntimeError(f"Failed running call_function batch_norm: {refused}")
    assert str(kit.one_sample_error(wrapped, batch, 1)) == str(one)  # as torch.compile says it


def test_batch_size_1_on_the_command_line_is_one_line(tmp_path):
    """The checker passes `batch 4`; `--batch-size 1` is only known to the run. Evaluation,
    in eval mode, takes the one validation sample of each epoch."""
    source = tmp_path / "net.nn"
    source.write_text(norm_program(samples=9, batch="batch 4", more="    split 0.12\n"), "utf-8")
    assert nndsl(["compile", str(source), "-o", str(tmp_path / "model.py")]) == 0
    run = [sys.executable, "train_m.py", "--quiet", "--device", "cpu", "--max-steps", "1"]
    proc = subprocess.run(
        run + ["--batch-size", "1", "--out-dir", "a"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: a training batch of 1 sample")
    proc = subprocess.run(
        run + ["--out-dir", "b"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def ids_program(read: str = "emb(idx)", rows: int = 5, ids: str = "randint(0, 10, 20, 8)") -> str:
    return (
        f"model M(idx: [T] long) {{\n    emb = Embedding({rows}, 16)\n    out = Linear(10)\n"
        f"    forward {{\n        return out({read})\n    }}\n}}\n"
        f"data d {{\n    idx = {ids}\n    y = randint(0, 10, 20, 8)\n    batch 4\n}}\n"
        "train M on d { loss cross_entropy(flatten(out, 0, 1), flatten(y)) epochs 1 }\n"
    )


@pytest.mark.parametrize(
    "source, expected",
    [
        (ids_program(), "ids 0 .. 9 (`idx` holds 0 .. 9 in data `d`)"),
        (ids_program("emb(idx - 5)"), "ids -5 .. 4"),
        (ids_program("emb(idx + 1)", rows=10), "ids 1 .. 10"),
        (ids_program(rows=10), None),
        (ids_program("emb(idx % 5)"), None),  # its range, [0, 5], is only a bound
        (ids_program("emb(idx // 2)"), None),
        (ids_program(ids="randint(0, 10, 20, 8) // 2"), None),
        (ids_program(ids="randint(0, 10, 20, 8) + 1", rows=10), "ids 1 .. 10"),
    ],
)
def test_data_fed_ids_against_the_rows(tmp_path, source, expected):
    """Ids the data holds are checked as the positions `arange(T)` makes; a range that is only
    a bound on the values (after `%` or `//`) refuses nothing."""
    result = check_source(source, tmp_path)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if expected is None:
        assert result.ok, [f"{d.code} {d.message}" for d in errors]
        assert check_training(result, tmp_path / "run", tmp_path) == 1
        return
    assert [d.code for d in errors] == ["E0426"] and expected in errors[0].message, errors
    if "-5" not in expected:
        fixed = _fixed(source, errors[0].fix)
        assert analyze(fixed).ok, fixed


POSITIONS = """model M(idx: [T] long) {
    emb = Embedding(10, 16)
    pe = Embedding(8, 16)
    out = Linear(10)
    forward {
        return out(emb(idx) + pe(arange(T)))
    }
}
data d {
    idx = randint(0, 10, 20, 8)
    y = randint(0, 10, 20, 8)
    batch 4
}
data more {
    idx = randint(0, 10, 6, LENGTH)
}
train M on d {
    loss cross_entropy(flatten(out, 0, 1), flatten(y))
    epochs 1
    PREDICT
}
"""


@pytest.mark.parametrize(
    "length, predict, expected",
    [
        (8, "predict [[1, 2, 3, 4, 5, 6, 7, 8, 9, 1]]", "T is 10 in `predict`"),
        (8, "predict [[1, 2, 3, 4, 5, 6, 7, 8]]", None),
        (
            8,
            "predict [[1, 2, 3, 4, 5, 6, 7, 12]]",
            "`idx` holds 0 .. 9 in data `d` and 1 .. 12 in `predict`",
        ),
        (12, "predict more", "T is 12 in data `more`"),
        (6, "predict more", None),
    ],
)
def test_what_predict_feeds_fixes_the_sizes_too(tmp_path, length, predict, expected):
    """Rows to predict after training, or a data section to predict, of another length than
    the training samples: the IndexError came after the whole training run."""
    source = POSITIONS.replace("LENGTH", str(length)).replace("PREDICT", predict)
    result = check_source(source, tmp_path)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if expected is None:
        assert result.ok, [f"{d.code} {d.message}" for d in errors]
        return
    assert [d.code for d in errors] == ["E0426"] and expected in errors[0].message, errors
    predict_line = next(i for i, t in enumerate(source.splitlines(), 1) if "predict" in t)
    if "predict [" in predict:
        assert predict_line in {label.span.line for label in errors[0].labels}
