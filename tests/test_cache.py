"""The user's cache (lark's parse tables, formatted code): later processes load it, and a
damaged or foreign file never changes what nndsl compiles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CNN = REPO / "examples" / "cnn.nn"
LSTM = REPO / "examples" / "lstm_classifier.nn"  # its slices are left to black
BAD = "model M(x: [4]) {\n    Linear(3))\n}\n"  # a syntax error: lark's parser says what


def compile_with(cache: str, out: Path, source: Path = LSTM) -> subprocess.CompletedProcess:
    env = dict(os.environ, NNDSL_CACHE_DIR=cache)
    cmd = [sys.executable, "-m", "nndsl", "compile", str(source), "-o", str(out)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_first_run_writes_the_cache_and_later_runs_compile_the_same(tmp_path):
    cache = tmp_path / "cache"
    first = compile_with(str(cache), tmp_path / "a.py")
    assert first.returncode == 0, first.stderr
    files = list((cache / "black").glob("*.py"))
    assert files
    stamps = [f.stat().st_mtime_ns for f in files]
    second = compile_with(str(cache), tmp_path / "b.py")
    assert second.returncode == 0, second.stderr
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read back, not written again
    assert (tmp_path / "a.py").read_text() == (tmp_path / "b.py").read_text()


def test_lark_tables_are_built_once_for_a_syntax_error(tmp_path):
    (tmp_path / "bad.nn").write_text(BAD)
    cache = tmp_path / "cache"
    first = compile_with(str(cache), tmp_path / "a.py", tmp_path / "bad.nn")
    assert first.returncode == 1 and "E0001" in first.stderr
    [tables] = cache.glob("*.lark-cache")
    assert tables.stat().st_size > 1000
    stamp = tables.stat().st_mtime_ns
    second = compile_with(str(cache), tmp_path / "a.py", tmp_path / "bad.nn")
    assert (second.returncode, second.stderr) == (first.returncode, first.stderr)
    assert tables.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert not (tmp_path / "a.py").exists()


def test_a_damaged_cache_is_rebuilt_silently(tmp_path):
    (tmp_path / "bad.nn").write_text(BAD)
    cache = tmp_path / "cache"
    expected = compile_with(str(cache), tmp_path / "a.py", tmp_path / "bad.nn").stderr
    [entry] = cache.glob("*.lark-cache")
    good = entry.read_bytes()
    for damage in (b"", b"not a cache\n", good[: len(good) // 2]):
        entry.write_bytes(damage)
        result = compile_with(str(cache), tmp_path / "a.py", tmp_path / "bad.nn")
        assert result.returncode == 1 and result.stderr == expected
        assert entry.stat().st_size > 1000  # rewritten whole


def test_an_empty_setting_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = compile_with("", tmp_path / "a.py")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_formatted_code_is_cached_and_read_back_without_black(tmp_path):
    cache = tmp_path / "cache"
    assert compile_with(str(cache), tmp_path / "a.py").returncode == 0
    entries = list((cache / "black").glob("*.py"))
    assert len(entries) == 2  # the imports, the class
    stamps = [e.stat().st_mtime_ns for e in entries]
    env = dict(os.environ, NNDSL_CACHE_DIR=str(cache))
    probe = (
        "import sys; from nndsl.cli import main; "
        f"code = main(['compile', {str(LSTM)!r}, '-o', {str(tmp_path / 'b.py')!r}]); "
        "print(code, 'black' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert result.stdout.split() == ["0", "False"], result.stderr
    assert [e.stat().st_mtime_ns for e in entries] == stamps
    assert (tmp_path / "a.py").read_text() == (tmp_path / "b.py").read_text()


def test_the_formatting_cache_is_keyed_by_the_code_and_bounded(tmp_path, monkeypatch):
    from nndsl.codegen import formatting

    monkeypatch.setenv("NNDSL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(formatting, "KEEP", 3)
    sources = [f"x = {i}+1\n" for i in range(5)]
    assert [formatting.black_format(c) for c in sources] == [f"x = {i} + 1\n" for i in range(5)]
    entries = sorted((tmp_path / "black").glob("*.py"), key=lambda p: p.stat().st_mtime_ns)
    assert [e.read_text() for e in entries] == [f"x = {i} + 1\n" for i in (2, 3, 4)]
    entries[-1].write_text("planted\n")  # proves a hit is read back, not formatted again
    assert formatting.black_format(sources[4]) == "planted\n"
    assert formatting.black_format(sources[4], cache=False) == "x = 4 + 1\n"
    assert not list((tmp_path / "black").glob("*.tmp"))


def test_an_unwritable_cache_still_formats(tmp_path, monkeypatch):
    from nndsl.codegen import formatting

    (tmp_path / "black").write_text("a file where the folder would go")
    monkeypatch.setenv("NNDSL_CACHE_DIR", str(tmp_path))
    assert formatting.black_format("y=( 1 )\n") == "y = 1\n"


def test_the_formatter_caches_its_parse_tables_too(tmp_path):
    env = dict(os.environ, NNDSL_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "nndsl", "fmt", "--check", str(CNN)]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    [tree] = (tmp_path / "cache").glob("tree-*.lark-cache")
    # the only ones: the compiler's parser reads a correct file without lark's tables
    assert list((tmp_path / "cache").glob("*.lark-cache")) == [tree]
    stamp = tree.stat().st_mtime_ns
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert tree.stat().st_mtime_ns == stamp  # loaded, not rebuilt
