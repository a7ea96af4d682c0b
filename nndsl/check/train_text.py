"""A train section on text (:mod:`nndsl.check.data_text`): the vocabulary its script encodes the
text files with and decodes characters with (``VOCABULARY``), and ``generate 300,
temperature=0.8, top_k=10, start="\\n"``, the characters sampled from the model after training.

``generate`` is checked against the model and the data: the model takes one input of ids of
any length (``idx: [T] long``) and scores the vocabulary's characters at every position
(``(B, T, V)``); the data reads a text file; ``top_k`` is at most the vocabulary's size, the
temperature is above 0, and ``start`` holds characters of the vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import replace

from nndsl.check.train_build import build
from nndsl.diagnostics.core import Reported
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.ir.dtypes import FLOAT_DTYPES, INT_DTYPES
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.values import EvalError, evaluate
from nndsl.lang import syntax as s
from nndsl.util.naming import suggest

MAX_GENERATE = 100_000  # characters one `generate` samples
OPTIONS = ("temperature", "top_k", "start")
_EXAMPLE = 'e.g. `generate 300, temperature=0.8, top_k=10, start="\\n"`'


def build_text(rules, node: s.Train, model, data, sets: dict) -> ir.TrainIR:
    """The section built (:func:`nndsl.check.train_build.build`), with its vocabulary and
    ``generate``; every problem of either part is reported."""
    failed = False
    try:
        generate = _generate(rules, model, data, sets.get("generate"))
    except Reported:
        failed, generate = True, None
    t = build(rules, node, model, data, sets)
    t = with_vocabulary(rules, t, data)
    if failed:
        raise Reported
    if generate is not None:
        generate = replace(generate, output=t.output)
    return replace(t, generate=generate)


def with_vocabulary(rules, t: ir.TrainIR, data) -> ir.TrainIR:
    """``t`` with the vocabulary of its text files: the training data's (or else the held-out
    data's), which every other section it reads text from uses only characters of. A
    sequence of text fed as it is, not cut into samples, is refused (E0403)."""
    parts = [(data, t.data, "")]
    for code, setting in ((t.validation, "validation"), (t.test, "test")):
        if code is not None:
            parts.append((rules.datas[code.name], code, setting))
    for info, code, _ in parts:
        _fed_sequences(rules, info, code)
    texts = [(info, setting) for info, _, setting in parts if info.vocabulary is not None]
    if not texts:
        return t
    vocabulary = texts[0][0].vocabulary
    for info, setting in texts[1:]:
        extra = sorted(set(info.vocabulary) - set(vocabulary))
        if extra:
            shown = ", ".join(repr(c) for c in extra[:8]) + (", ..." if len(extra) > 8 else "")
            rules._error(
                "E0421",
                f"data `{info.name}` reads {info.text_file}, which holds characters the "
                f"vocabulary of {texts[0][0].text_file} lacks: {shown}",
                data.setting_spans[setting],
                help="the script encodes every text with one vocabulary: the training data's",
            )
            raise Reported
    return replace(t, vocabulary=vocabulary)


def _fed_sequences(rules, info, code: ir.DataCode) -> None:
    """E0403 for a sequence of text that the model or the loss would take as samples."""
    for name in [feed.tensor for _, feed in code.returns]:
        if name in info.sequences:
            n = info.tensors[name].shape[0]
            rules._error(
                "E0403",
                f"`{name}` is a sequence of {n:,} characters, not samples",
                info.spans[name],
                help=f"cut it into samples of, say, 64 characters: `windows({name}, 64)`",
            )
            raise Reported


def refuse_generate(rules, sets: dict) -> None:
    """A train section of several models samples no text."""
    st = sets.get("generate")
    if st is not None:
        rules._error(
            "E0423",
            "a train section of steps does not take `generate`: it trains several models",
            st.name_span,
            help="train the model that writes text in a section of its own",
        )
        raise Reported


# ---- generate ---------------------------------------------------------------------------------


def _generate(rules, model, data, st: s.Setting | None) -> tr.Generate | None:
    if st is None:
        return None
    count, given = _arguments(rules, st)
    vocabulary = data.vocabulary
    if vocabulary is None:
        _fail(
            rules,
            "E0404",
            f"`generate` writes characters, but data `{data.name}` reads no text file",
            st.span,
            'read the text with `ids = text("data/book.txt")`',
        )
    context = _context(rules, model, data, st)
    _scores(rules, model, data, st, len(vocabulary))
    temperature = _number(rules, given.get("temperature"), "temperature", 1.0)
    if temperature <= 0 or not math.isfinite(temperature):
        _fail(
            rules,
            "E0125",
            f"`temperature` must be a finite number above 0, got {temperature}",
            given["temperature"].value.span,
            "1.0 samples as the model scores; below 1 picks likelier characters",
        )
    top_k = _top_k(rules, given.get("top_k"), len(vocabulary))
    start = _start(rules, given.get("start"), data)
    return tr.Generate(count, float(temperature), top_k, start, context)


def _arguments(rules, st: s.Setting) -> tuple[int, dict[str, s.Arg]]:
    """The number of characters, and the options given by name."""
    given: dict[str, s.Arg] = {}
    count = None
    for a in st.args:
        if a.name is None and count is None and not given:
            count = a
        elif a.name is None:
            _fail(rules, "E0104", "`generate` takes one number, then options by name", a.span)
        elif a.name not in OPTIONS:
            hint = suggest(a.name, OPTIONS) or "options: " + ", ".join(OPTIONS)
            _fail(rules, "E0102", f"`generate` has no option `{a.name}`", a.span, hint)
        elif a.name in given:
            _fail(rules, "E0105", f"`{a.name}` is given twice", a.span)
        else:
            given[a.name] = a
    if count is None:
        _fail(rules, "E0103", "`generate` needs the number of characters to write", st.span)
    n = _value(rules, count.value)
    if isinstance(n, bool) or not isinstance(n, int):
        _fail(rules, "E0106", "`generate` takes a whole number of characters", count.span)
    if not 1 <= n <= MAX_GENERATE:
        _fail(
            rules,
            "E0125",
            f"`generate` writes 1 to {MAX_GENERATE:,} characters, got {n}",
            count.span,
        )
    return n, given


def _context(rules, model, data, st: s.Setting) -> int:
    """The length of the samples the model trains on: as much as it sees of the text so far.
    The model takes one input, token ids of any length: ``idx: [T] long``."""
    inputs = [t for t in model.inputs if not t.optional]
    one = inputs[0] if len(inputs) == 1 else None
    if (
        one is None
        or one.dtype not in INT_DTYPES
        or len(one.shape) != 2
        or isinstance(one.shape[1], int)
    ):
        _fail(
            rules,
            "E0404",
            f"`generate` feeds `{model.name}` the characters so far, which needs one input of "
            "ids of any length",
            st.span,
            f"declare it as `model {model.name}(idx: [T] long)`",
        )
    fed = data.tensors.get(one.name)
    if fed is None or len(fed.shape) != 2 or not isinstance(fed.shape[1], int):
        raise Reported  # the data's own error, reported by the section
    return fed.shape[1]


def _scores(rules, model, data, st: s.Setting, size: int) -> None:
    """The model's (first) output scores every character at every position: (B, T, V)."""
    out = model.returns
    while isinstance(out, tuple):
        out = out[0]
    shape = out.shape
    if len(shape) != 3 or shape[1] != model.inputs[0].shape[1] or out.dtype not in FLOAT_DTYPES:
        _fail(
            rules,
            "E0404",
            f"`generate` samples from scores (B, T, characters), but `{model.name}` returns "
            f"{fmt_shape(shape)}",
            st.span,
            "return the scores of the next character at every position",
        )
    if shape[2] != size:
        _fail(
            rules,
            "E0421",
            f"`{model.name}` scores {shape[2]} characters, but the vocabulary of "
            f"{data.text_file} holds {size}",
            st.span,
            f"make its last layer score {size} characters",
        )


def _top_k(rules, arg: s.Arg | None, size: int) -> int:
    if arg is None:
        return 0
    k = _value(rules, arg.value)
    if isinstance(k, bool) or not isinstance(k, int):
        _fail(rules, "E0106", "`top_k` is a whole number of characters", arg.value.span)
    if not 1 <= k <= size:
        _fail(
            rules,
            "E0125",
            f"`top_k` picks among 1 to {size} characters, the vocabulary's, got {k}",
            arg.value.span,
        )
    return k


def _start(rules, arg: s.Arg | None, data) -> str:
    """The text the model continues: given, or the first character of the text file."""
    if arg is None:
        return data.text_first
    start = _value(rules, arg.value)
    if not isinstance(start, str) or not start:
        _fail(rules, "E0106", "`start` is the text to continue, a string", arg.value.span)
    missing = sorted(set(start) - set(data.vocabulary))
    if missing:
        _fail(
            rules,
            "E0126",
            f"`start` holds {', '.join(repr(c) for c in missing)}, which {data.text_file} "
            "never uses",
            arg.value.span,
            "start with characters of the text",
        )
    return start


def _number(rules, arg: s.Arg | None, name: str, default: float) -> float:
    if arg is None:
        return default
    v = _value(rules, arg.value)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _fail(rules, "E0106", f"`{name}` takes a number", arg.value.span)
    return v


def _value(rules, node: s.Expr):
    try:
        return evaluate(node, {}).py
    except EvalError as err:
        _fail(rules, "E0106", err.message, err.span or node.span, err.help)


def _fail(rules, code: str, message: str, span, help: str | None = None):
    rules._error(code, message, span, help=help or _EXAMPLE)
    raise Reported
