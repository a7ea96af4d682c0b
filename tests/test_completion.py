"""``nndsl completion bash|zsh|fish``: scripts generated from the argparse parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from nndsl.cli import build_parser
from nndsl.cli import main as nndsl
from nndsl.tools.completion import SHELLS


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _script(shell: str, capsys) -> str:
    assert nndsl(["completion", shell]) == 0
    return capsys.readouterr().out


def test_bash_script_names_every_command_and_every_run_flag(capsys):
    script = _script("bash", capsys)
    commands = _subcommands()
    assert {"compile", "check", "run", "new", "completion"} <= set(commands)
    for name in commands:
        assert f"        {name})" in script, name
    run_flags = {o for a in commands["run"]._actions for o in a.option_strings}
    assert "--max-steps" in run_flags
    for flag in sorted(run_flags):
        assert flag in script, flag
    assert "text short json" in script  # the choices of --format


@pytest.mark.parametrize("shell", SHELLS)
def test_the_shell_accepts_the_script(shell, tmp_path, capsys):
    script = _script(shell, capsys)
    path = tmp_path / f"nndsl.{shell}"
    path.write_text(script, encoding="utf-8")
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed")
    proc = subprocess.run([program, "-n", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_every_shell_script_names_every_flag(capsys):
    flags = {o for p in _subcommands().values() for a in p._actions for o in a.option_strings}
    for shell in SHELLS:
        script = _script(shell, capsys)
        for flag in flags:
            spelled = {"fish": f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"}
            assert spelled.get(shell, flag) in script, (shell, flag)


def test_bash_completes_commands_flags_and_values(tmp_path, capsys):
    """Complete a few command lines in a real bash, with the script loaded."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    (tmp_path / "script.bash").write_text(_script("bash", capsys), encoding="utf-8")
    (tmp_path / "net.nn").write_text("", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    probe = """source script.bash
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _nndsl
      echo "${COMPREPLY[*]}"; }
t nndsl ru
t nndsl run --max-s
t nndsl run --format ""
t nndsl run ""
t nndsl completion ""
t nndsl run --epochs 3 ""
t nndsl run net.nn ""
"""
    proc = subprocess.run([bash, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["run", "--max-steps", "text short json", "net.nn",
                                        "bash zsh fish", "net.nn", ""]  # fmt: skip


def test_fish_completes_commands_and_values(tmp_path, capsys):
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed")
    (tmp_path / "nndsl.fish").write_text(_script("fish", capsys), encoding="utf-8")
    probe = "source nndsl.fish; complete -C 'nndsl ru'; complete -C 'nndsl run --format '"
    proc = subprocess.run([fish, "--no-config", "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    completed = [line.split("\t", 1)[0] for line in proc.stdout.splitlines()]
    assert completed == ["run", "json", "short", "text"], proc.stdout


def test_an_unknown_shell_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        nndsl(["completion", "tcsh"])
    assert exit_.value.code == 2
