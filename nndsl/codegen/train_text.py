"""The text parts of a training script: ``VOCABULARY``, the characters whose ids its text files
are read as (by ``read_text``), and ``generate``, the characters sampled from the model after
training, one at a time."""

from __future__ import annotations

import textwrap

from nndsl.codegen.text import WIDTH
from nndsl.ir import nodes as ir
from nndsl.ir.expr import literal_text

_CHUNK = 60  # characters of the vocabulary per line when it does not fit on one


def text_view(t: ir.TrainIR) -> dict:
    """The vocabulary's lines and the ``generate`` function's, for the templates."""
    g = t.generate
    view = {
        "text": "text" in t.readers,
        "vocabulary_lines": vocabulary_lines(t.vocabulary) if t.vocabulary else [],
        "has_generate": g is not None,
    }
    if g is None:
        return view
    return {**view, "generate_doc": _doc(g), "generate_lines": _lines(g)}


def vocabulary_lines(vocabulary: str) -> list[str]:
    """``VOCABULARY = "..."``, in parts between parentheses when it is too long for a line."""
    line = f"VOCABULARY = {literal_text(vocabulary)}"
    if len(line) <= WIDTH:
        return [line]
    parts = [vocabulary[i : i + _CHUNK] for i in range(0, len(vocabulary), _CHUNK)]
    return ["VOCABULARY = (", *(f"    {literal_text(p)}" for p in parts), ")"]


def _doc(g) -> str:
    """The docstring of ``generate``, on two lines when it would pass the line width."""
    among = f"the top {g.top_k}" if g.top_k else "every character"
    doc = (
        f"Sample {g.count} characters after `start`, at temperature {g.temperature:g} from {among}."
    )
    if len(doc) + 10 <= WIDTH:  # with its indent and quotes
        return doc
    return "\n    ".join(textwrap.wrap(doc, WIDTH - 10)) + "\n    "


def _lines(g) -> list[str]:
    """The body of ``generate`` after its seeded generator."""
    scores = f"model(ids[:, -{g.context}:]){g.output}[:, -1]"
    if g.temperature != 1:
        scores += f" / {g.temperature!r}"
    lines = [
        f"start = {literal_text(g.start)}",
        "ids = torch.tensor([[VOCABULARY.index(c) for c in start]], device=device)",
        f"for _ in range({g.count}):",
        f"    # the next character's scores, the model seeing at most the last {g.context}",
        f"    logits = {scores}",
    ]
    if g.top_k:
        cutoff = f"logits.topk({g.top_k}).values[:, -1:]"
        lines += [
            f"    cutoff = {cutoff}  # the {_nth(g.top_k)} highest score",
            '    logits = logits.masked_fill(logits < cutoff, float("-inf"))',
        ]
    shown = f"generate {g.count} characters after {g.start!r}:"
    return lines + [
        "    picked = torch.multinomial(logits.softmax(-1), 1, generator=g)",
        "    ids = torch.cat([ids, picked], 1)",
        'text = "".join(VOCABULARY[i] for i in ids[0].tolist())',
        f"print({literal_text(shown)})",
        "print(text)",
        "return text",
    ]


def _nth(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
