"""The wheel builds, ships grammar/ and templates/ inside the package, and works once installed.

Builds the wheel, installs it with --no-deps into a fresh venv that sees this interpreter's
site-packages (so lark, jinja2, black and torch come from there, nothing is downloaded), and
runs the installed ``nndsl`` console script from a directory outside the repository.
Deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import importlib.util
import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
BIN = "Scripts" if os.name == "nt" else "bin"
EXE = ".exe" if os.name == "nt" else ""


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the installed copy must not be shadowed by the checkout
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == 0, (
        f"{what} failed with exit {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    cmd = [sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "-w", out]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")  # no index needed when the backend is here already
    _check(_run(cmd, cwd=out), "building the wheel")
    wheels = sorted(out.glob("nndsl-*.whl"))
    assert len(wheels) == 1, f"expected one nndsl wheel, got {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv directory with the wheel installed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False, clear=True).create(env_dir)
    py = env_dir / BIN / f"python{EXE}"
    if sys.prefix != sys.base_prefix:
        # Running inside a venv: --system-site-packages only reaches the base interpreter, so
        # also put this venv's site-packages (lark, jinja2, black, torch, pip) on the path. A
        # path line in a .pth does not run that folder's own .pth files, so an editable nndsl
        # there stays out of sight.
        proc = _run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env_dir)
        _check(proc, "locating the venv's site-packages")
        outer = "\n".join(dict.fromkeys(site.getsitepackages()))
        (Path(proc.stdout.strip()) / "_outer_site_packages.pth").write_text(outer + "\n")
    cmd = [py, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", wheel]
    _check(_run(cmd, cwd=env_dir), "installing the wheel")
    return env_dir


def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "nndsl/__init__.py" in names
    assert "nndsl/grammar/nndsl.lark" in names
    # every template, those in subfolders (templates/train/) too
    templates = {
        f"nndsl/{p.relative_to(REPO).as_posix()}" for p in (REPO / "templates").rglob("*.j2")
    }
    assert any(n.startswith("nndsl/templates/train/") for n in templates)
    assert templates <= set(names)
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n]
    assert not [n for n in names if n.startswith(("grammar/", "templates/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "nndsl = nndsl.cli:entry" in text


def test_installed_package_has_resources(installed: Path, tmp_path: Path) -> None:
    py = installed / BIN / f"python{EXE}"
    code = "import nndsl, pathlib; print(pathlib.Path(nndsl.__file__).resolve().parent)"
    proc = _run([py, "-c", code], cwd=tmp_path)
    _check(proc, "importing the installed package")
    pkg = Path(proc.stdout.strip())
    assert REPO not in pkg.parents, f"imported the checkout ({pkg}), not the installed wheel"
    assert (pkg / "grammar" / "nndsl.lark").is_file()
    assert (pkg / "templates").is_dir()


def test_installed_cli_compiles_example(installed: Path, tmp_path: Path) -> None:
    script = installed / BIN / f"nndsl{EXE}"
    assert script.is_file(), "the wheel did not install the nndsl console script"
    target = tmp_path / "model.py"
    proc = _run([script, "compile", REPO / "examples" / "add.nn", "-o", target], cwd=tmp_path)
    _check(proc, "nndsl compile examples/add.nn")
    assert "class AddNet(nn.Module)" in target.read_text()
    # the training script, from the templates in the installed package's templates/train/
    assert "def step(" in (tmp_path / "train_addnet.py").read_text()
    assert "def train_one_epoch(" in (tmp_path / "trainkit.py").read_text()


def test_the_wheel_ships_parse_tables_that_spare_the_first_compile(
    wheel: Path, installed: Path, tmp_path: Path
) -> None:
    """hatch_build.py builds lark's tables when the wheel is made; the first compile after
    installing loads them instead of deriving them again (the user cache is empty)."""
    names = zipfile.ZipFile(wheel).namelist()
    tables = [n for n in names if n.startswith("nndsl/grammar/") and n.endswith(".lark-cache")]
    assert sorted(n.split("/")[-1].split("-")[0] for n in tables) == ["grammar", "tree"]
    py = installed / BIN / f"python{EXE}"
    probe = (
        "import sys, lark.parsers.lalr_analysis as a\n"
        "def refuse(*_): raise SystemExit('lark derived the tables again')\n"
        "a.LALR_Analyzer.compute_lalr = refuse\n"
        "from nndsl.cli import main\n"
        "sys.exit(main(['compile', sys.argv[1], '-o', 'model.py']))\n"
    )
    env_cache = tmp_path / "cache"
    cmd = [py, "-c", probe, REPO / "examples" / "add.nn"]
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            "NNDSL_CACHE_DIR": str(env_cache),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    _check(proc, "compiling with the shipped tables")
    assert "class AddNet(nn.Module)" in (tmp_path / "model.py").read_text()
    assert not list(env_cache.glob("*.lark-cache"))  # loaded from the package, not rebuilt


def test_editable_install_reads_the_checkout(tmp_path: Path) -> None:
    """`pip install -e .` is what .ci/run and the README's test command do. hatchling refuses
    an editable install when the wheel rewrites a folder holding a .py file into the package
    (templates/trainkit.py), so the wheel's folder mapping lives in hatch_build.py, which an
    editable build skips; the installed package then reads grammar/ and templates/ from here.
    """
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, clear=True).create(env_dir)
    py = env_dir / BIN / f"python{EXE}"
    cmd = [py, "-m", "pip", "install", "--no-deps", "-e", REPO]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")
    _check(_run(cmd, cwd=tmp_path), "pip install -e")
    target = tmp_path / "model.py"
    script = env_dir / BIN / f"nndsl{EXE}"
    proc = _run([script, "compile", REPO / "examples" / "add.nn", "-o", target], cwd=tmp_path)
    _check(proc, "nndsl compile with the editable install")
    assert "class AddNet(nn.Module)" in target.read_text()
    kit = (tmp_path / "trainkit.py").read_text()
    assert kit.endswith((REPO / "templates" / "trainkit.py").read_text())  # after its header
