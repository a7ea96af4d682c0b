"""``nndsl run``: compile in memory, write the sources into a run folder, and train there by
importing the very script ``nndsl compile`` writes and calling its ``main``.

There is no second interpreter: flags become the script's own command-line flags, so a run can
be repeated by hand with ``python train_<model>.py`` in its folder.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from nndsl.codegen.render import HASH_PREFIX
from nndsl.run.tracing import explain

MODEL_MODULE = "model"
_FLAGS = ("epochs", "max_steps", "device", "seed", "batch_size", "lr", "eval", "checkpoint_every")


def run(args, text: str, report) -> int:
    from nndsl.codegen.outputs import write_atomic
    from nndsl.compiler import analyze, generate, generate_train
    from nndsl.diagnostics.core import EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE

    source = Path(args.file)
    result = analyze(text, source.parent)
    report(result.diagnostics)
    if not result.ok:
        return EXIT_DIAGNOSTICS
    trains = result.program.trains
    if args.model:
        trains = tuple(t for t in trains if t.model == args.model)
    if not trains:
        names = ", ".join(t.model for t in result.program.trains)
        why = (
            f"has no train section for `{args.model}` (trains: {names})"
            if names
            else "has no train section"
        )
        print(
            f"nndsl: error: {args.file} {why}; add `train Model on data {{ ... }}`", file=sys.stderr
        )
        return EXIT_USAGE
    for t in trains:
        if args.out:
            run_dir = Path(args.out) / (t.model.lower() if len(trains) > 1 else "")
        elif args.resume:
            run_dir = _newest(Path("runs") / t.model.lower())
            if run_dir is None:
                print(
                    f"nndsl: error: no earlier run of {t.model} under runs/ to resume; "
                    "give its folder with --out",
                    file=sys.stderr,
                )
                return EXIT_USAGE
        else:
            run_dir = _fresh(Path("runs") / t.model.lower())
        refusal = _refuse(run_dir)
        if refusal:
            print(f"nndsl: error: {refusal}", file=sys.stderr)
            return EXIT_USAGE
        data_dir = Path(os.path.relpath(source.parent.resolve(), run_dir.resolve())).as_posix()
        write_atomic(run_dir / f"{MODEL_MODULE}.py", generate(result.program, source.name))
        script = run_dir / f"{t.script}.py"
        if args.nproc and args.nproc > 1:
            t = replace(t, distributed=True)
        write_atomic(script, generate_train(t, source.name, MODEL_MODULE, data_dir=data_dir))
        write_atomic(run_dir / source.name, text)
        argv = ["--out-dir", str(run_dir.resolve())]
        for flag in _FLAGS:
            value = getattr(args, flag, None)
            if value is not None:
                argv += ["--" + flag.replace("_", "-"), str(value)]
        if args.quiet:
            argv.append("--quiet")
        if args.resume or args.max_restarts:
            argv.append("--resume")  # a restarted process continues from the newest checkpoint
        print(f"{t.model}: run folder {run_dir}", file=sys.stderr)
        if t.distributed and args.nproc and args.nproc > 1:
            code = _torchrun(script, argv, args.nproc, args.max_restarts or 0)
            if code:
                return code
            continue
        model_file = (run_dir / f"{MODEL_MODULE}.py").resolve()
        code = _execute(
            script,
            argv,
            lambda err, model_file=model_file, model=t.model: explain(
                err, model_file, result.program, text, source.name, model
            ),
        )
        if code:
            return code  # a failed or interrupted run ends the command
    return EXIT_OK


def _torchrun(script: Path, argv: list[str], nproc: int, restarts: int) -> int:
    """Run the script as ``nproc`` processes on this machine under torchrun."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        f"--max-restarts={restarts}",
        str(script.resolve()),
        *argv,
    ]
    print("running: torchrun " + " ".join(cmd[3:]), file=sys.stderr)
    return subprocess.run(cmd, cwd=script.parent).returncode


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


def _refuse(run_dir: Path) -> str | None:
    """Why ``run_dir`` must not be used: it holds files a run did not write."""
    if not run_dir.exists():
        return None
    if not run_dir.is_dir():
        return f"{run_dir} exists and is not a folder"
    entries = list(run_dir.iterdir())
    model = run_dir / f"{MODEL_MODULE}.py"
    if entries and not (
        model.is_file() and HASH_PREFIX in model.read_text(encoding="utf-8", errors="replace")[:400]
    ):
        return f"{run_dir} is not empty and is not an earlier run's folder; choose another --out"
    return None


def _execute(script: Path, argv: list[str], why) -> int:
    """Import the script from its folder and run ``main(parse_args(argv))``; the exit code.
    ``why(err)`` says where in the source a failure came from, or None."""
    folder = str(script.parent.resolve())
    saved = sys.modules.pop(MODEL_MODULE, None)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
        module.main(module.parse_args(argv))
        return 0
    except KeyboardInterrupt:
        raise
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(f"nndsl: {exit_.code}", file=sys.stderr)
            where = why(exit_)
            if where:
                print(where, file=sys.stderr)
            return 1
        return exit_.code or 0
    except Exception as err:
        where = why(err)
        print(f"nndsl: training failed: {type(err).__name__}: {err}", file=sys.stderr)
        if where:
            print(where, file=sys.stderr)
        print("the original error:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        sys.path.remove(folder)
        sys.modules.pop(script.stem, None)
        sys.modules.pop(MODEL_MODULE, None)
        if saved is not None:
            sys.modules[MODEL_MODULE] = saved
