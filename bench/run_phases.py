"""The phases of one ``nndsl run`` in this process, up to its first training step (not a test;
``python bench/train_bench.py --phases`` runs it in fresh processes and takes medians):

    python bench/run_phases.py FOLDER [FILE.nn] [nndsl run flags...]

runs ``nndsl run FILE.nn --out FOLDER --epochs 1 --quiet`` (FILE.nn: examples/add.nn) through
``nndsl.cli.main``, as ``python -m nndsl`` does, with the pipeline's functions wrapped to note
when each returns (a phase runs from the end of the one before), and prints one JSON object:
the seconds of each phase and the garbage collection inside it. The phases: importing
``nndsl.cli``, then ``nndsl.compiler`` and ``nndsl.run``; the command line; ``analyze``;
``generate`` (model.py), ``generate_train`` (the script), ``generate_kit``; writing the run
folder; executing the script (its imports: torch, the model and kit modules); its ``main`` up
to the first training step (the first ``Loop.forward``: the command line, the run folder's
files, the data, the model, the optimizer); then, for reference, the epoch (``Loop.fit``) and
what follows it (the weights, metrics, the plot). ``torch`` is where its own imports go:
``import torch`` (inside the script's execution) and ``torch._dynamo`` (which torch imports
when the script makes its first optimizer, inside ``main``), the seconds and garbage
collection of each: what any PyTorch script pays.

It imports nothing before nndsl but what a fresh ``python`` has, so that nndsl's imports are
timed as a user's run pays them. FOLDER must not hold a run yet.
"""

import gc
import json
import os
import sys
import time

# the checkout's nndsl, even when it is not installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MARKS = []  # (phase, when it ended, garbage collection seconds so far)
GC = {"s": 0.0, "full": 0}
TORCH = {}  # torch's own imports: module -> (seconds, garbage collection seconds)
_started = []


def _on_gc(phase, info):
    if phase == "start":
        _started.append(time.perf_counter())
        GC["full"] += info["generation"] == 2
    elif _started:
        GC["s"] += time.perf_counter() - _started.pop()


def mark(phase):
    MARKS.append((phase, time.perf_counter(), GC["s"]))


def _wrapped(module, name, phase, before=None):
    original = getattr(module, name)

    def timed(*args, **kwargs):
        if before:
            mark(before)
        result = original(*args, **kwargs)
        mark(phase)
        return result

    setattr(module, name, timed)


class _Loader:
    """A module's loader, timing the module's execution; for the script, also noting when
    training begins (the first ``Loop.forward``)."""

    def __init__(self, loader, name, script=False):
        self.loader, self.name, self.script = loader, name, script

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def exec_module(self, module):
        begin, gc0 = time.perf_counter(), GC["s"]
        self.loader.exec_module(module)
        if not self.script:
            TORCH[self.name] = (time.perf_counter() - begin, GC["s"] - gc0)
            return
        mark("exec the script, its model, kit")
        loop = module.kit.Loop
        forward = loop.forward

        def first_forward(self, *args, **kwargs):
            if loop.forward is first_forward:
                loop.forward = forward
                mark("main() to the first training step")
            return forward(self, *args, **kwargs)

        loop.forward = first_forward
        fit = loop.fit

        def timed_fit(self, *args, **kwargs):
            result = fit(self, *args, **kwargs)
            mark("the epoch")
            return result

        loop.fit = timed_fit


class _TorchImports:
    """Times ``import torch`` and ``torch._dynamo`` (which torch imports when the first
    optimizer is made) where they happen: torch's own costs, which any PyTorch script pays."""

    names = ("torch", "torch._dynamo")

    def find_spec(self, name, path=None, target=None):
        if name not in self.names:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, name)
        return spec


def main(argv):
    folder, source, flags = argv[0], (argv[1:2] or ["examples/add.nn"])[0], argv[2:]
    gc.callbacks.append(_on_gc)
    sys.meta_path.insert(0, _TorchImports())
    mark("start")
    import nndsl.cli

    mark("import nndsl.cli")
    import nndsl.compiler
    import nndsl.run.runner as runner

    mark("import nndsl.compiler, nndsl.run")  # which the command would import itself
    _wrapped(nndsl.compiler, "analyze", "analyze", before="the command line")
    _wrapped(nndsl.compiler, "generate", "generate: model.py")
    _wrapped(nndsl.compiler, "generate_train", "generate_train: the script")
    _wrapped(nndsl.compiler, "generate_kit", "generate_kit: trainkit.py")
    execute = runner._execute

    def timed_execute(script, *args):
        mark("write the run folder")
        import importlib.util

        spec_from_file_location = importlib.util.spec_from_file_location

        def spec(name, location, *a, **k):
            found = spec_from_file_location(name, location, *a, **k)
            found.loader = _Loader(found.loader, name, script=True)
            return found

        importlib.util.spec_from_file_location = spec
        try:
            return execute(script, *args)
        finally:
            importlib.util.spec_from_file_location = spec_from_file_location

    runner._execute = timed_execute
    argv = ["run", source, "--out", folder, "--epochs", "1", "--quiet", *flags]
    code = nndsl.cli.main(argv)
    mark("after it: weights, metrics, plot")
    gc.callbacks.remove(_on_gc)
    phases = [
        (phase, end - begin, gc1 - gc0)
        for (_, begin, gc0), (phase, end, gc1) in zip(MARKS, MARKS[1:])
    ]
    out = {"exit": code, "phases": phases, "torch": TORCH, "full_collections": GC["full"]}
    json.dump(out, sys.stdout)
    print()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
