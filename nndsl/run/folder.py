"""The run folder of ``nndsl run``: which folder a run trains in, and whether it may.

A folder holds one run. The training script gives each run an id, kept in ``config.json`` and
in every checkpoint; a new run refuses a folder where a run has begun (its checkpoints would be
mixed with the new run's), and ``--resume`` continues that run. The generated sources are
protected as ``nndsl compile`` protects them: one edited by hand, or not written by nndsl, is
never replaced; and a resumed run keeps the model its checkpoints were trained with.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from nndsl.codegen.outputs import HEADER_LINES, Planned, plan, write_atomic

MODEL_MODULE = "model"


class Refused(Exception):
    """Why a run folder must not be used (the command ends with exit 2)."""


def locate(args, model: str, several: bool) -> Path:
    """The folder of ``model``'s run: ``--out`` (a subfolder per model when the file has
    ``several`` train sections), else with ``--resume`` the newest run under ``runs/``, else a
    new ``runs/<model>/<date-time>``."""
    if args.out:
        return Path(args.out) / (model.lower() if several else "")
    if args.resume:
        found = _newest(Path("runs") / model.lower())
        if found is None:
            raise Refused(
                f"no earlier run of {model} under runs/ to resume; give its folder with --out"
            )
        return found
    return _fresh(Path("runs") / model.lower())


def copy_name(source_name: str) -> str:
    """The name of the source's copy in the run folder: a name ending in ``.nn``, which no file
    of the run has (a source called ``model.py`` would replace the generated model)."""
    return source_name if source_name.endswith(".nn") else source_name + ".nn"


def prepare(
    run_dir: Path,
    files: list[tuple[Path, str]],
    source: str,
    continuing: bool,
    copies: list[tuple[Path, str]] = (),
) -> None:
    """Check ``run_dir`` and write ``files`` (the model first, then the training script, its
    support module and last the source's copy) into it, then ``copies``: the Python files the
    program imports classes from, which the model imports from beside it; ``continuing`` for
    ``--resume`` and ``--eval``, which use the run already there. Raises Refused, and writes
    nothing, when the folder must not be used."""
    generated = plan(files[:-1])
    _check(run_dir, generated, source, continuing)
    for p in generated:
        if p.changes:
            write_atomic(p.path, p.text)
    write_atomic(*files[-1])
    for path, text in copies:
        write_atomic(path, text)


def _check(run_dir: Path, generated: list[Planned], source: str, continuing: bool) -> None:
    """Raise Refused when writing ``generated`` into ``run_dir`` and training there would lose
    work: a hand edit, a file nndsl did not write, another run, a run's model."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise Refused(f"{run_dir} exists and is not a folder")
    model = generated[0]
    if model.state in ("new", "foreign") and any(run_dir.iterdir()):
        raise Refused(
            f"{run_dir} is not empty and is not an earlier run's folder; choose another --out"
        )
    for p in generated:
        if p.state in ("foreign", "unreadable"):
            raise Refused(f"{p.path} was not written by nndsl; it is left alone")
        if p.state == "edited":
            raise Refused(
                f"{p.path} has been edited since nndsl wrote it, and is left alone; to train "
                f"with the edits, run python {generated[1].path} yourself, or choose another --out"
            )
    run_id = _run_id(run_dir)
    if run_id is not None and not continuing:
        held = f"run {run_id}" if run_id else "an earlier run"
        raise Refused(
            f"{run_dir} holds {held}: its checkpoints and weights would be mixed with this "
            "run's; continue it with --resume, or choose another --out"
        )
    if continuing and model.state == "generated" and _body(model.path) != _body(model.text):
        raise Refused(
            f"the model in {source} has changed since this run began: its checkpoints hold "
            f"the weights of the model in {model.path}; start a new run, or continue with "
            f"that model: python {run_dir / generated[1].path.name} --out-dir {run_dir} --resume"
        )


def _run_id(run_dir: Path) -> str | None:
    """The id of the run begun in ``run_dir`` ("" for one that recorded none), or None when
    no run has begun there."""
    config = run_dir / "config.json"
    if config.is_file():
        try:
            recorded = json.loads(config.read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError, AttributeError):
            recorded = None
        return recorded if isinstance(recorded, str) else ""
    return "" if any(run_dir.glob("checkpoint-*")) else None  # .pt files, or fsdp folders


def _body(text_or_path: str | Path) -> str:
    """A generated file without its header (which names the source file)."""
    text = (
        text_or_path.read_text(encoding="utf-8") if isinstance(text_or_path, Path) else text_or_path
    )
    return text.split("\n", HEADER_LINES)[-1]


def _fresh(base: Path) -> Path:
    """``base/<date-time>``, with a suffix when a run of the same second exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path


def _newest(base: Path) -> Path | None:
    """The most recent run folder under ``base`` (names are date-times, so they sort)."""
    runs = sorted(p for p in base.glob("*") if p.is_dir()) if base.is_dir() else []
    return runs[-1] if runs else None
