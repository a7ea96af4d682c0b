"""Running the generated code in this process: :func:`load`, :func:`loads` and :func:`train`."""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import linecache
import os
import re
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

from nndsl.api.core import (
    KIT_MODULE,
    MODEL_MODULE,
    NNDSLError,
    Source,
    as_source,
    checked_program,
    generate_files,
    read_file,
)
from nndsl.ir import nodes as ir
from nndsl.run.needs import out_of_memory, torch_missing
from nndsl.util.user_modules import importable


def load(path) -> types.ModuleType:
    """Execute the generated model module of the file at ``path`` and return it (see
    :func:`loads`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a path, not {type(path).__name__}")
    return _load(read_file(os.fspath(path)))[0]


def loads(text: str, *, filename: str = "<string>") -> types.ModuleType:
    """Execute the generated model module of a program's text and return it: its model and
    block classes, and each training script as an attribute named after it
    (``net.train_addnet``, with its ``main``, ``parse_args`` and ``Config``); with a single
    train section, its ``main``, ``parse_args`` and ``Config`` are also attributes of the
    module. The code run is exactly the text :func:`compile` returns, never written to disk:
    tracebacks and ``inspect.getsource`` show its lines, under a file name beside the source
    such as ``add.nn:model.py``."""
    if not isinstance(text, str):
        raise TypeError(f"expected the text of a program, not {type(text).__name__}")
    return _load(Source(text, filename, Path(filename).name, Path.cwd()))[0]


def _load(src: Source) -> tuple[types.ModuleType, ir.ProgramIR]:
    program = checked_program(src)
    missing = torch_missing()
    if missing is not None:
        raise NNDSLError(message=missing)
    files = generate_files(program, src, MODEL_MODULE, ".")
    digest = hashlib.sha256(src.text.encode()).hexdigest()[:12]
    prefix = "_nndsl_" + re.sub(r"\W", "_", Path(src.name).stem) + "_" + digest
    folder = src.folder.resolve()
    with importable(folder, [i.module for i in program.imports]):  # `from layers import ...`
        model = _execute(f"{prefix}_{MODEL_MODULE}", files.pop(f"{MODEL_MODULE}.py"), folder, src)
    modules = {MODEL_MODULE: model}  # for the scripts' `from model import AddNet`
    kit_text = files.pop(f"{KIT_MODULE}.py", None)
    if kit_text is not None:  # and their `import trainkit as kit`
        kit = _execute(f"{prefix}_{KIT_MODULE}", kit_text, folder, src, f"{KIT_MODULE}.py")
        modules[KIT_MODULE] = kit
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        for name, text in files.items():
            script = _execute(f"{prefix}_{name[:-3]}", text, folder, src, name)
            script.parse_args = _parser(script)
            setattr(model, name[:-3], script)
    finally:
        for name, module in saved.items():
            sys.modules.pop(name, None)
            if module is not None:
                sys.modules[name] = module
    if len(program.trains) == 1:
        script = getattr(model, program.trains[0].script)
        for entry in ("main", "parse_args", "Config"):
            if not hasattr(model, entry):
                setattr(model, entry, getattr(script, entry))
    return model, program


def _parser(script: types.ModuleType):
    """``parse_args(argv)``: the script's Config from a command line, as running it makes."""

    def parse_args(argv: list[str] | None = None):
        return script.kit.parse_args(script.Config, script.__doc__, argv)

    return parse_args


def _execute(
    name: str, text: str, folder: Path, src: Source, file: str = f"{MODEL_MODULE}.py"
) -> types.ModuleType:
    """A module made by running ``text``, registered as ``name``; its ``__file__`` sits in
    ``folder`` (where the scripts look for data), and ``linecache`` holds its lines."""
    filename = str(folder / f"{src.name}:{file}")
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module  # dataclasses look their module up here
    try:
        exec(builtins.compile(text, filename, "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


@dataclass
class Trained:
    """What :func:`train` returns: the trained model (the final weights, in eval mode), the
    metrics of every epoch (``metrics.csv``'s rows), the final metrics the script returned, the
    folder it wrote to, and the loaded module it ran."""

    model: object
    history: list[dict]
    metrics: dict
    out_dir: Path
    module: types.ModuleType


def train(
    source, *, model: str | None = None, out=None, filename: str | None = None, **overrides
) -> Trained:
    """Train one train section in this process, through its generated script's
    ``main(parse_args(...))``, as ``nndsl run`` does. ``model``: the section to train, needed
    when there are several; ``out``: the folder the script writes to (default
    ``runs/<model>/<date-time>/``, as ``nndsl run``); ``filename``: the name of a text, as for
    :func:`check`; ``overrides``: fields of the script's ``Config`` (``epochs=2``,
    ``max_steps=5``, ``lr=0.1``, ``device="cpu"``, ``quiet=True``...). Raises
    :class:`NNDSLError` when the program has errors or training fails."""
    src = as_source(source, filename)
    net, program = _load(src)
    trains = [t for t in program.trains if model in (None, t.model)]
    if len(trains) != 1:
        names = ", ".join(t.model for t in program.trains) or "none"
        why = "pass model=" if len(trains) > 1 else f"no train section for {model!r}"
        raise ValueError(f"{src.shown}: {why} (train sections: {names})")
    t = trains[0]
    script = getattr(net, t.script)
    fields = {f.name for f in dataclasses.fields(script.Config)}
    unknown = sorted(set(overrides) - fields - {"eval"})
    if unknown or "eval" in overrides:
        raise TypeError(f"not a field of {t.script}'s Config: {', '.join(unknown) or 'eval'}")
    folder = Path(out) if out is not None else _fresh(Path("runs") / t.model.lower())
    cfg = dataclasses.replace(script.parse_args(["--out-dir", str(folder)]), **overrides)
    metrics = _main(script, cfg, Path(net.__file__), program, src, t.model)
    return Trained(_weights(net, t, folder), _history(folder), metrics, folder, net)


def _main(script, cfg, model_file: Path, program: ir.ProgramIR, src: Source, model: str) -> dict:
    from nndsl.run.tracing import explain

    try:
        return script.main(cfg)
    except SystemExit as exit_:
        if not isinstance(exit_.code, str):
            raise
        where = explain(exit_, model_file, program, src.text, src.name, model)
        message = "\n".join(x for x in (exit_.code, where) if x)
        raise NNDSLError(message=message) from exit_
    except (MemoryError, RuntimeError) as err:
        memory = out_of_memory(err)
        if memory is None:
            raise
        raise NNDSLError(message=memory) from err


def _weights(net: types.ModuleType, t: ir.TrainIR, folder: Path):
    import torch

    if t.models:  # a train section of steps: every model, in one ModuleDict
        model = torch.nn.ModuleDict({key: getattr(net, cls)() for key, cls in t.models})
    else:
        model = getattr(net, t.model)()
    state = torch.load(folder / t.save, weights_only=True)
    model.load_state_dict(state, assign=True)  # in the dtype and on the device trained with
    return model.eval()


def _history(folder: Path) -> list[dict]:
    lines = (folder / "metrics.csv").read_text(encoding="utf-8").splitlines()
    keys = lines[0].split(",")
    return [dict(zip(keys, map(_number, line.split(",")))) for line in lines[1:]]


def _number(cell: str):
    if cell == "":
        return None
    try:
        return int(cell)
    except ValueError:
        return float(cell)


def _fresh(base: Path) -> Path:
    """``base/<date-time>``, with a suffix when a run of the same second exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path
