"""docs/LANGUAGE.md stays true: its examples compile (or fail, where marked, with the codes
they name), its training examples train, its generated tables match the code, and its lists of
settings, flags, keywords and diagnostic codes match what the compiler knows."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
from pathlib import Path

import pytest

from nndsl.compiler import analyze
from nndsl.tools.docgen import END, START, TRAIN_TABLES, markers, splice

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "LANGUAGE.md"
FENCE = re.compile(r"^```(nn|nn-error)\n(.*?)^```", re.M | re.S)
ANY_FENCE = re.compile(r"^```(\S*)\n(.*?)^```", re.M | re.S)
TRAINING = ["Data", "Data files", "Training", "Selectors, optimizer groups and init rules",
            "The training script and `nndsl run`"]  # fmt: skip


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(title: str) -> str:
    """The body of the `## title` section, up to the next `## ` heading."""
    return _text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _snippets():
    text = _text()
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield pytest.param(m.group(1), m.group(2), id=f"line{line}")


@pytest.fixture(scope="session")
def doc_data(tmp_path_factory) -> Path:
    """A folder holding the data files the examples read, under the paths they give: the
    bundled CSV tables, and the digits again as .npz, .npy and .pt files."""
    import numpy as np
    import torch

    folder = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "examples" / "data", folder / "data")
    shutil.copytree(ROOT / "examples" / "weights", folder / "weights")  # for `init from`
    shutil.copy(ROOT / "examples" / "custom_layers.py", folder)  # for `from "custom_layers.py"`
    table = np.loadtxt(folder / "data" / "digits.csv", delimiter=",", skiprows=1)
    images = table[:, :64].reshape(-1, 8, 8).astype(np.float32)
    labels = table[:, 64].astype(np.int64)
    np.savez(folder / "data" / "digits.npz", images=images, labels=labels)
    np.save(folder / "data" / "images.npy", images)
    torch.save(torch.from_numpy(labels), folder / "data" / "labels.pt")
    return folder


@pytest.mark.parametrize("kind, source", list(_snippets()))
def test_doc_example(kind, source, doc_data):
    result = analyze(source, doc_data)
    messages = [f"{d.code} {d.message}" for d in result.diagnostics]
    if kind == "nn":  # compiles, without a warning either
        assert result.ok and not messages, messages
    else:
        assert not result.ok
        named = set(re.findall(r"error\[(E\d{4})\]", source))
        assert named <= {d.code for d in result.diagnostics}, messages


@pytest.mark.parametrize("kind, source", list(_snippets()))
def test_doc_data_is_trained_on(kind, source):
    """An example with a data section trains a model on it (or predicts it), as a real file
    would."""
    for name in re.findall(r"^data (\w+)", source, re.M):
        used = rf"^train [\w, ]+ on {name}\b|^\s+predict {name}$"
        assert re.search(used, source, re.M), f"data {name} is not used"


TRAIN_SNIPPETS = [p for p in _snippets() if p.values[0] == "nn" and "\ntrain " in p.values[1]]


@pytest.mark.parametrize("kind, source", TRAIN_SNIPPETS)
def test_doc_training_example_trains(kind, source, doc_data, tmp_path, capsys):
    """Each training example runs, through `nndsl run`, for two optimizer steps."""
    from nndsl.cli import main as nndsl

    path = doc_data / f"{tmp_path.name}.nn"  # beside data/, as the examples' paths want
    path.write_text(source, encoding="utf-8")
    argv = ["run", str(path), "--out", str(tmp_path / "run"), "--quiet", "--max-steps", "2"]
    assert nndsl([*argv, "--device", "cpu"]) == 0, capsys.readouterr().err


CONSTRUCTS = ["Files, comments, white space", "Models", "Layers and arguments", "Blocks", "Repeat",
              "Sequences", "Conditions: `if`", "Shared layers", "Forward: connecting layers by hand", "Custom layers", "Torch layers and your own classes", "Loops",
              "Recurrent state", "Models inside models", *TRAINING[:4]]  # fmt: skip


@pytest.mark.parametrize("section", CONSTRUCTS)
def test_every_construct_has_an_example(section):
    assert "```nn\n" in _section(section), f"section {section!r} has no tested example"


def test_generated_tables_are_fresh(update_golden):
    text = _text()
    fresh = splice(text)
    if update_golden:
        DOC.write_text(fresh, encoding="utf-8")
        text = fresh
    for start, end in [(START, END), *(markers(name) for name in (*TRAIN_TABLES, "codes"))]:
        assert start in text and end in text, start
    stale = "docs/LANGUAGE.md's generated tables are stale: run pytest --update-golden"
    assert text == fresh, stale


@pytest.mark.parametrize("name", TRAIN_TABLES)
def test_train_table_lists_every_entry(name):
    from nndsl.registry import training as train_tables

    start, end = markers(name)
    table = _text().split(start, 1)[1].split(end, 1)[0]
    entries = getattr(train_tables, name.upper())
    assert len(table.strip().splitlines()) == len(entries) + 2
    for key in entries:
        assert f"| `{key}" in table, key


# ---- the diagnostic codes --------------------------------------------------------------------


def test_error_table_lists_every_code_the_compiler_reports():
    """Every code in nndsl/ (E04xx and W04xx of data and training too) has a row in the table,
    the table is the one of nndsl/diagnostics/codes.py, and every live row's code is still
    reported somewhere."""
    from nndsl.diagnostics.codes import CODES, live

    table = ROOT / "nndsl" / "diagnostics" / "codes.py"
    files = [p for p in (ROOT / "nndsl").rglob("*.py") if p != table]
    source = "\n".join(p.read_text(encoding="utf-8") for p in files)
    reported = set(re.findall(r"""["']([EW]\d{4})["']""", source))
    documented = set(re.findall(r"^\| ([EW]\d{4}) \|", _section("Diagnostics"), re.M))
    assert {c for c in reported if c[1:3] == "04"}, "no training codes found: the grep is broken"
    assert reported - documented == set(), "codes missing from the table in docs/LANGUAGE.md"
    assert documented == set(CODES), "the docs' table is not nndsl/diagnostics/codes.py"
    assert set(live()) - reported == set(), "codes in the table that nothing reports"


# ---- settings, flags and keywords --------------------------------------------------------------


def _names_in(section: str) -> set[str]:
    """Every word written in backticks in a section, and the first word of each."""
    spans = re.findall(r"`([^`\n]+)`", _section(section))
    return set(spans) | {re.split(r"[\s(\[=:]", s, maxsplit=1)[0] for s in spans}


def test_every_data_setting_generator_and_file_reader_is_documented():
    from nndsl.check.data import DATA_SETTINGS, FILE_READERS, GENERATORS

    data, files = _names_in("Data"), _names_in("Data files")
    assert set(DATA_SETTINGS) - data == set()
    assert set(GENERATORS) - data == set()
    assert set(FILE_READERS) - files == set()


def test_every_streamed_function_is_documented():
    from nndsl.check.stream import ROW_WISE, STREAM_READERS

    names = _names_in("Data files")
    assert (set(ROW_WISE) | set(STREAM_READERS)) - names == set()


def test_every_train_setting_and_choice_is_documented():
    from nndsl.check.train_settings import DEVICES, MONITORED, PRECISIONS
    from nndsl.registry.training import METRICS, TRAIN_SETTINGS

    names = _names_in("Training")
    for group in (TRAIN_SETTINGS, METRICS, MONITORED, PRECISIONS, DEVICES):
        assert set(group) - names == set(), group


def test_every_script_and_run_flag_is_documented(doc_data):
    """Each Config field (a flag of the training script) and each flag of `nndsl run`."""
    from nndsl.cli import build_parser

    fields = set()  # of every training example here, streamed and reading files among them
    for param in TRAIN_SNIPPETS:
        program = analyze(param.values[1], doc_data).program
        fields |= {f.name for t in program.trains for f in t.config}
    assert {"data_dir", "workers"} <= fields
    section = _section("The training script and `nndsl run`")
    for name in sorted(fields):
        assert f"`--{name.replace('_', '-')}" in section, name
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    run = commands.choices["run"]
    flags = {o for action in run._actions for o in action.option_strings if o.startswith("--")}
    for flag in sorted(flags - {"--help"}):
        assert f"`{flag}" in section, flag


def test_every_keyword_is_documented():
    from nndsl.lang.parser import KEYWORDS

    names = _names_in("Files, comments, white space")
    assert set(KEYWORDS) - names == set()


# ---- output shown in the docs ------------------------------------------------------------------


def test_check_output_is_what_check_prints():
    from nndsl.tools.summary import summary_table

    shown = ANY_FENCE.search(_section("What `nndsl check` prints")).group(2)
    example = ROOT / "examples" / "add.nn"
    program = analyze(example.read_text(encoding="utf-8"), example.parent).program
    assert shown == summary_table(program)


def test_python_in_the_training_sections_is_generated_code():
    """The generated code the training sections show is in a golden training script."""
    goldens = [
        p.read_text(encoding="utf-8") for p in (ROOT / "tests" / "golden" / "train").glob("*.py")
    ]
    shown = [m.group(2) for title in TRAINING for m in ANY_FENCE.finditer(_section(title))
             if m.group(1) == "python"]  # fmt: skip
    assert shown
    for code in shown:
        assert any(code in g for g in goldens), code


def test_commands_shown_work(tmp_path, monkeypatch, capsys):
    """The commands of the training-script section, run in order in a folder holding a copy of
    examples/, succeed and make the files and folders their comments name. Training commands get
    `--max-steps 2`; `<date-time>` stands for the newest matching run folder."""
    from nndsl.cli import main as nndsl
    from nndsl.run.runner import _execute

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    section = _section("The training script and `nndsl run`")
    lines = [line for m in ANY_FENCE.finditer(section) if m.group(1) == ""
             for line in m.group(2).splitlines()]  # fmt: skip
    commands = [line for line in lines if line.startswith(("nndsl ", "python "))]
    assert len(commands) >= 6, commands

    def newest(pattern: str) -> str:
        found = sorted(Path().glob(pattern.replace("<date-time>", "*")))
        assert found, pattern
        return found[-1].as_posix()

    for line in commands:
        command, _, comment = line.partition("#")
        args = [newest(a) if "<date-time>" in a else a for a in shlex.split(command)]
        trains = args[0] == "python" or args[1] == "run"
        if trains and "--eval" not in args:
            args += ["--max-steps", "2", "--quiet"]
        if args[0] == "nndsl":
            assert nndsl(args[1:]) == 0, (line, capsys.readouterr().err)
        else:
            assert _execute(Path(args[1]), args[2:], lambda err: None) == 0, (
                line,
                capsys.readouterr().err,
            )
        for path in re.findall(r"[\w.<>-]+/[\w./<>-]*", comment):
            newest(path)


def test_readme_shows_what_compile_writes():
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    shown = readme.split("```python\n", 1)[1].split("```", 1)[0]
    example = DOC.parent.parent / "examples" / "add.nn"
    assert example.read_text(encoding="utf-8").split("\n", 1)[1].strip() in readme
    from compiled import compile_file

    assert shown in compile_file(example)[0]


# ---- docs/API.md --------------------------------------------------------------------------------

API_DOC = ROOT / "docs" / "API.md"
# a python example, and the text it prints when a ```text block follows it directly
API_FENCE = re.compile(r"^```python\n(.*?)^```\n(?:\n```text\n(.*?)^```\n)?", re.M | re.S)


def _api_examples():
    text = API_DOC.read_text(encoding="utf-8")
    for m in API_FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield pytest.param(m.group(1), m.group(2), id=f"line{line}")


def test_api_doc_has_examples():
    assert len(list(_api_examples())) >= 6


@pytest.mark.parametrize("code, printed", list(_api_examples()))
def test_api_doc_example(code, printed, tmp_path, monkeypatch):
    """Each example of docs/API.md runs, from a folder holding a copy of examples/, and prints
    the text shown after it."""
    import contextlib
    import io

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(API_DOC), "exec"), {"__name__": "__api_doc__"})
    if printed is not None:
        assert out.getvalue() == printed
