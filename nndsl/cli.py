"""The ``nndsl`` command line: ``compile``, ``check``, ``run`` and ``export``, and the tools
around them (``fmt``, ``graph``, ``summary``, ``explain``, ``new``, ``completion``, ``lsp``).

Exit codes: 0 ok, 1 diagnostics or a failed run, 2 usage (bad flags, unreadable file, a file
the system refuses to write), 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

from nndsl import __version__
from nndsl.diagnostics.core import (
    EXIT_DIAGNOSTICS,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    Diagnostic,
    report,
)
from nndsl.lang.source import read_source


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as documented
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


EPILOG = (
    "environment: NNDSL_CACHE_DIR is where parse tables, compiled templates and "
    "formatted code are cached (default ~/.cache/nndsl; empty turns the cache off); "
    "NNDSL_DEBUG=1 shows the traceback of an internal error."
)


class _Commands:
    """The subcommands of :func:`build_parser`: each is listed with its help, and given its
    arguments only when it is ``only`` (or ``only`` is None). Declaring every argument of every
    command costs more than a compile's parsing of a small .nn file."""

    def __init__(self, parser: argparse.ArgumentParser, only: str | None) -> None:
        self.sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
        self.only = only

    def add_parser(self, name: str, **kw):
        parser = self.sub.add_parser(name, **kw)
        return parser if self.only in (None, name) else self

    def add_argument(self, *args, **kw) -> None:
        pass  # a command that is not `only`: its arguments are not needed


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nndsl",
        description="Compile .nn network descriptions to readable, standalone PyTorch.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"nndsl {__version__}")
    sub = _Commands(parser, only)
    fmt = {
        "choices": ("text", "short", "json"),
        "default": "text",
        "help": "how to print diagnostics: text (with source and caret), "
        "short (one line each), json",
    }
    _compile_commands(sub, fmt)
    _run_command(sub, fmt)
    _export_command(sub)
    _view_commands(sub, fmt)
    _other_commands(sub)
    return parser


def _compile_commands(sub, fmt: dict) -> None:
    """`compile` and `check`."""
    c = sub.add_parser("compile", help="write the PyTorch module for a .nn file")
    c.add_argument("file", help="the .nn source file")
    c.add_argument("-o", "--output", default="-", help="output .py file; `-` (default) for stdout")
    c.add_argument("--format", **fmt)
    c.add_argument(
        "--force", action="store_true", help="overwrite generated files even if edited by hand"
    )
    c.add_argument(
        "--diff",
        action="store_true",
        help="print how the files on disk would change; write nothing",
    )
    c.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if a file on disk is missing or out of date; write nothing",
    )
    c.add_argument(
        "--no-train",
        action="store_true",
        help="write only the model; by default each `train` section also becomes "
        "train_<model>.py beside the -o file",
    )
    k = sub.add_parser("check", help="check a .nn file; print its layer tables and data tensors")
    k.add_argument("file", help="the .nn source file")
    k.add_argument("--format", **fmt)


def _run_command(sub, fmt: dict) -> None:
    """`run`: its flags are declared beside the runner (nndsl/run/flags.py)."""
    from nndsl.run.flags import add_run_command

    add_run_command(sub, fmt)


def _export_command(sub) -> None:
    """`export`: its flags are declared beside the export itself, which is long enough."""
    from nndsl.run.export import flags

    flags.add_flags(sub.add_parser("export", help=flags.HELP, description=flags.DESCRIPTION))


def _view_commands(sub, fmt: dict) -> None:
    """`fmt`, `graph` and `summary`."""
    fm = sub.add_parser(
        "fmt",
        help="rewrite .nn files in the canonical layout",
        description="Rewrite each file in the canonical layout (indentation, spacing, blank "
        "lines), keeping every comment and the meaning; only changed files are written.",
    )
    fm.add_argument(
        "files", nargs="+", metavar="FILE", help="a .nn file; `-` reads stdin, writes stdout"
    )
    fm.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file would change"
    )
    fm.add_argument("--diff", action="store_true", help="print a unified diff; write nothing")
    fm.add_argument("--format", **fmt)
    gr = sub.add_parser(
        "graph",
        help="draw a model's dataflow graph: DOT, Mermaid, or SVG/PNG through Graphviz",
        description="Write the dataflow graph of the models of a .nn file, every edge labelled "
        "with its shape. The -o suffix picks the format: .dot, .mmd, or .svg/.png (which need "
        "the `dot` program of Graphviz).",
    )
    gr.add_argument("file", help="the .nn source file")
    gr.add_argument("-o", "--output", default="-", help="output file; `-` (default) prints DOT")
    gr.add_argument(
        "--format", choices=("dot", "mermaid"), help="the text format (default: from -o)"
    )
    gr.add_argument("--model", help="draw only this model (default: every model)")
    from nndsl.tools import summary_flags as sf  # declared beside the summary, as export's are

    sf.add_flags(sub.add_parser("summary", help=sf.HELP, description=sf.DESCRIPTION))


def _other_commands(sub) -> None:
    """`explain`, `new`, `completion` and `lsp`."""
    e = sub.add_parser(
        "explain",
        help="explain a diagnostic code, with a wrong and a fixed example",
        description="Print the long explanation of a diagnostic code such as E0301; with no "
        "code, list every code and its meaning.",
    )
    e.add_argument("code", nargs="?", help="the code, e.g. E0301 (default: list every code)")
    e.add_argument("--list", action="store_true", help="list every code and its meaning")
    n = sub.add_parser(
        "new",
        help="write a starter NAME.nn (a model, data and a train section) that trains as it is",
    )
    n.add_argument("name", help="the model's name, also the file's: NAME.nn")
    n.add_argument("--dir", default=".", help="the folder to write it in (default: the current)")
    sh = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script for the shell; for bash, add "
        '`eval "$(nndsl completion bash)"` to ~/.bashrc.',
    )
    sh.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell")
    sub.add_parser("lsp", help="run the language server on stdin/stdout, for editors (pygls)")


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    command = next((w for w in words if not w.startswith("-")), None)
    known = command in _COMMANDS or command in _TOOLS  # then only its arguments are declared
    args = build_parser(command if known else None).parse_args(argv)
    try:
        if args.command in _TOOLS:  # commands that take other arguments than one .nn file
            return _TOOLS[args.command](args)
        text = read_source(args.file)
        if text is None:
            return EXIT_USAGE
        if isinstance(text, tuple):
            _report([text[0]], text[1], args)
            return EXIT_DIAGNOSTICS
        return _COMMANDS[args.command](args, text)
    except KeyboardInterrupt:
        return 130
    except OSError as err:  # the system refused: a full or read-only disk, a parent that is a file
        print(f"nndsl: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:  # a bug in nndsl, never the user's fault
        if os.environ.get("NNDSL_DEBUG"):
            import traceback

            traceback.print_exc()
        what = getattr(args, "file", None) or args.command
        print(
            f"nndsl: internal error while processing {what}: {sys.exc_info()[1]!r}\n"
            "This is a bug in nndsl; set NNDSL_DEBUG=1 for the traceback and please report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def entry() -> None:
    code = main()
    # The interpreter's last garbage collection at exit walks every object still alive, a
    # sixth of a small compile's time; frozen objects are left out of it (the process ends).
    gc.freeze()
    sys.exit(code)


def _report(diagnostics: list[Diagnostic], text: str, args) -> None:
    report(diagnostics, text, args.file, args.format)


def _compile(args, text: str) -> int:
    from nndsl.codegen import KIT_MODULE
    from nndsl.compiler import analyze, generate, generate_kit, generate_train

    source = Path(args.file)
    result = analyze(text, source.parent)
    _report(result.diagnostics, text, args)
    if not result.ok:
        return EXIT_DIAGNOSTICS
    code = generate(result.program, source.name)
    if args.output == "-":
        sys.stdout.write(code)
        return EXIT_OK
    out = Path(args.output)
    trains = () if args.no_train else result.program.trains
    if trains and (not out.stem.isidentifier() or out.stem == KIT_MODULE):
        why = "not a Python name" if out.stem != KIT_MODULE else "their support module's name"
        print(
            f"nndsl: error: the training script imports the model as `{out.stem}`, {why}: "
            "choose another -o name or pass --no-train",
            file=sys.stderr,
        )
        return EXIT_USAGE
    files = [(out, code)]
    data_dir = os.path.relpath(source.parent.resolve(), out.parent.resolve())
    for t in trains:
        script = generate_train(t, source.name, out.stem, data_dir=Path(data_dir).as_posix())
        files.append((out.parent / f"{t.script}.py", script))
    if trains:
        files.append((out.parent / f"{KIT_MODULE}.py", generate_kit()))
    from nndsl.codegen.outputs import write_or_compare

    code = write_or_compare(files, check=args.check, show=args.diff, force=args.force)
    if code == EXIT_OK and out.parent.resolve() != source.parent.resolve():
        for imp in result.program.imports:  # the model imports it from beside itself
            if not (out.parent / f"{imp.module}.py").is_file():
                print(
                    f"nndsl: note: {out.name} imports {imp.module}.py, which is not beside "
                    f"it: copy it from {source.parent / f'{imp.module}.py'}",
                    file=sys.stderr,
                )
    return code


def _run(args, text: str) -> int:
    from nndsl.run.runner import run

    return run(args, text, lambda diags: _report(diags, text, args))


def _export(args, text: str) -> int:
    from nndsl.run.export.command import command

    return command(args, text, lambda diags: _report(diags, text, args))


def _check(args, text: str) -> int:
    from nndsl.compiler import analyze
    from nndsl.tools.summary import summary_table

    result = analyze(text, Path(args.file).parent)
    _report(result.diagnostics, text, args)
    if not result.ok:
        return EXIT_DIAGNOSTICS
    sys.stdout.write(summary_table(result.program))
    return EXIT_OK


def _graph(args, text: str) -> int:
    from nndsl.tools.graph import command

    return command(args, text, lambda diags: _report(diags, text, _text_format(args)))


def _summary(args, text: str) -> int:
    from nndsl.tools.summary_full import command

    return command(args, text, lambda diags: _report(diags, text, _text_format(args)))


def _text_format(args):
    """Diagnostics as text, for commands whose --format means something else."""
    return argparse.Namespace(**{**vars(args), "format": "text"})


def _new(args) -> int:
    from nndsl.tools.new import new

    return new(args)


def _completion(args) -> int:
    from nndsl.tools.completion import completion

    return completion(args, build_parser())


def _explain(args) -> int:
    from nndsl.tools.explain import main as explain

    return explain(args)


def _lsp(args) -> int:
    from nndsl.tools.lsp import main as lsp

    return lsp(args)


def _fmt(args) -> int:
    from nndsl.tools.fmt import main as fmt

    return fmt(args)


# Commands over one .nn file: handler(args, text of the file) -> exit code.
_COMMANDS = {
    "compile": _compile,
    "check": _check,
    "run": _run,
    "export": _export,
    "graph": _graph,
    "summary": _summary,
}
# Commands that take other arguments (several files, a name, a code): handler(args) -> exit code.
_TOOLS = {"fmt": _fmt, "explain": _explain, "new": _new, "completion": _completion, "lsp": _lsp}
