"""The parse-table cache: later processes load it, and a damaged or foreign file never changes
what nndsl compiles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CNN = REPO / "examples" / "cnn.nn"


def compile_with(cache: str, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NNDSL_CACHE_DIR=cache)
    cmd = [sys.executable, "-m", "nndsl", "compile", str(CNN), "-o", str(out)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def test_first_run_writes_the_cache_and_later_runs_compile_the_same(tmp_path):
    cache = tmp_path / "cache"
    first = compile_with(str(cache), tmp_path / "a.py")
    assert first.returncode == 0, first.stderr
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].stat().st_size > 1000
    stamp = files[0].stat().st_mtime_ns
    second = compile_with(str(cache), tmp_path / "b.py")
    assert second.returncode == 0, second.stderr
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert (tmp_path / "a.py").read_text() == (tmp_path / "b.py").read_text()


def test_a_damaged_cache_is_rebuilt_silently(tmp_path):
    cache = tmp_path / "cache"
    assert compile_with(str(cache), tmp_path / "a.py").returncode == 0
    [entry] = cache.iterdir()
    good = entry.read_bytes()
    for damage in (b"", b"not a cache\n", good[: len(good) // 2]):
        entry.write_bytes(damage)
        out = tmp_path / f"damaged{len(damage)}.py"
        result = compile_with(str(cache), out)
        assert result.returncode == 0 and result.stderr == ""
        assert out.read_text() == (tmp_path / "a.py").read_text()
        assert entry.stat().st_size > 1000  # rewritten whole


def test_an_empty_setting_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = compile_with("", tmp_path / "a.py")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]
