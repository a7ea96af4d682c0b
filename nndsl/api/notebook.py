"""The IPython extension: ``%load_ext nndsl`` registers the ``%%nndsl`` cell magic, which
checks a cell as a ``.nn`` program, shows what ``nndsl check`` and ``nndsl graph`` show, and
binds the model classes in the notebook (docs/API.md, "Notebooks").

Only this module imports IPython; ``nndsl/__init__.py`` imports it when the extension loads.
"""

from __future__ import annotations

import html
import shutil
import sys

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import SVG, display

from nndsl.api.core import NNDSLError, as_source, check_source
from nndsl.api.loading import loads, train
from nndsl.api.summary import Checked
from nndsl.ir import nodes as ir
from nndsl.tools.graph import model_graph, run_dot, to_dot

CELL = "<cell>"  # the file name diagnostics and tracebacks give a cell's program


def load_ipython_extension(ipython) -> None:
    """Register the ``%%nndsl`` cell magic with the shell."""
    ipython.register_magics(NndslMagics)


class Message:
    """Text shown as it is: a ``<pre>`` block in a notebook, plain text in a terminal."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.text)


@magics_class
class NndslMagics(Magics):
    @magic_arguments()
    @argument("--no-bind", action="store_true", help="only check the program (imports no torch)")
    @argument("--name", metavar="VAR", help="also bind the loaded module (nndsl.loads) as VAR")
    @argument(
        "--train",
        nargs="?",
        const="trained",
        metavar="VAR",
        help="train in this process (nndsl.train) and bind the result as VAR (default: trained)",
    )
    @argument("--model", metavar="NAME", help="with --train: the model whose train section runs")
    @argument("--epochs", type=int, metavar="N", help="with --train: the number of epochs")
    @cell_magic
    def nndsl(self, line: str, cell: str):
        """Check the cell as a .nn program (data files relative to the working directory), as
        `nndsl check` does: show its diagnostics, or each model's layer table and, when
        Graphviz's `dot` is installed, its graph; then bind each model class in the notebook
        under its name. Returns None."""
        args = parse_argstring(self.nndsl, line)
        _refuse_conflicts(args)
        text = cell if cell.endswith("\n") else cell + "\n"  # a text, never a path
        checked, program = check_source(as_source(text, CELL))
        display(checked)
        if program is None:
            return None
        _show_graph(program)
        problem = _no_section(checked, args.model) if args.train is not None else None
        if problem is not None:
            display(Message(f"error: {problem}"))
        elif not args.no_bind:
            try:
                self._bind(text, [m.name for m in checked.models], args)
            except NNDSLError as err:  # a failed run: the script's message
                display(Message(str(err)))
        return None

    def _bind(self, text: str, models: list[str], args) -> None:
        """Load the program (or train it) and bind its model classes, the module as ``--name``
        and the training result as ``--train``'s VAR."""
        ns = self.shell.user_ns
        if args.train is None:
            module = loads(text, filename=CELL)
        else:
            overrides = {} if args.epochs is None else {"epochs": args.epochs}
            run = train(text, model=args.model, filename=CELL, **overrides)
            module = run.module
            ns[args.train] = run
            print(_last_row(run, args.train))
        for name in models:
            ns[name] = getattr(module, name)
        if args.name is not None:
            ns[args.name] = module


def _refuse_conflicts(args) -> None:
    for name in (args.name, args.train):
        if name is not None and not name.isidentifier():
            raise UsageError(f"%%nndsl: `{name}` is not a Python name to bind")
    if args.train is None and (args.model is not None or args.epochs is not None):
        raise UsageError("%%nndsl: --model and --epochs go with --train")
    if args.no_bind and (args.name is not None or args.train is not None):
        raise UsageError("%%nndsl: --no-bind binds nothing: drop --name and --train")


def _no_section(checked: Checked, model: str | None) -> str | None:
    """Why ``--train`` (with ``--model``) picks no single train section of the cell, if so."""
    names = [t.model for t in checked.trains]
    if (model is None and len(names) == 1) or model in names:
        return None
    if not names:
        return "--train: the cell has no train section"
    listed = ", ".join(names)
    if model is None:
        return f"--train: the cell has several train sections ({listed}): pick one with --model"
    return f"--model {model}: no train section trains it (the cell's: {listed})"


def _show_graph(program: ir.ProgramIR) -> None:
    """The models' dataflow graph as SVG, as ``nndsl graph -o x.svg`` draws it, when Graphviz's
    ``dot`` is installed."""
    dot = shutil.which("dot")
    names = [m.name for m in program.models]
    if dot is None or not names:
        return
    body = to_dot(model_graph(program, names, names[0] if len(names) == 1 else "cell"))
    svg, why = run_dot(body, "svg", dot)
    if svg is None:
        print(f"nndsl: dot failed, no graph: {why}", file=sys.stderr)
        return
    display(SVG(svg))


def _last_row(run, var: str) -> str:
    """The last row of the metrics history: ``epoch 5, loss 0.1234, ...``."""
    row = run.history[-1] if run.history else run.metrics
    cells = ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
    )
    return f"{var} = {type(run.model).__name__} trained in {run.out_dir}: {cells}"
