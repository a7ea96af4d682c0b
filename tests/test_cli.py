"""The ``nndsl`` command line, run for real as ``python -m nndsl`` in a fresh directory."""

from __future__ import annotations

import ast
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from compiled import ROOT

import nndsl

EXAMPLES = ROOT / "examples"
BAD_SOURCE = "model M(x: [2]) { Linear(3, 4) }\n"  # Linear receives 2 features, not 3


def nndsl_cli(
    *args: str, cwd: Path, max_file_size: int | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m nndsl ARGS`` in cwd; never a traceback, whatever the outcome. With
    max_file_size, writing a larger file fails as on a full disk (EFBIG)."""
    env = dict(os.environ)
    env.pop("NNDSL_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    limit = (max_file_size, max_file_size) if max_file_size else None
    proc = subprocess.run(
        [sys.executable, "-m", "nndsl", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limit)) if limit else None,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def bad_file(tmp_path: Path) -> str:
    """A source with one E0301, at a path relative to tmp_path (which is the cwd)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.nn").write_text(BAD_SOURCE, encoding="utf-8")
    return "src/bad.nn"


BAD_LINE, BAD_COLUMN = 1, BAD_SOURCE.index("Linear(3") + len("Linear(") + 1  # at the 3: 26


def test_help_lists_the_commands(tmp_path):
    proc = nndsl_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "compile" in proc.stdout and "check" in proc.stdout


def test_version(tmp_path):
    proc = nndsl_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"nndsl {nndsl.__version__}"
    assert re.fullmatch(r"nndsl \d+\.\d+\.\d+\S*", proc.stdout.strip())


def test_compile_to_stdout(tmp_path):
    proc = nndsl_cli("compile", str(EXAMPLES / "add.nn"), "-o", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "class AddNet(nn.Module)" in proc.stdout
    ast.parse(proc.stdout)
    assert proc.stderr == ""


def test_compile_to_file_creates_parents_and_leaves_no_temporaries(tmp_path):
    stdout = nndsl_cli("compile", str(EXAMPLES / "add.nn"), cwd=tmp_path).stdout
    proc = nndsl_cli("compile", str(EXAMPLES / "add.nn"), "-o", "out/model.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    out = tmp_path / "out" / "model.py"
    assert out.read_text(encoding="utf-8") == stdout
    assert sorted(os.listdir(tmp_path / "out")) == ["model.py", "train_addnet.py", "trainkit.py"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_files_get_the_usual_permissions_and_keep_changed_ones(tmp_path):
    from nndsl.codegen.outputs import write_atomic

    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.py", "x = 1\n")
        assert (tmp_path / "new.py").stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
        (tmp_path / "new.py").chmod(0o755)
        write_atomic(tmp_path / "new.py", "x = 2\n")
        assert (tmp_path / "new.py").stat().st_mode & 0o777 == 0o755
    finally:
        os.umask(old)
    assert (
        nndsl_cli("compile", str(EXAMPLES / "add.nn"), "-o", "m.py", cwd=tmp_path).returncode == 0
    )
    for name in ("m.py", "train_addnet.py"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~old


def test_check_prints_the_table(tmp_path):
    proc = nndsl_cli("check", str(EXAMPLES / "nested_blocks.nn"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    block = 4 * 8 + 8 + 8 * 4 + 4  # Linear(4, 8) and Linear(8, 4): 76
    total = 4 * block + (4 * 1 + 1)  # four blocks, then Linear(4, 1): 309
    assert "RGNet" in proc.stdout
    assert f"Total params: {total:,}" in proc.stdout
    assert total == 309


def test_error_in_text_format(tmp_path, bad_file):
    existing = tmp_path / "out.py"
    existing.write_text("# keep me\n", encoding="utf-8")
    before = sorted(os.listdir(tmp_path))
    proc = nndsl_cli("compile", bad_file, "-o", "out.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    err = proc.stderr
    assert "error[E0301]" in err
    assert f"{bad_file}:{BAD_LINE}:{BAD_COLUMN}" in err  # the path as given
    lines = err.splitlines()
    source = next(line for line in lines if line.endswith(BAD_SOURCE.rstrip()))
    caret = next(line for line in lines if "^" in line)
    assert caret.index("^") == source.index("Linear(3") + len("Linear(")  # under the 3
    assert existing.read_text(encoding="utf-8") == "# keep me\n"
    assert sorted(os.listdir(tmp_path)) == before


def test_error_writes_no_new_file(tmp_path, bad_file):
    proc = nndsl_cli("compile", bad_file, "-o", "new/out.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert not (tmp_path / "new" / "out.py").exists()
    assert not (tmp_path / "new").exists() or os.listdir(tmp_path / "new") == []


@pytest.mark.parametrize("command", ["compile", "check"])
def test_error_in_short_format(tmp_path, bad_file, command):
    proc = nndsl_cli(command, bad_file, "--format", "short", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{bad_file}:{BAD_LINE}:{BAD_COLUMN}: error[E0301]: ")


def test_error_in_json_format(tmp_path, bad_file):
    proc = nndsl_cli("compile", bad_file, "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    data = json.loads(proc.stderr)
    assert isinstance(data, list) and len(data) == 1
    d = data[0]
    assert {"code", "severity", "message", "file", "line", "column", "end", "help"} <= d.keys()
    assert (d["code"], d["severity"], d["file"]) == ("E0301", "error", bad_file)
    assert (d["line"], d["column"]) == (BAD_LINE, BAD_COLUMN)
    assert d["end"]["line"] == BAD_LINE and d["end"]["column"] > BAD_COLUMN


def test_missing_file(tmp_path):
    proc = nndsl_cli("compile", "missing.nn", cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "missing.nn" in proc.stderr


def test_unknown_flag(tmp_path):
    proc = nndsl_cli("compile", str(EXAMPLES / "add.nn"), "--bogus", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--bogus" in proc.stderr
    assert proc.stdout == ""


def test_invalid_utf8(tmp_path):
    (tmp_path / "latin1.nn").write_bytes(b"model M(x: [2]) {\n    Linear(4)  # caf\xe9\n}\n")
    proc = nndsl_cli("compile", "latin1.nn", "-o", "out.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert "E0004" in proc.stderr
    assert "latin1.nn:2:" in proc.stderr
    assert not (tmp_path / "out.py").exists()


def test_empty_file_compiles_to_imports_only(tmp_path):
    (tmp_path / "empty.nn").write_text("", encoding="utf-8")
    proc = nndsl_cli("compile", "empty.nn", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tree = ast.parse(proc.stdout)
    assert tree.body, "the imports are there"
    assert all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body)


def test_compile_and_check_never_import_torch(tmp_path):
    out = tmp_path / "cnn.py"
    script = (
        "import sys; from nndsl.cli import main; "
        f"rc = main(['compile', {str(EXAMPLES / 'cnn.nn')!r}, '-o', {str(out)!r}]); "
        f"rc2 = main(['check', {str(EXAMPLES / 'cnn.nn')!r}]); "
        "assert (rc, rc2) == (0, 0), (rc, rc2); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print('ok')"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "ok"
    assert "class CNN(nn.Module)" in out.read_text(encoding="utf-8")


def test_invalid_utf8_column_counts_characters(tmp_path):
    # "é" is two bytes in UTF-8, then a lone 0xff
    (tmp_path / "mixed.nn").write_bytes(
        b"model M(x: [2]) {\n    Linear(4)  # caf\xc3\xa9 \xff\n}\n"
    )
    proc = nndsl_cli("compile", "mixed.nn", "--format", "short", cwd=tmp_path)
    assert proc.returncode == 1
    column = len("    Linear(4)  # café ") + 1  # the bad byte is the 23rd character
    assert proc.stderr.startswith(f"mixed.nn:2:{column}: error[E0004]: "), proc.stderr


def test_invalid_utf8_text_shows_the_line_and_caret(tmp_path):
    (tmp_path / "latin1.nn").write_bytes(b"model M(x: [2]) {\n    Linear(4)  # caf\xe9\n}\n")
    proc = nndsl_cli("compile", "latin1.nn", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    source = next(line for line in lines if line.lstrip().startswith("2 |"))
    assert "Linear(4)  # caf" in source, proc.stderr
    caret = next(line for line in lines if "^" in line)
    assert caret.index("^") == source.index("caf") + len("caf"), proc.stderr


def test_deep_nesting_is_a_diagnostic_not_a_crash(tmp_path):
    (tmp_path / "deep.nn").write_text("model M(x: [2]) { Linear(" + "-" * 5000 + "1) }\n")
    proc = nndsl_cli("check", "deep.nn", cwd=tmp_path)
    assert proc.returncode == 1
    assert "error[E0005]" in proc.stderr and "Traceback" not in proc.stderr


# ---- the operating system refuses a write: an error with the path, not a bug -------------------


def test_an_output_under_a_file_is_an_error_with_the_path(tmp_path):
    (tmp_path / "plain").write_text("a file\n", encoding="utf-8")
    proc = nndsl_cli("compile", str(EXAMPLES / "add.nn"), "-o", "plain/out/model.py", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(
        "nndsl: error: cannot write plain/out/model.py: plain is a file, not a folder"
    ), proc.stderr  # the system's own word for it was "File exists" or "Not a directory"
    assert "bug in nndsl" not in proc.stderr


def test_a_full_disk_is_an_error_and_leaves_no_file_half_written(tmp_path):
    (tmp_path / "out").mkdir()
    proc = nndsl_cli(
        "compile", str(EXAMPLES / "add.nn"), "-o", "out/model.py", cwd=tmp_path, max_file_size=500
    )
    assert proc.returncode == 2, proc.stderr
    assert "cannot write out/model.py: File too large" in proc.stderr, proc.stderr
    assert "bug in nndsl" not in proc.stderr
    assert os.listdir(tmp_path / "out") == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_an_error_with_the_path(tmp_path):
    (tmp_path / "out").mkdir(mode=0o555)
    proc = nndsl_cli("compile", str(EXAMPLES / "add.nn"), "-o", "out/model.py", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write out/model.py: Permission denied" in proc.stderr, proc.stderr


# ---- hand edits: never lost ------------------------------------------------------------------


def _compile(tmp_path, *flags):
    return nndsl_cli(
        "compile", str(EXAMPLES / "add.nn"), "-o", "out/model.py", *flags, cwd=tmp_path
    )


def test_recompiling_an_unedited_file_replaces_it(tmp_path):
    assert _compile(tmp_path).returncode == 0
    model = tmp_path / "out" / "model.py"
    stale = model.read_text(encoding="utf-8").replace("nn.Linear(2, 8)", "nn.Linear(2, 9)")
    from nndsl.codegen.render import with_header

    body = stale.split("\n", 3)[3]
    model.write_text(with_header(body, "add.nn"), encoding="utf-8")  # as an older nndsl wrote it
    assert _compile(tmp_path).returncode == 0
    assert "nn.Linear(2, 8)" in model.read_text(encoding="utf-8")


def test_a_hand_edited_file_is_kept_until_forced(tmp_path):
    assert _compile(tmp_path).returncode == 0
    model = tmp_path / "out" / "model.py"
    train = tmp_path / "out" / "train_addnet.py"
    edited = model.read_text(encoding="utf-8") + "\n# my note\n"
    model.write_text(edited, encoding="utf-8")
    train.unlink()
    proc = _compile(tmp_path)
    assert proc.returncode == 1
    assert "has been edited since nndsl wrote it" in proc.stderr and "--force" in proc.stderr
    assert model.read_text(encoding="utf-8") == edited
    assert not train.exists()  # nothing is written when one file is refused
    diff = _compile(tmp_path, "--diff")
    assert diff.returncode == 0 and "-# my note" in diff.stdout
    assert model.read_text(encoding="utf-8") == edited
    assert _compile(tmp_path, "--force").returncode == 0
    assert "# my note" not in model.read_text(encoding="utf-8") and train.exists()


def test_a_file_nndsl_did_not_write_is_never_overwritten(tmp_path):
    mine = tmp_path / "out" / "model.py"
    mine.parent.mkdir()
    mine.write_text("print('my own code')\n", encoding="utf-8")
    for flags in ((), ("--force",)):
        proc = _compile(tmp_path, *flags)
        assert proc.returncode == 1 and "was not written by nndsl" in proc.stderr
        assert mine.read_text(encoding="utf-8") == "print('my own code')\n"


def test_check_flag_reports_stale_files(tmp_path):
    assert _compile(tmp_path, "--check").returncode == 1  # nothing written yet
    assert not (tmp_path / "out").exists()
    assert _compile(tmp_path).returncode == 0
    assert _compile(tmp_path, "--check").returncode == 0
    (tmp_path / "out" / "train_addnet.py").unlink()
    proc = _compile(tmp_path, "--check")
    assert proc.returncode == 1 and "train_addnet.py is out of date" in proc.stderr


def test_run_without_torch_says_how_to_get_it(tmp_path):
    """The compiler installs without torch; a run then ends in one line naming the extra."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from nndsl.cli import main\n"
        "sys.exit(main(['run', sys.argv[1], '--out', sys.argv[2]]))\n"
    )
    example = Path(__file__).resolve().parent.parent / "examples" / "add.nn"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(example), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "nndsl: error: running a program needs torch, which is not installed: "
        'pip install "nndsl[run]"'
    )
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_run_out_of_memory_is_one_line(tmp_path, monkeypatch, capsys):
    """The allocator's refusal (a 10**9-wide Linear, found by one-step fuzzing) ended in a
    traceback; nndsl run says it in one line."""
    from nndsl.cli import main
    from nndsl.run import runner

    def refuse(loader, module):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 32000000000 bytes. Error code 12"
        )

    monkeypatch.setattr(runner, "_import_frozen", refuse)
    code = main(["run", str(EXAMPLES / "add.nn"), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "nndsl: error: out of memory (it asked for 32000000000 bytes): the model or a batch is "
        "larger than this machine can hold; try a smaller --batch-size or a smaller model"
    )
