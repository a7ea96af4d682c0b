"""``nndsl run``: compile in memory, write the sources into a run folder, and train there by
importing the very script ``nndsl compile`` writes and calling its ``main``.

There is no second interpreter: flags become the script's own command-line flags, so a run can
be continued by hand with ``python train_<model>.py --resume`` in its folder. Which folder, and
whether it may be used, is ``folder``'s to say.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path

from nndsl.codegen import KIT_MODULE
from nndsl.run import cluster, folder
from nndsl.run.folder import MODEL_MODULE
from nndsl.run.launch import torchrun
from nndsl.run.needs import out_of_memory, torch_missing
from nndsl.run.tracing import explain

_FLAGS = ("epochs", "max_steps", "device", "seed", "batch_size", "lr", "eval", "checkpoint_every")


def run(args, text: str, report) -> int:
    from nndsl.compiler import analyze
    from nndsl.diagnostics.core import EXIT_DIAGNOSTICS, EXIT_USAGE

    source = Path(args.file)
    try:
        nodes = cluster.nodes(args)
        _check_slurm(args)
    except cluster.Invalid as err:
        print(f"nndsl: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    result = analyze(text, source.parent)
    report(result.diagnostics)
    if not result.ok:
        return EXIT_DIAGNOSTICS
    missing = torch_missing()
    if missing is not None:
        print(f"nndsl: {missing}", file=sys.stderr)
        return EXIT_USAGE
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
    if args.slurm and len(trains) > 1:
        print(
            f"nndsl: error: {args.file} has {len(trains)} train sections: write their batch "
            "scripts into their run folders (--slurm without a path), or choose one with --model",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return _train_all(args, trains, result, source, text, nodes)


def _train_all(args, trains, result, source: Path, text: str, nodes) -> int:
    """Each train section in its run folder: in process, under torchrun, or (--slurm) only a
    batch script; the first failure's exit code ends them."""
    from nndsl.diagnostics.core import EXIT_OK, EXIT_USAGE

    for t in trains:
        several = (args.nproc or 1) > 1 or nodes is not None or args.slurm is not None
        if several:
            t = replace(t, distributed=True)
        try:
            run_dir = folder.locate(args, t.model, len(trains) > 1)
            script = _write_sources(run_dir, t, result.program, source, text, args)
        except folder.Refused as refusal:
            print(f"nndsl: error: {refusal}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{t.model}: run folder {run_dir}", file=sys.stderr)
        argv = _argv(args, run_dir)
        if args.slurm is not None:
            code = _write_slurm(args, script, argv, t.model, run_dir)
        elif several:
            code = torchrun(script, argv, args.nproc or 1, args.max_restarts or 0, nodes)
        else:
            model_file = (run_dir / f"{MODEL_MODULE}.py").resolve()
            code = _execute(
                script,
                argv,
                lambda err, model_file=model_file, model=t.model: explain(
                    err, model_file, result.program, text, source.name, model
                ),
                _modules(result.program),
            )
        if code:
            return code  # a failed or interrupted run ends the command
    return EXIT_OK


def _check_slurm(args) -> None:
    """--slurm writes a batch script and trains nowhere: no flag of a run on this machine."""
    if args.slurm is None:
        return
    for flag in ("eval", "max_restarts"):
        if getattr(args, flag) is not None:
            raise cluster.Invalid(
                f"--slurm writes a batch script: leave out --{flag.replace('_', '-')}"
            )


def _write_slurm(args, script: Path, argv: list[str], model: str, run_dir: Path) -> int:
    """--slurm: the batch script of the run in ``run_dir``, written where it belongs."""
    from nndsl.codegen.outputs import write_atomic
    from nndsl.diagnostics.core import EXIT_USAGE

    path = cluster.slurm_path(args, run_dir)
    argv = argv if "--resume" in argv else [*argv, "--resume"]  # every start continues
    text = cluster.slurm_script(script, argv, model, args.nnodes or 1, args.nproc or 1)
    try:
        write_atomic(path, text)
        path.chmod(0o755)
    except OSError as err:
        print(f"nndsl: error: cannot write {path}: {err.strerror or err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{model}: wrote {path}; submit it with: sbatch {path}", file=sys.stderr)
    return 0


def _write_sources(run_dir: Path, t, program, source: Path, text: str, args) -> Path:
    """Write the model, the training script and a copy of the source into ``run_dir`` (Refused
    when they must not be); the script's path."""
    from nndsl.compiler import generate, generate_kit, generate_train

    data_dir = Path(os.path.relpath(source.parent.resolve(), run_dir.resolve())).as_posix()
    script = run_dir / f"{t.script}.py"
    files = [
        (run_dir / f"{MODEL_MODULE}.py", generate(program, source.name)),
        (script, generate_train(t, source.name, MODEL_MODULE, data_dir=data_dir)),
        (run_dir / f"{KIT_MODULE}.py", generate_kit()),
        (run_dir / folder.copy_name(source.name), text),
    ]
    copies = [
        (run_dir / f"{m}.py", _user_file(source.parent / f"{m}.py")) for m in _modules(program)
    ]
    folder.prepare(run_dir, files, source.name, bool(args.resume or args.eval), copies)
    return script


def _modules(program) -> list[str]:
    """The modules of the Python files beside the source that the model imports classes from."""
    return [i.module for i in program.imports]


def _user_file(path: Path) -> str:
    """The text of a Python file the model imports from, to be copied beside it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise folder.Refused(f"cannot copy {path.name} into the run folder: {err}") from None


def _argv(args, run_dir: Path) -> list[str]:
    """The script's command line: the run folder and the flags given to ``nndsl run``."""
    argv = ["--out-dir", str(run_dir.resolve())]
    for flag in _FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            if flag == "eval":  # torchrun's processes start in the run folder
                value = Path(value).resolve()
            argv += ["--" + flag.replace("_", "-"), str(value)]
    if args.quiet:
        argv.append("--quiet")
    if args.resume or args.max_restarts:
        argv.append("--resume")  # a restarted process continues from the newest checkpoint
    return argv


def _execute(script: Path, argv: list[str], why, modules: list[str] = ()) -> int:
    """Import the script from its folder and run ``main(parse_args(argv))``; the exit code.
    ``modules``: those of the user's files the model imports, read fresh from the run folder.
    ``why(err)`` says where in the source a failure came from, or None."""
    script_dir = str(script.parent.resolve())
    fresh = (MODEL_MODULE, KIT_MODULE, *modules)
    saved = {name: sys.modules.pop(name, None) for name in fresh}
    sys.path.insert(0, script_dir)
    try:
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up here
        _import_frozen(spec.loader, module)
        module.main(module.kit.parse_args(module.Config, module.__doc__, argv))
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
    except OSError as err:  # the system refused a read or a write: there is no bug to trace
        print(f"nndsl: error: training stopped: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        memory = out_of_memory(err)
        if memory is not None:
            print(f"nndsl: {memory}", file=sys.stderr)
            return 1
        where = why(err)
        print(f"nndsl: training failed: {type(err).__name__}: {err}", file=sys.stderr)
        if where:
            print(where, file=sys.stderr)
        print("the original error:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        gc.unfreeze()
        sys.path.remove(script_dir)
        sys.modules.pop(script.stem, None)
        for name, module in saved.items():
            sys.modules.pop(name, None)
            if module is not None:
                sys.modules[name] = module


def _import_frozen(loader, module) -> None:
    """Execute the script's module (its imports: torch, the model, the kit) without garbage
    collection, then freeze what is alive: torch's objects live as long as the run, and every
    full collection in training (and in the optimizer's first import of torch._dynamo) would
    walk them all again. ``_execute`` unfreezes them when the run ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        loader.exec_module(module)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
