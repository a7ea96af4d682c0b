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


def test_hover_shows_shape_dtype_and_parameters(client, tmp_path):
    path = tmp_path / "add.nn"
    _open(client, path, ADD)
    line = ADD.splitlines().index(
        "    hidden = Linear(8)    # in_features 2 is inferred from the input"
    )
    shown = client.request("textDocument/hover", _at(path.as_uri(), line, 16))
    text = shown["contents"]["value"]
    assert "Linear" in text and "(B, 8) float32" in text and "24 parameters" in text
    assert shown["range"]["start"] == {"line": line, "character": 13}
    model = client.request("textDocument/hover", _at(path.as_uri(), line - 1, 8))
    assert "(B, 2) float32 → (B, 1) float32" in model["contents"]["value"]
    assert client.request("textDocument/hover", _at(path.as_uri(), line + 20, 0)) is None


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


def test_quick_fix_from_help(client, tmp_path):
    path = tmp_path / "fix.nn"
    diagnostics = _open(client, path, BAD)["diagnostics"]
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}}
    params = {
        "textDocument": {"uri": path.as_uri()},
        "range": whole,
        "context": {"diagnostics": diagnostics},
    }
    actions = client.request("textDocument/codeAction", params)
    (action,) = actions
    (edit,) = action["edit"]["changes"][path.as_uri()]
    assert edit["newText"] == "ReLU" and edit["range"]["start"] == {"line": 2, "character": 4}


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
