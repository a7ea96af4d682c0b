"""The IPython extension (docs/API.md, "Notebooks"): `%load_ext nndsl` and the `%%nndsl` cell
magic, driven through IPython's own shell, and the HTML and text reprs of `nndsl.check`'s
results."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("IPython")

from IPython.core.error import UsageError  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.lib.pretty import pretty  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402
from traitlets.config import Config  # noqa: E402

import nndsl  # noqa: E402
from nndsl.cli import main as cli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADD = ROOT / "examples" / "add.nn"
TINY = "model Tiny(x: [4]) {\n    Linear(8)\n    ReLU()\n    Linear(2)\n}\n"
BAD = "model Bad(x: [2]) {\n    Linear(3, 4)\n}"  # as a cell: no final newline
TRAINED = """model Sum(x: [3]) {
    Linear(1)
}

data rows {
    x = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1]]
    y = [[6], [15], [24], [2]]
    batch 2
}

train Sum on rows {
    loss mse
    optimizer sgd(lr=0.001)
    epochs 5
    save "sum.pt"
}
"""


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """An IPython shell with the extension loaded, its profile in a temporary folder and its
    history in memory; what it changes is put back after."""
    saved = sys.displayhook, sys.excepthook, os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipython"))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ipython = InteractiveShell.instance(config=config)
    ipython.run_line_magic("load_ext", "nndsl")
    yield ipython
    InteractiveShell.clear_instance()
    sys.displayhook, sys.excepthook, folder = saved
    if folder is None:
        os.environ.pop("IPYTHONDIR")
    else:
        os.environ["IPYTHONDIR"] = folder


def _magic(shell, cell: str, line: str = ""):
    """What a `%%nndsl` cell displays and prints; the magic itself returns None."""
    with capture_output() as out:
        assert shell.run_cell_magic("nndsl", line, cell) is None
    return out


class _Rows(HTMLParser):
    """The cell texts of each row of an HTML table, and its caption."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self.caption = ""
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
        if tag in ("td", "th", "caption"):
            self._in = tag

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "caption":
            self.caption += data
        elif self._in is not None:
            self.rows[-1][-1] += data.replace("\xa0", " ").strip()


def test_a_cell_binds_its_model_classes(shell):
    import torch

    shown = _magic(shell, TINY)
    assert isinstance(shell.user_ns["Tiny"], type)
    model = shell.user_ns["Tiny"]()
    assert model(torch.zeros(3, 4)).shape == (3, 2)
    # the tables (and, where Graphviz is installed, the graph after them)
    table = shown.outputs[0]
    assert all("image/svg+xml" in o.data for o in shown.outputs[1:])
    rows = _Rows(table.data["text/html"]).rows
    assert rows[1:4] == [["fc1", "Linear", "(B, 8)", "40"], ["-", "ReLU", "(B, 8)", "0"],
                         ["fc2", "Linear", "(B, 2)", "18"]]  # fmt: skip
    assert table.data["text/plain"] == str(nndsl.check(TINY))
    assert "Traceback" not in shown.stdout + shown.stderr


def test_a_cell_with_an_error_shows_the_diagnostic(shell):
    shown = _magic(shell, BAD)
    (diagnostics,) = shown.outputs
    page = diagnostics.data["text/html"]
    assert page.startswith("<pre>") and page.endswith("</pre>")
    assert "error[E0301]: Linear expects in_features=3 but receives 2" in page
    assert "--&gt; &lt;cell&gt;:2:12" in page  # escaped, and named after the cell
    assert "2 |     Linear(3, 4)\n  |            ^ expects 3" in page
    text = diagnostics.data["text/plain"]
    assert text == nndsl.check(BAD + "\n", filename="<cell>").render()
    assert "^ expects 3" in text
    assert "Bad" not in shell.user_ns
    assert "Traceback" not in shown.stdout + shown.stderr


def test_name_binds_the_module_and_no_bind_binds_nothing(shell):
    cell = TINY.replace("Tiny", "Named")
    _magic(shell, cell, "--no-bind")
    assert "Named" not in shell.user_ns
    _magic(shell, cell, "--name net")
    assert shell.user_ns["net"].Named is shell.user_ns["Named"]


def test_train_binds_the_trained_result(shell, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run folder goes in runs/ here
    shown = _magic(shell, TRAINED, "--train run --epochs 2")
    run = shell.user_ns["run"]
    assert len(run.history) == 2 and type(run.model) is shell.user_ns["Sum"]
    assert (run.out_dir / "sum.pt").is_file() and run.out_dir.is_relative_to("runs")
    last = shown.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"run = Sum trained in {run.out_dir}: epoch 2, loss [\d.e+-]+, .*", last)


@pytest.mark.parametrize(
    "cell, line, error",
    [(TINY.replace("Tiny", "Untrained"), "--train", "--train: the cell has no train section"),
     (TRAINED.replace("Sum", "Other"), "--train --model Sum",
      "--model Sum: no train section trains it (the cell's: Other)"),
     (TRAINED + TRAINED.replace("Sum", "Second").split("\n\n", 1)[0]
      + "\n\ntrain Second on rows {\n    loss mse\n    optimizer sgd\n    save \"b.pt\"\n}\n",
      "--train", "--train: the cell has several train sections (Sum, Second): pick one with --model")],
)  # fmt: skip
def test_train_without_one_section_is_an_error_line(shell, cell, line, error):
    shown = _magic(shell, cell, line)
    assert shown.outputs[-1].data["text/plain"] == f"error: {error}"
    assert not {"trained", "Untrained", "Other", "Second"} & set(shell.user_ns)


@pytest.mark.parametrize(
    "line", ["--no-bind --name net", "--epochs 3", "--name 3x", "--bogus"]
)  # fmt: skip
def test_bad_options_are_a_usage_error(shell, line):
    with pytest.raises(UsageError):
        shell.run_cell_magic("nndsl", line, TINY)


def test_the_graph_is_drawn_by_dot(shell, tmp_path, monkeypatch, capsys):
    """With a `dot` on the PATH (here one that keeps what it is given), the magic shows its SVG
    of exactly the DOT `nndsl graph` writes; a failing `dot` is one line, and no graph."""
    dot = tmp_path / "dot"
    dot.write_text(
        '#!/bin/sh\ncat > "$(dirname "$0")/given.dot"\n'
        '[ -e "$(dirname "$0")/fail" ] && { echo "Error: boom" >&2; exit 1; }\n'
        "echo '<svg xmlns=\"http://www.w3.org/2000/svg\"><text>drawn</text></svg>'\n",
        encoding="utf-8",
    )
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    shown = _magic(shell, ADD.read_text(encoding="utf-8"), "--no-bind")
    assert [sorted(o.data) for o in shown.outputs][1] == ["image/svg+xml", "text/plain"]
    assert "drawn" in shown.outputs[1].data["image/svg+xml"]
    assert cli(["graph", str(ADD)]) == 0
    assert (tmp_path / "given.dot").read_text(encoding="utf-8") == capsys.readouterr().out
    (tmp_path / "fail").touch()
    shown = _magic(shell, ADD.read_text(encoding="utf-8"), "--no-bind")
    assert len(shown.outputs) == 1
    assert shown.stderr == "nndsl: dot failed, no graph: Error: boom\n"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_the_graph_through_graphviz(shell):
    shown = _magic(shell, ADD.read_text(encoding="utf-8"), "--no-bind")
    svg = shown.outputs[1].data["image/svg+xml"]
    assert "<svg" in svg and "(B, 8)" in svg


# ---- the reprs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["add", "nested_blocks", "tied", "two_outputs"])
def test_html_table_has_the_rows_check_prints(name, capsys):
    path = ROOT / "examples" / f"{name}.nn"
    result = nndsl.check(path)
    assert cli(["check", str(path)]) == 0
    printed = capsys.readouterr().out
    assert str(result) == printed and pretty(result) == printed
    for model in result.models:
        assert pretty(model) == str(model) and str(model) in printed
        table = _Rows(model._repr_html_())
        lines = str(model).splitlines()
        assert table.caption == lines[0]
        cli_rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:-1] if "---" not in line]
        assert table.rows[:-1] == cli_rows
        assert table.rows[-1] == ["Total params", "", "", f"{model.params:,}"]
        assert model._repr_html_() in result._repr_html_()


def test_html_rows_show_depth_and_shared_layers():
    (tied,) = nndsl.check(ROOT / "examples" / "tied.nn").models
    assert ["(shared)"] == [r[3] for r in _Rows(tied._repr_html_()).rows if r[3] == "(shared)"]
    nested = nndsl.check(ROOT / "examples" / "nested_blocks.nn").models[0]
    deep = max(nested.layers, key=lambda r: r.depth)
    assert deep.depth >= 1
    assert f"{'&nbsp;' * 2 * deep.depth}{deep.path}<" in nested._repr_html_()


def test_checked_html_escapes_the_diagnostics(capsys):
    result = nndsl.check(BAD + "\n", filename="<bad>")
    page = result._repr_html_()
    assert page == f"<pre>{result.render().replace('<', '&lt;').replace('>', '&gt;')}</pre>"
    assert str(result) == result.render()


# ---- torch stays out, and a real notebook ------------------------------------------------------


def test_no_bind_does_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from traitlets.config import Config\n"
        "config = Config()\n"
        "config.HistoryManager.hist_file = ':memory:'\n"
        "shell = InteractiveShell.instance(config=config)\n"
        "shell.run_line_magic('load_ext', 'nndsl')\n"
        f"shell.run_cell_magic('nndsl', '--no-bind', {ADD.read_text(encoding='utf-8')!r})\n"
        "assert 'AddNet' not in shell.user_ns\n"
        "print('torch' in sys.modules, 'IPython' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "model AddNet: (B, 2) -> (B, 1)" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "False True"


def test_a_notebook_runs_headless(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    cells = [
        "%load_ext nndsl",
        "%%nndsl\n" + TINY,
        "import torch\nprint(tuple(Tiny()(torch.zeros(3, 4)).shape))",
        "%%nndsl\n" + BAD,
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    _, table, forward, error = (cell.outputs for cell in notebook.cells)
    assert "<caption>model Tiny: (B, 4) -&gt; (B, 2)</caption>" in table[0]["data"]["text/html"]
    assert forward[0]["text"] == "(3, 2)\n"
    assert [o["output_type"] for o in error] == ["display_data"]  # no error output
    assert "^ expects 3" in error[0]["data"]["text/html"]
