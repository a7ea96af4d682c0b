"""Hostile input for the compiler: two generators of programs and the checks every outcome passes.

* :func:`grammar_programs`: programs drawn from grammar/nndsl.lark itself (hypothesis'
  ``from_lark``), with small, plausible names, numbers and strings;
* :func:`mutate`: an example from examples/ with a few tokens deleted, duplicated, swapped or
  replaced (numbers by 0, -1, huge ones and floats; names by other names).

:func:`check_source` is the promise: ``analyze`` raises nothing; a rejected program has at least
one error and every diagnostic has a place in the file; an accepted program compiles to modules
and training scripts that Python parses and compiles, black leaves alone, that import only
torch, numpy, the standard library and the model module, and whose every name is defined in the
file or is one of the builtins the templates use; and each model, built and run on random inputs
of the predicted shapes, returns exactly the shapes and dtypes the checker predicted.

Used by tests/test_fuzz.py (a short slice), tests/test_hostile.py and bench/fuzz.py (a long
campaign by hand).
"""

from __future__ import annotations

import ast
import builtins
import io
import json
import math
import random
import re
import signal
import sys
import time
from contextlib import contextmanager, redirect_stdout
from functools import lru_cache
from pathlib import Path

from compiled import BATCH, ROOT, SYMBOL_SIZE, UNBUILT

from nndsl.codegen.formatting import black_format
from nndsl.compiler import Analysis, analyze, generate, generate_train
from nndsl.diagnostics.core import render_json, render_short, render_text, source_lines
from nndsl.run.needs import out_of_memory

# mutated, built and trained: not those too large to build (tests/compiled.py's UNBUILT)
EXAMPLE_FILES = sorted(p for p in (ROOT / "examples").glob("*.nn") if p.name not in UNBUILT)
EXAMPLES_DIR = ROOT / "examples"

# ---- the checks -----------------------------------------------------------------------------

ALLOWED_IMPORTS = frozenset(sys.stdlib_module_names) | {"torch", "numpy", "model", "trainkit"}
OPTIONAL_IMPORTS = frozenset({"tqdm", "matplotlib", "safetensors"})  # in functions, if installed
# Builtins generated code may name (the templates use a few dozen); any other name must be
# defined in the file.
TEMPLATE_BUILTINS = (
    frozenset(dir(builtins))
    - frozenset("""eval exec compile __import__ breakpoint input globals locals help exit quit
    copyright credits license""".split())
    | {"__file__", "__name__", "__doc__"}
)
# Attributes no generated code may reach, whatever it is called on.
FORBIDDEN_ATTRIBUTES = frozenset(
    """system popen spawnl spawnv execv execl execve fork kill rmtree putenv check_output
    check_call Popen import_module __globals__ __builtins__ __subclasses__ __class__ __bases__
    __mro__ __code__ __dict__ __import__ __loader__ __spec__""".split()
)
MAX_RUN_ELEMENTS = 2_000_000  # a model whose parameters or activations are larger is not run
RUN_SECONDS = 5.0


class Finding(AssertionError):
    """The compiler broke a promise on this input."""


def check_source(
    text: str, base: Path | None = None, *, run_models: bool = True, sources: dict | None = None
) -> Analysis:
    """Analyze ``text`` and check the outcome against every promise; raises :class:`Finding`
    (or whatever the compiler raised) when one is broken. The generated files of an accepted
    program go into ``sources`` (by file name) when given, and ``sources["seconds"]`` and
    ``sources["cpu"]`` are the wall and CPU time the compiler took (analysis and generation,
    not the checks)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = analyze(text, base)
    if not isinstance(result, Analysis):
        raise Finding(f"analyze returned {result!r}")
    files = generated_sources(result) if result.ok else {}
    if sources is not None:
        sources.update(files, seconds=time.perf_counter() - start, cpu=time.process_time() - cpu)
    check_diagnostics(result, text)
    own = {i.module for i in result.program.imports} if result.ok else set()
    for name, code in files.items():
        check_generated(code, name, own)
    if files and run_models:
        check_models(files["model.py"], result.program, base)
    return result


TRAIN_SECONDS = 20.0  # one optimizer step of a generated script, data loading included


def check_training(result: Analysis, folder: Path, base: Path) -> int:
    """Every train section of an accepted program trains one optimizer step through its
    generated script, in this process, on the data the checker accepted (files read from
    ``base``), in a run folder under ``folder``: it ends normally or with a one-line error
    (a SystemExit whose code is a string starting with ``error:``), never with a traceback.
    The number of sections trained."""
    import importlib.util
    import os

    from nndsl.compiler import generate_kit

    model_code = generate(result.program, "fuzz.nn")
    if escapes(model_code):  # as check_models: the program's word, taken as given
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(model_code, encoding="utf-8")
    (folder / "trainkit.py").write_text(generate_kit(), encoding="utf-8")
    data_dir = os.path.relpath(base, folder)
    trained = 0
    for t in result.program.trains:
        script = folder / f"{t.script}.py"
        script.write_text(generate_train(t, "fuzz.nn", "model", data_dir=data_dir), "utf-8")
        saved = {n: sys.modules.pop(n, None) for n in ("model", "trainkit")}
        sys.path.insert(0, str(folder))
        try:
            spec = importlib.util.spec_from_file_location(t.script, script)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            argv = ["--max-steps", "1", "--quiet", "--device", "cpu"]
            argv += ["--out-dir", str(folder / f"run-{t.script}")]
            with time_limit(TRAIN_SECONDS), redirect_stdout(io.StringIO()):
                spec.loader.exec_module(module)
                module.main(module.kit.parse_args(module.Config, None, argv))
            trained += 1
        except SystemExit as stop:
            if not (isinstance(stop.code, str) and stop.code.startswith("error:")):
                raise Finding(f"{t.script} exited with {stop.code!r}") from None
            if "\n" in stop.code.strip():
                raise Finding(
                    f"{t.script} stopped with more than one line: {stop.code!r}"
                ) from None
        except _Timeout:
            pass  # a slow step is not a broken promise; bench/fuzz.py reports the slowest
        except Exception as err:
            if out_of_memory(err) is not None:  # what nndsl run says in one line
                continue
            raise Finding(f"{t.script} failed with {type(err).__name__}: {err}") from err
        finally:
            sys.path.remove(str(folder))
            sys.modules.pop(t.script, None)
            for name, module_ in saved.items():
                sys.modules.pop(name, None)
                if module_ is not None:
                    sys.modules[name] = module_
    return trained


def timed_compile(text: str, base: Path | None = None) -> tuple[float, float]:
    """CPU and wall seconds of analysing ``text`` and generating its files."""
    start, cpu = time.perf_counter(), time.process_time()
    result = analyze(text, base)
    if result.ok:
        generated_sources(result)
    return time.process_time() - cpu, time.perf_counter() - start


def check_diagnostics(result: Analysis, text: str) -> None:
    if not result.ok and not any(d.severity == "error" for d in result.diagnostics):
        raise Finding("rejected without an error")
    lines = source_lines(text)
    for d in result.diagnostics:
        if d.span is None:
            raise Finding(f"{d.code} {d.message!r} has no place in the file")
        s = d.span
        if not (1 <= s.line <= len(lines) + 1 and s.column >= 1):
            raise Finding(f"{d.code} at {s.line}:{s.column} is outside the file")
        if not re.fullmatch(r"[EW]\d{4}", d.code):
            raise Finding(f"odd code {d.code!r}")
    render_text(result.diagnostics, text, "fuzz.nn")
    render_short(result.diagnostics, "fuzz.nn")
    json.loads(render_json(result.diagnostics, "fuzz.nn"))


def generated_sources(result: Analysis) -> dict[str, str]:
    """The files ``nndsl compile x.nn -o model.py`` writes, by name."""
    from nndsl.tools.summary import summary_table

    summary_table(result.program)  # what `nndsl check` prints
    sources = {"model.py": generate(result.program, "fuzz.nn")}
    for t in result.program.trains:
        sources[f"{t.script}.py"] = generate_train(t, "fuzz.nn", "model")
    return sources


def check_generated(code: str, name: str = "model.py", own: set = frozenset()) -> ast.Module:
    """Generated code parses and compiles, is black-stable and stays inside the allowed names;
    ``own``: the modules of the program's files of classes, which the model may import."""
    try:
        tree = ast.parse(code)
        compile(code, name, "exec")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as err:
        raise Finding(f"{name} does not compile: {type(err).__name__}: {err}") from None
    body = code.split("\n", 3)[3]
    if black_format(body, cache=False) != body:  # black over the whole file: the pieces add up
        raise Finding(f"black would change {name}")
    problems = name_problems(tree, own)
    if problems:
        raise Finding(f"{name}: {'; '.join(problems[:5])}")
    return tree


def name_problems(tree: ast.AST, own: set = frozenset()) -> list[str]:
    """Imports outside torch, numpy, the standard library and the model module (and, inside a
    function, the optional extras the templates try); names neither
    defined in the file nor among the builtins the templates use; forbidden attributes."""
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            defined.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    out = []
    top = {id(node) for node in getattr(tree, "body", ())}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            roots = (
                [a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import) else []
            )
            if isinstance(node, ast.ImportFrom):
                roots.append((node.module or "").split(".")[0])
            allowed = ALLOWED_IMPORTS | (OPTIONAL_IMPORTS if id(node) not in top else own)
            out += [f"imports {r}" for r in roots if r not in allowed]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in defined and node.id not in TEMPLATE_BUILTINS:
                out.append(f"undefined name {node.id!r} (line {node.lineno})")
        elif isinstance(node, ast.Attribute):
            if node.attr in FORBIDDEN_ATTRIBUTES:
                out.append(f"attribute {node.attr!r} (line {node.lineno})")
        elif isinstance(node, ast.Call) and not isinstance(
            node.func, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)
        ):
            out.append(f"odd call (line {node.lineno})")
    return out


# ---- running the models -----------------------------------------------------------------------


class _Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Interrupt the block after ``seconds`` (a model's own `while` may never end)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _size(dim, symbols: dict) -> int:
    return (
        BATCH if dim == "B" else symbols.get(dim, SYMBOL_SIZE) if isinstance(dim, str) else int(dim)
    )


def shape_value(text: str) -> object:
    """A checker type string such as ``(B, T - 2, 8)`` or ``((B, 1), (1, B, 32))`` as nested
    tuples of ints, with B and the other symbols at the sizes the inputs use."""
    tree = ast.parse(text, mode="eval").body

    def value(node):
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return BATCH if node.id == "B" else SYMBOL_SIZE
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            ops = {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}
            if type(node.op) in ops:
                return ops[type(node.op)]
            if isinstance(node.op, ast.FloorDiv):
                return a // b
            if isinstance(node.op, ast.Mod):
                return a % b
            if isinstance(node.op, ast.Pow):
                return a**b
        raise ValueError(f"cannot size {ast.unparse(node)}")

    out = value(tree)
    return out if isinstance(out, tuple) else (out,)


def _type_text(t) -> str:
    if isinstance(t, tuple):
        return "(" + ", ".join(_type_text(x) for x in t) + ("," if len(t) == 1 else "") + ")"
    return "(" + ", ".join(str(d) for d in t.shape) + ("," if len(t.shape) == 1 else "") + ")"


def _elements(value) -> int:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return math.prod(value)
    if isinstance(value, tuple):
        return max((_elements(v) for v in value), default=0)
    return 0


def _too_big(info) -> bool:
    if info.total_params > MAX_RUN_ELEMENTS:
        return True
    if any(math.prod(_size(d, {}) for d in t.shape) > MAX_RUN_ELEMENTS for t in info.inputs):
        return True
    for row in info.rows:
        try:
            if _elements(shape_value(row.shape_text)) > MAX_RUN_ELEMENTS:
                return True
        except (SyntaxError, ValueError):
            return True
    return False


def check_models(code: str, program, base: Path | None = None) -> int:
    """Build and run each model that is small enough; returns how many ran. The model imports
    the program's files of classes from ``base``. None runs in a program that uses torch
    modules or functions by name or classes of its own: their arguments and shapes are the
    program's word, which the checker takes as given (a mutated one can be wrong)."""
    import torch
    from compiled import load_module, structure_text, uncounted

    if escapes(code):
        return 0

    from nndsl.check.memory import weights_dtype

    dtypes = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64,
              "int32": torch.int32, "float16": torch.float16, "bfloat16": torch.bfloat16,
              "bool": torch.bool}  # fmt: skip
    namespace = None
    ran = 0
    for info in program.models:
        if _too_big(info):
            continue
        namespace = namespace or load_module(code, "fuzz", base)
        torch.manual_seed(0)
        inputs = []
        for t in info.inputs:
            shape = tuple(_size(d, {}) for d in t.shape)
            if t.optional:
                inputs.append(None)
            elif t.dtype == "bool":
                inputs.append(torch.rand(shape) > 0.5)
            elif t.dtype.startswith("int"):  # ids: 0 is in range of any Embedding
                inputs.append(torch.zeros(shape, dtype=dtypes[t.dtype]))
            else:
                inputs.append(torch.randn(shape, dtype=dtypes[t.dtype]))
        model = namespace[info.name]().eval()
        if weights_dtype(info):  # as the training script builds it
            model = model.to(dtypes[weights_dtype(info)])
        outside = uncounted(model, info)
        params = sum(
            p.numel() for p in model.parameters() if p.requires_grad and id(p) not in outside
        )
        if params != info.total_params:
            raise Finding(
                f"{info.name}: torch counts {params} parameters, the checker {info.total_params}"
            )
        try:
            with torch.no_grad(), time_limit(RUN_SECONDS):
                out = model(*inputs)
        except _Timeout:
            continue  # the model's own loop runs long: not the compiler's doing
        want = shape_value(_type_text(info.returns))
        if _structure(out) != want:
            raise Finding(
                f"{info.name} returns {structure_text(out)}; the checker predicted {_type_text(info.returns)}"
            )
        _dtypes(out, info.returns, dtypes, info.name)
        ran += 1
    return ran


def escapes(code: str) -> bool:
    """Whether a generated model uses torch modules or functions by name, or imported classes:
    layers whose arguments and output shapes the checker takes on the program's word."""
    return "def checked_shape(" in code or bool(re.search(r"^from (?!torch)\w+ import", code, re.M))


def _structure(value):
    if isinstance(value, (tuple, list)):
        return tuple(_structure(v) for v in value)
    return None if value is None else tuple(value.shape)


def _dtypes(out, t, dtypes, name) -> None:
    if isinstance(t, tuple):
        for o, x in zip(out, t):
            _dtypes(o, x, dtypes, name)
    elif out is not None and out.dtype != dtypes.get(t.dtype, out.dtype):
        raise Finding(f"{name} returns {out.dtype}; the checker predicted {t.dtype}")


# ---- generator (a): the grammar ---------------------------------------------------------------


@lru_cache(maxsize=1)
def grammar():
    """grammar/nndsl.lark with the options of nndsl.lang.parser._parser(), without the transformer."""
    from lark import Lark

    return Lark(
        (ROOT / "grammar" / "nndsl.lark").read_text(encoding="utf-8"),
        parser="lalr",
        maybe_placeholders=True,
    )


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Names the language gives meaning to, and a few it refuses."""
    from nndsl.check.data import DATA_SETTINGS, FILE_READERS, GENERATORS
    from nndsl.registry.functions import FUNCTIONS
    from nndsl.registry.layers import REGISTRY
    from nndsl.registry.training import (
        INITS,
        LOSSES,
        METRICS,
        OPTIMIZERS,
        SCHEDULERS,
        TRAIN_SETTINGS,
    )

    words = set(REGISTRY) | set(FUNCTIONS) | set(INITS) | set(LOSSES) | set(METRICS)
    words |= set(OPTIMIZERS) | set(SCHEDULERS) | set(TRAIN_SETTINGS) | set(DATA_SETTINGS)
    words |= set(FILE_READERS) | set(GENERATORS)
    words |= set("x y h c z w r B T C N in_ units width heads lr momentum".split())
    words |= set("param const init rand randn long float bool int64 float32 Weight".split())
    words |= set("class print self torch nn F np math super forward __init__ Config main".split())
    return tuple(sorted(words))


def grammar_programs():
    """A hypothesis strategy of programs the grammar accepts (almost all of them also lex: each
    token is followed by white space; a name may still happen to be a keyword)."""
    from hypothesis import strategies as st
    from hypothesis.extra.lark import from_lark

    space = st.sampled_from([" ", " ", " ", "\n", "  "])
    name = st.one_of(
        st.sampled_from(["x", "M", "Linear", "ReLU", "y", "h", "a", "N2", "_x", "out", "d"]),
        st.sampled_from(vocabulary()),
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True),
    )
    number = st.one_of(
        st.integers(0, 40).map(str),
        st.sampled_from(
            ["64", "128", "1_000", "0", "1", "2", "3", "10000", "9" * 61, "99999999", "007", "0_0"]
        ),
    )
    floats = st.sampled_from(["0.5", "0.1", "1e-3", "2.", ".25", "1e999", "0.0", "3e5", "1_0.5"])
    strings = st.one_of(
        st.sampled_from(
            [
                '"relu"',
                '"a.pt"',
                '"data/iris.csv"',
                '"label"',
                "'cuda:1'",
                '""',
                '"fan_in"',
                '"data/digits.csv"',
                '"\\x"',
                '"a\\"b"',
                '"\\u2028"',
                '"/etc/passwd"',
            ]
        ),
        st.text(max_size=8).map(_dsl_string),
    )
    comment = st.text(max_size=12).map(lambda t: "#" + re.sub(r"[\r\n]", " ", t) + "\n")
    explicit = {"NAME": name, "INT": number, "FLOAT": floats, "STRING": strings}
    terminals = {}
    for t in grammar().terminals:
        if t.name in explicit:
            terminals[t.name] = explicit[t.name]
        elif t.name == "COMMENT":
            terminals[t.name] = comment
        elif t.pattern.type == "str":
            terminals[t.name] = st.just(t.pattern.value)
        elif t.name == "CMP":
            terminals[t.name] = st.sampled_from(["==", "!=", "<=", ">=", "<", ">"])
        else:  # white space
            terminals[t.name] = space
    spaced = {k: st.tuples(v, space).map("".join) for k, v in terminals.items()}
    whole = from_lark(grammar(), start="start", explicit=spaced)
    # Whole programs drawn from `start` are mostly short; items drawn one by one go deeper.
    items = []
    for rule in ITEM_RULES:
        terms, rules, ignore = grammar().grammar.compile([rule], ())
        used = {t.name for t in terms} | set(ignore)
        for r in rules:
            used |= {sym.name for sym in r.expansion if sym.is_term}
        items.append(
            from_lark(grammar(), start=rule, explicit={k: spaced[k] for k in used if k in spaced})
        )
    pieces = st.lists(st.one_of(items), min_size=1, max_size=4).map("\n".join)
    return st.one_of(whole, pieces)


ITEM_RULES = ("model", "block", "layer_expr", "data", "train")


def _dsl_string(text: str) -> str:
    """``text`` as a DSL string literal (the escapes are Python's)."""
    return (
        '"'
        + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        + '"'
    )


# ---- generator (b): mutations of the examples -------------------------------------------------

_TOKEN = re.compile(
    r"""\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+|[A-Za-z_]\w*|\.\.\.|\*\*|//|[=!<>]=|."""
)
NUMBERS = ["0", "-1", "1", "2", "3", "7", "0.5", "1e-3", "2.5", "1e999", "-0.0", "100000",
           "123456789", "10 ** 9", "9" * 61, "9" * 400, "1_0", "0.0", "007", "0_8", "00.5"]  # fmt: skip
PUNCTUATION = ["(", ")", "[", "]", "{", "}", ",", "=", ":", ".", "-", "*", "~", "...", "**"]


@lru_cache(maxsize=1)
def example_texts() -> tuple[tuple[str, str], ...]:
    return tuple((p.stem, p.read_text(encoding="utf-8")) for p in EXAMPLE_FILES)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


MUTATIONS = {  # operation: weight; most keep the program well-formed, so that checks run
    "number": 30, "name": 18, "duplicate_line": 10, "splice_line": 10, "drop_line": 6,
    "delete": 8, "duplicate": 5, "swap": 5, "punctuation": 8,
}  # fmt: skip


def mutate(text: str, rng: random.Random, count: int | None = None) -> str:
    """``text`` with 1 to 4 (or ``count``) token- and line-level mutations."""
    toks = tokens(text)
    words = [t for t in toks if re.fullmatch(r"[A-Za-z_]\w*", t)]
    ops, weights = zip(*MUTATIONS.items())
    for _ in range(count if count is not None else rng.choice([1, 1, 1, 2, 2, 3, 4])):
        solid = [i for i, t in enumerate(toks) if not t.isspace() and not t.startswith("#")]
        if not solid:
            break
        i = rng.choice(solid)
        op = rng.choices(ops, weights)[0]
        if op == "number":
            nums = [k for k in solid if re.fullmatch(r"[\d.][\d_.eE+-]*", toks[k])]
            toks[rng.choice(nums) if nums else i] = rng.choice(NUMBERS)
        elif op == "name":
            names = [k for k in solid if re.fullmatch(r"[A-Za-z_]\w*", toks[k])]
            toks[rng.choice(names) if names else i] = rng.choice(words + list(vocabulary()))
        elif op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i] + " ")
        elif op == "swap":
            j = rng.choice(solid)
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "punctuation":
            toks.insert(i, rng.choice(PUNCTUATION))
        else:
            lines = "".join(toks).split("\n")
            k = rng.randrange(len(lines))
            if op == "duplicate_line":
                lines.insert(k, lines[k])
            elif op == "splice_line":
                _, other = rng.choice(example_texts())
                lines.insert(k, rng.choice(other.split("\n")))
            else:
                del lines[k]
            toks = tokens("\n".join(lines))
    return "".join(toks)


def mutations():
    """A hypothesis strategy of (example name, mutated text)."""
    from hypothesis import strategies as st

    return st.tuples(st.sampled_from(example_texts()), st.integers(0, 2**32 - 1)).map(
        lambda pair: (pair[0][0], mutate(pair[0][1], random.Random(pair[1])))
    )
