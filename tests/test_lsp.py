"""`nndsl lsp`, end to end: a real server process spoken to in JSON-RPC over its stdin and
stdout, as an editor does."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from nndsl.cli import main as cli
from nndsl.tools.fmt import format_source

pytest.importorskip("pygls", reason="the language server needs pygls (the lsp and dev extras)")

ROOT = Path(__file__).resolve().parent.parent
ADD = (ROOT / "examples" / "add.nn").read_text(encoding="utf-8")
BAD = "model Bad(x: [2]) {\n    Linear(3, 4)\n    Relu()\n}\n"
TIMEOUT = 60


class Client:
    """A language client: requests wait for their answer; notifications queue up."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nndsl", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.messages: queue.Queue = queue.Queue()
        self.ids = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(out.read(length)))

    def send(self, method: str, params, id: int | None = None) -> None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if id is not None:
            message["id"] = id
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params):
        self.ids += 1
        self.send(method, params, self.ids)
        while True:
            message = self.messages.get(timeout=TIMEOUT)
            if message.get("id") == self.ids and "method" not in message:
                assert "error" not in message, message["error"]
                return message["result"]

    def notification(self, method: str, uri: str):
        while True:
            message = self.messages.get(timeout=TIMEOUT)
            if message.get("method") == method and message["params"].get("uri") == uri:
                return message["params"]


@pytest.fixture(scope="module")
def client():
    c = Client()
    init = c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    c.capabilities = init["capabilities"]
    c.send("initialized", {})
    yield c
    c.request("shutdown", None)
    c.send("exit", None)
    c.proc.wait(timeout=TIMEOUT)


def _open(client: Client, path: Path, text: str) -> dict:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    item = {"uri": uri, "languageId": "nndsl", "version": 1, "text": text}
    client.send("textDocument/didOpen", {"textDocument": item})
    return client.notification("textDocument/publishDiagnostics", uri)


def _at(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def test_initialize_names_the_features(client):
    caps = client.capabilities
    for feature in ("hoverProvider", "definitionProvider", "documentFormattingProvider"):
        assert caps[feature], feature
    assert "(" in caps["completionProvider"]["triggerCharacters"]
    assert caps["codeActionProvider"]


def test_diagnostics_are_those_of_check(client, tmp_path, capsys):
    path = tmp_path / "bad.nn"
    published = _open(client, path, BAD)["diagnostics"]
    assert cli(["check", str(path), "--format", "json"]) == 1
    expected = json.loads(capsys.readouterr().err)
    assert len(published) == len(expected) == 2
    for got, want in zip(published, expected):
        assert got["code"] == want["code"] and got["source"] == "nndsl"
        assert got["severity"] == (1 if want["severity"] == "error" else 2)
        assert got["range"] == {
            "start": {"line": want["line"] - 1, "character": want["column"] - 1},
            "end": {"line": want["end"]["line"] - 1, "character": want["end"]["column"] - 1},
        }
        assert got["message"].startswith(want["message"])
        assert f"help: {want['help']}" in got["message"]
    assert published[0]["relatedInformation"][0]["message"] == "produces (B, 2)"


def test_a_change_publishes_again(client, tmp_path):
    path = tmp_path / "fixed.nn"
    uri = path.as_uri()
    assert len(_open(client, path, BAD)["diagnostics"]) == 2
    fixed = BAD.replace("Linear(3, 4)", "Linear(4)").replace("Relu", "ReLU")
    change = {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]}
    client.send("textDocument/didChange", change)
    assert client.notification("textDocument/publishDiagnostics", uri)["diagnostics"] == []


def _summary_macs(path: Path, capsys) -> tuple[dict[str, str], str]:
    """Each layer's MACs and the model's total, as `nndsl summary --batch 1` prints them."""
    capsys.readouterr()
    assert cli(["summary", str(path), "--batch", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {
        line.split()[0]: line.split()[-1]
        for line in out
        if line.startswith("  ") and line[2:3] != " "
    }
    total = next(line for line in out if "MACs (batch 1)" in line).split(": ")[1].split()[0]
    return rows, total


def test_changes_in_quick_succession_check_the_last_only(client, tmp_path):
    path = tmp_path / "typing.nn"
    uri = path.as_uri()
    _open(client, path, BAD)
    texts = [BAD.replace("Relu", "Relu" + "u" * n) for n in (1, 2)] + [BAD.replace("Relu", "ReLU")]
    bodies = []
    for version, text in enumerate(texts, start=2):  # one write: keystrokes faster than a check
        change = {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"text": text}],
        }
        message = {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": change}
        body = json.dumps(message).encode()
        bodies.append(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    client.proc.stdin.write(b"".join(bodies))
    client.proc.stdin.flush()
    published = client.notification("textDocument/publishDiagnostics", uri)
    assert published["version"] == 4 and [d["code"] for d in published["diagnostics"]] == ["E0301"]
    change = {"textDocument": {"uri": uri, "version": 5}, "contentChanges": [{"text": BAD}]}
    client.send("textDocument/didChange", change)
    versions = []  # every publish until version 5's: none for the changes left behind
    while not versions or versions[-1] != 5:
        versions.append(client.notification("textDocument/publishDiagnostics", uri)["version"])
    assert versions == [5]


def test_hover_shows_shape_dtype_parameters_and_macs(client, tmp_path, capsys):
    path = tmp_path / "add.nn"
    _open(client, path, ADD)
    line = ADD.splitlines().index(
        "    hidden = Linear(8)    # in_features 2 is inferred from the input"
    )
    macs, total = _summary_macs(path, capsys)
    shown = client.request("textDocument/hover", _at(path.as_uri(), line, 16))
    text = shown["contents"]["value"]
    assert "Linear" in text and "(B, 8) float32" in text and "24 parameters" in text
    assert f"{macs['hidden']} MACs per sample" in text
    assert shown["range"]["start"] == {"line": line, "character": 13}
    model = client.request("textDocument/hover", _at(path.as_uri(), line - 1, 8))
    assert "(B, 2) float32 → (B, 1) float32" in model["contents"]["value"]
    assert f"33 parameters, {total} MACs per sample" in model["contents"]["value"]
    assert client.request("textDocument/hover", _at(path.as_uri(), line + 20, 0)) is None


def test_hover_on_resnet18_counts_the_macs_of_summary(client, tmp_path, capsys):
    text = (ROOT / "examples" / "resnet18.nn").read_text(encoding="utf-8")
    path = tmp_path / "resnet18.nn"
    _open(client, path, text)
    macs, total = _summary_macs(path, capsys)
    lines = text.splitlines()
    model = next(i for i, x in enumerate(lines) if x.startswith("model "))
    shown = client.request("textDocument/hover", _at(path.as_uri(), model, 7))
    assert f"{total} MACs per sample" in shown["contents"]["value"]
    fc = next(i for i, x in enumerate(lines) if x.strip().startswith("fc = "))
    shown = client.request("textDocument/hover", _at(path.as_uri(), fc, lines[fc].index("Linear")))
    assert f"{macs['fc']} MACs per sample" in shown["contents"]["value"]


def test_completion_from_the_registries(client, tmp_path):
    text = ADD.replace("    ReLU()\n", "    Conv2d()\n", 1)
    path = tmp_path / "complete.nn"
    _open(client, path, text)
    uri = path.as_uri()
    lines = text.splitlines()

    def labels(line: int, character: int) -> set[str]:
        found = client.request("textDocument/completion", _at(uri, line, character))
        return {item["label"] for item in found["items"]}

    assert {"kernel_size=", "stride="} <= labels(lines.index("    Conv2d()"), 11)
    loss = next(i for i, x in enumerate(lines) if x.startswith("    loss "))
    assert {"mse", "cross_entropy"} <= labels(loss, 9)
    assert {"optimizer", "epochs"} <= labels(loss, 4)
    body = lines.index("    out = Linear(1)")
    assert {"Linear", "Conv2d", "AddNet"} <= labels(body, 10)


def test_definition_of_data_and_layers(client, tmp_path):
    path = tmp_path / "defs.nn"
    _open(client, path, ADD)
    uri = path.as_uri()
    lines = ADD.splitlines()
    header = next(i for i, x in enumerate(lines) if x.startswith("train AddNet on pairs"))
    found = client.request("textDocument/definition", _at(uri, header, 18))
    assert found["range"]["start"] == {"line": lines.index("data pairs {"), "character": 5}
    found = client.request("textDocument/definition", _at(uri, header, 7))
    assert found["range"]["start"]["line"] == next(
        i for i, x in enumerate(lines) if x.startswith("model AddNet")
    )


def test_formatting_is_fmt(client, tmp_path):
    text = "model A(x:[2]){Linear(1)}\n"
    path = tmp_path / "ugly.nn"
    _open(client, path, text)
    edits = client.request(
        "textDocument/formatting",
        {"textDocument": {"uri": path.as_uri()}, "options": {"tabSize": 4, "insertSpaces": True}},
    )
    assert [e["newText"] for e in edits] == [format_source(text)]


def _edited(text: str, edits: list[dict]) -> str:
    """``text`` with the LSP text edits applied (ranges of the original text)."""
    lines = text.split("\n")

    def offset(p: dict) -> int:
        return sum(len(x) + 1 for x in lines[: p["line"]]) + p["character"]

    for e in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        start, end = offset(e["range"]["start"]), offset(e["range"]["end"])
        text = text[:start] + e["newText"] + text[end:]
    return text


def _fixes(client: Client, path: Path, text: str) -> tuple[list[dict], list[dict]]:
    """The diagnostics published for ``text`` and the quick fixes offered for them all."""
    diagnostics = _open(client, path, text)["diagnostics"]
    whole = {
        "start": {"line": 0, "character": 0},
        "end": {"line": len(text.splitlines()), "character": 0},
    }
    params = {
        "textDocument": {"uri": path.as_uri()},
        "range": whole,
        "context": {"diagnostics": diagnostics},
    }
    return diagnostics, client.request("textDocument/codeAction", params)


def _change(client: Client, path: Path, text: str, version: int) -> list[dict]:
    uri = path.as_uri()
    change = {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}
    client.send("textDocument/didChange", change)
    return client.notification("textDocument/publishDiagnostics", uri)["diagnostics"]


def test_quick_fixes_rewrite_what_the_help_names(client, tmp_path):
    path = tmp_path / "fix.nn"
    diagnostics, actions = _fixes(client, path, BAD)
    assert [a["kind"] for a in actions] == ["quickfix", "quickfix"]
    assert [a["diagnostics"][0]["code"] for a in actions] == [d["code"] for d in diagnostics]
    edits = [e for a in actions for e in a["edit"]["changes"][path.as_uri()]]
    assert [e["newText"] for e in edits] == ["Linear(4)", "ReLU"]
    assert edits[0]["range"]["start"] == {"line": 1, "character": 4}  # the whole call
    assert actions[0]["title"] == "Replace with `Linear(4)`"
    fixed = _edited(BAD, edits)
    assert fixed == "model Bad(x: [2]) {\n    Linear(4)\n    ReLU()\n}\n"
    assert _change(client, path, fixed, 2) == []


FIXABLE = {
    "E0301": "model A(x: [3]) {\n    fc = Linear(3136, 16, bias=false)\n}\n",
    "E0101": "model A(x: [3]) {\n    Linear(4)\n    ReLU\n}\n",
    "E0102": "model A(x: [3]) {\n    Linear(4, bais=false)\n}\n",  # the name, not the value
    "E0106": "block H(n) {\n    Linear((n + 1)/2)\n}\nmodel A(x: [3]) {\n    H(7)\n}\n",  # //
    "E0126": 'model A(x: [3]) {\n    GELU(approximate="tanhh")\n}\n',  # inside the quotes
    "E0117": "model A(x: [3]) {\n    fc = Linear(4)\n    forward(x) {\n        return fc(x)\n    }\n}\n",
    "E0120": (
        "model A(x: [3]) {\n    w = param([3, 3])\n    forward {\n        return x @ w.weight\n"
        "    }\n}\n"
    ),
    "W0105": "model A(x: [3]) {\n    Linear(4)\n    BatchNorm1d()\n}\n",
}


@pytest.mark.parametrize("code", sorted(FIXABLE))
def test_each_quick_fix_clears_its_diagnostic(client, tmp_path, code):
    path = tmp_path / f"{code}.nn"
    diagnostics, actions = _fixes(client, path, FIXABLE[code])
    assert code in [d["code"] for d in diagnostics]
    (action,) = actions
    assert action["diagnostics"][0]["code"] == code
    fixed = _edited(FIXABLE[code], action["edit"]["changes"][path.as_uri()])
    assert _change(client, path, fixed, 2) == []


def test_check_json_shows_the_fix(tmp_path, capsys):
    path = tmp_path / "bad.nn"
    path.write_text(BAD, encoding="utf-8")
    assert cli(["check", str(path), "--format", "json"]) == 1
    fixes = [d["fix"] for d in json.loads(capsys.readouterr().err)]
    assert fixes[0] == {
        "line": 2,
        "column": 5,
        "end": {"line": 2, "column": 17},
        "text": "Linear(4)",
    }
    assert fixes[1]["text"] == "ReLU"


def test_without_pygls_the_command_says_what_to_install():
    code = "import sys; sys.modules['pygls'] = None\nfrom nndsl.cli import main\nsys.exit(main(['lsp']))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "pip install 'nndsl[lsp]'" in proc.stderr


def test_the_vscode_extension_starts_the_server():
    from nndsl.cli import build_parser

    folder = ROOT / "editors" / "vscode"
    manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
    assert (folder / manifest["main"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["nndsl.server.command"]["default"] == "nndsl"
    assert settings["nndsl.server.args"]["default"] == ["lsp"]
    help = build_parser().format_help()
    assert "lsp" in help.split("{", 1)[1].split("}", 1)[0].split(",")  # the commands
    assert "run the language server" in help
