"""What the language server (:mod:`nndsl.tools.lsp`) says about a document, without the protocol:
diagnostics, hover, completion, definitions, formatting and quick fixes.

Positions here are 0-based lines and 0-based characters (code points); the server converts them
to and from the editor's units. Diagnostics come from the checker that ``nndsl check`` runs; a
hover reads the checked program's dataflow graphs (every layer, operation and input with its
span and type) and layer tables, never the text; completion reads the registries.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from nndsl.check.data import DATA_SETTINGS, FILE_READERS, GENERATORS, SEQUENCE_FUNCTIONS
from nndsl.compiler import Analysis, analyze
from nndsl.diagnostics.core import CompileError, Diagnostic
from nndsl.diagnostics.span import Span
from nndsl.ir import nodes as ir
from nndsl.ir.graph import TensorType
from nndsl.ir.shapes import fmt_shape
from nndsl.lang import syntax as s
from nndsl.registry import training
from nndsl.registry.args import REQUIRED
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import REGISTRY
from nndsl.util.frozen import frozen

Range = tuple[int, int, int, int]  # start line, start character, end line, end character


@frozen
class Item:
    """A completion: ``kind`` is class (a layer or block), property (an argument), function
    (a loss, optimizer, reader...) or keyword (a setting)."""

    label: str
    kind: str
    detail: str = ""
    doc: str = ""
    insert: str = ""


class Document:
    """One version of an open document; what is computed from it is computed once."""

    def __init__(self, text: str, folder: Path | None = None):
        self.text = text
        self.folder = folder

    @cached_property
    def analysis(self) -> Analysis:
        return analyze(self.text, self.folder)

    @cached_property
    def tree(self) -> s.Program | None:
        """The syntax tree, or None when the text does not parse."""
        from nndsl.lang.parser import parse

        try:
            return parse(self.text)
        except (CompileError, RecursionError):
            return None

    @cached_property
    def lines(self) -> list[str]:
        return self.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def span_range(span: Span | None) -> Range:
    if span is None:
        return (0, 0, 0, 0)
    return (span.line - 1, span.column - 1, span.end_line - 1, span.end_column - 1)


def _inside(span: Span | None, line: int, column: int) -> bool:
    """Whether the 1-based ``line``/``column`` is in ``span`` (its end included, as a cursor
    right after a name is still on it)."""
    if span is None:
        return False
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


# ---- diagnostics ------------------------------------------------------------------------------


def diagnostics(doc: Document) -> list[Diagnostic]:
    return doc.analysis.diagnostics


def message(d: Diagnostic) -> str:
    """The text an editor shows: the message, the caret's label, the notes and the help."""
    out = [d.message + (f": {d.label}" if d.label else "")]
    out += [f"note: {n}" for n in d.notes]
    out += [f"help: {d.help}"] if d.help else []
    return "\n".join(out)


_SUGGESTION = re.compile(r"did you mean `([^`]+)`\?")


def quick_fixes(doc: Document, start: int, end: int) -> list[tuple[str, Range, str, Diagnostic]]:
    """(title, range, new text, diagnostic) for each diagnostic on lines ``start``..``end``
    whose help names a replacement for its span (``did you mean `ReLU`?``)."""
    fixes = []
    for d in doc.analysis.diagnostics:
        found = _SUGGESTION.search(d.help or "")
        if found and d.span is not None and start <= d.span.line - 1 <= end:
            fixes.append((f"Replace with `{found[1]}`", span_range(d.span), found[1], d))
    return fixes


# ---- hover ------------------------------------------------------------------------------------


def _type_text(t) -> str:
    if isinstance(t, TensorType):
        return f"{fmt_shape(t.dims)} {t.dtype}"
    if isinstance(t, tuple):
        return "(" + ", ".join(_type_text(x) for x in t) + ")"
    return ""


def hover(doc: Document, line: int, character: int) -> tuple[str, Range] | None:
    """Markdown for the layer, operation, input or model under the cursor: its inferred
    shape and dtype, and a layer's parameters; None elsewhere or while the program has errors."""
    program = doc.analysis.program
    if program is None:
        return None
    at = (line + 1, character + 1)
    found = []
    for g in program.graphs.values():
        found += [(n.span, g, n) for n in g.nodes if _inside(n.span, *at)]
        found += [(c.span, g, c) for c in g.clusters if _inside(c.span, *at)]
    called = not found
    if called:
        found = _named_layer(doc, line, character, program)
    if not found:
        return None

    def size(span: Span) -> tuple:
        return (span.end_line - span.line, span.end_column - span.column)

    span = min((f[0] for f in found), key=size)
    texts = [_describe(program, g, x) for sp, g, x in found if sp == span]
    shown = list(dict.fromkeys(t for t in texts if t))
    if called:  # the range is the name under the cursor, not the declaration
        word = _word(doc, line, character)
        left = len(re.search(r"\w*$", doc.lines[line][:character])[0])
        span = Span(line + 1, character + 1 - left, line + 1, character + 1 - left + len(word))
    return ("\n\n".join(shown), span_range(span)) if shown else None


def _named_layer(doc: Document, line: int, character: int, program: ir.ProgramIR) -> list:
    """The layer nodes a name under the cursor calls (``act`` in ``act(hidden(x))``): those of
    that attribute declared in the model or block the cursor is in."""
    tree, word = doc.tree, _word(doc, line, character)
    if tree is None or not word:
        return []
    item, end = _enclosing(tree, line + 1)
    if not isinstance(item, (s.Model, s.Block)):
        return []
    found = []
    for g in program.graphs.values():
        for x in (*g.nodes, *g.clusters):
            kind_ok = getattr(x, "kind", "") in ("layer", "block", "repeat", "model")
            if kind_ok and x.attr == word and x.span and item.span.line <= x.span.line < end:
                found.append((x.span, g, x))
    return found


def _describe(program: ir.ProgramIR, g, x) -> str:
    if not hasattr(x, "inputs"):  # a cluster: a model, or a block or repeat of one
        model = next((m for m in program.models if m.name == x.name), None)
        if x.kind != "model" or model is None:
            head = f"**{x.kind} {x.name}**" + (f" `{x.attr}`" if x.attr else "")
            r = _row(program, g, _path(g, x.parent, x.attr)) if x.attr else None
            if r is None:
                return head
            return f"{head} → `{r.shape_text}`\n\n{r.params:,} parameters (`{r.path}`)"
        inputs = ", ".join(_type_text(TensorType(t.shape, t.dtype)) for t in model.inputs)
        return (
            f"**model {model.name}**: {inputs} → {_returns(model.returns)}\n\n"
            f"{model.total_params:,} parameters"
        )
    values = {v.id: v for v in g.values}
    out = [_type_text(v.type) for v in g.values if v.node == x.id] or [_type_text(x.type)]
    head = {
        "layer": f"**{x.name}**" + (f" `{x.attr}`" if x.attr else ""),
        "input": f"input `{x.attr}`",
        "tensor": f"{x.name} `{x.attr}`",
        "output": "output",
    }.get(x.kind, f"`{x.name}`")
    lines = [f"{head} → `{' '.join(dict.fromkeys(out))}`"]
    ins = [_type_text(values[i].type) for i in x.inputs if i in values]
    if ins and x.kind in ("layer", "op"):
        lines.append("in: " + ", ".join(f"`{t}`" for t in ins))
    if x.kind == "layer":
        lines += _params(program, g, x)
    return "\n\n".join(lines) + (f"\n\nin model `{g.name}`" if len(program.models) > 1 else "")


def _returns(t) -> str:
    if isinstance(t, tuple):
        return "(" + ", ".join(_returns(x) for x in t) + ")"
    return _type_text(TensorType(t.shape, t.dtype))


def _path(g, cluster: int, attr: str) -> str:
    """The module path of ``attr`` in ``cluster``, as the layer table writes it: ``a.fc``."""
    clusters = {c.id: c for c in g.clusters}
    parts = [attr]
    c = clusters.get(cluster)
    while c is not None and c.parent is not None:
        parts.append(c.attr)
        c = clusters.get(c.parent)
    return ".".join(p for p in reversed(parts) if p)


def _row(program: ir.ProgramIR, g, path: str) -> ir.Row | None:
    rows = [r for m in program.models if m.name == g.name for r in m.rows]
    return next((r for r in rows if r.path == path), None)


def _params(program: ir.ProgramIR, g, node) -> list[str]:
    """The parameter count of a layer node, from the row of its module in the layer table."""
    r = _row(program, g, _path(g, node.cluster, node.attr)) if node.attr else None
    if r is None:
        return []
    return [f"{r.params:,} parameters (`{r.path}`)"]


# ---- completion -------------------------------------------------------------------------------

_SECTION = re.compile(r"^(model|block|layer|data|train)\b", re.M)
_TRAIN_TABLES = {
    "loss": training.LOSSES,
    "optimizer": training.OPTIMIZERS,
    "scheduler": training.SCHEDULERS,
}


def _open_call(text: str) -> str | None:
    """The name before the innermost ``(`` still open at the end of ``text``, skipping
    comments and strings; None when no call is open."""
    stack: list[str | None] = []
    for m in re.finditer(r'#[^\n]*|"(?:[^"\\\n]|\\.)*"?|[()\[\]]', text):
        token = m.group()
        if token in "([":
            before = re.search(r"(\w+)\s*$", text[: m.start()])
            stack.append(before[1] if before and token == "(" else None)
        elif token in ")]" and stack:
            stack.pop()
    return stack[-1] if stack else None


def completions(doc: Document, line: int, character: int) -> list[Item]:
    """What may be written at the cursor: a layer's, loss's or optimizer's arguments inside its
    call, a train or data section's settings and their values, or layers and blocks."""
    prefix = "\n".join(
        doc.lines[:line] + [doc.lines[line][:character] if line < len(doc.lines) else ""]
    )
    sections = list(_SECTION.finditer(prefix))
    section = sections[-1][1] if sections else ""
    here = prefix.rsplit("\n", 1)[-1]
    callee = _open_call(prefix[sections[-1].start() :] if sections else prefix)
    if callee is not None:
        return _arguments(callee, section, here) or _block_arguments(doc, callee, here)
    if section == "train":
        setting = re.match(r"\s*(\w+)\s+\w*$", here)
        if setting and setting[1] in _TRAIN_TABLES:
            table = _TRAIN_TABLES[setting[1]]
            return [Item(n, "function", spec.torch, spec.doc) for n, spec in table.items()]
        if re.fullmatch(r"\s*\w*", here):
            return [Item(n, "keyword") for n in training.TRAIN_SETTINGS]
        if re.search(r"[=~]\s*\w*$", here):  # an init rule's value
            return [Item(n, "function", spec.torch, spec.doc) for n, spec in training.INITS.items()]
        return []
    if section == "data":
        if re.fullmatch(r"\s*\w*", here):
            return [Item(n, "keyword") for n in DATA_SETTINGS]
        if re.search(r"=\s*\w*$", here):
            readers = [Item(n, "function", "reads a file") for n in FILE_READERS]
            cuts = [Item(n, "function", "Tensor.unfold") for n in SEQUENCE_FUNCTIONS]
            return readers + [Item(n, "function", f"torch.{n}") for n in GENERATORS] + cuts
        return []
    if section in ("model", "block", "layer"):
        return _layers(doc)
    return []


def _layers(doc: Document) -> list[Item]:
    items = [Item(name, "class", layer.ctor, layer.doc) for name, layer in REGISTRY.items()]
    for kind, name in re.findall(r"^(model|block|layer)\s+(\w+)", doc.text, re.M):
        items.append(Item(name, "class", f"{kind} {name}", f"the {kind} defined in this file"))
    return items


def _arguments(callee: str, section: str, here: str) -> list[Item]:
    """The keyword arguments of the call to ``callee``, written as ``name=``."""
    given = set(re.findall(r"(\w+)\s*=", here))
    if section == "train":
        specs = [t[callee] for t in (*_TRAIN_TABLES.values(), training.INITS) if callee in t]
        args = specs[0].args if specs else ()
    elif callee in REGISTRY:
        args = REGISTRY[callee].args
    elif callee in FUNCTIONS:
        args = FUNCTIONS[callee].params
    else:
        return []
    items = []
    for a in args:
        if a.name in given or a.name.startswith("*"):
            continue
        default = "" if a.default is REQUIRED else f" = {a.default!r}"
        items.append(Item(f"{a.name}=", "property", f"{a.kind}{default}", insert=f"{a.name}="))
    return items


def _block_arguments(doc: Document, callee: str, here: str) -> list[Item]:
    """The parameters of the block ``callee`` defined in the document, written as ``name=``."""
    given = set(re.findall(r"(\w+)\s*=", here))
    blocks = [i for i in (doc.tree.items if doc.tree else ()) if isinstance(i, s.Block)]
    params = next((b.params for b in blocks if b.name == callee), ())
    return [
        Item(f"{p.name}=", "property", f"parameter of {callee}", insert=f"{p.name}=")
        for p in params
        if p.name not in given
    ]


# ---- definitions and formatting ---------------------------------------------------------------


def _word(doc: Document, line: int, character: int) -> str:
    text = doc.lines[line] if line < len(doc.lines) else ""
    left = re.search(r"\w*$", text[:character])[0]
    right = re.match(r"\w*", text[character:])[0]
    return left + right


def definition(doc: Document, line: int, character: int) -> Range | None:
    """Where the name under the cursor is defined: a layer named in the enclosing model or
    block, a parameter of the block, or a model, block, layer or data section of the file."""
    tree, word = doc.tree, _word(doc, line, character)
    if tree is None or not word:
        return None
    item, _ = _enclosing(tree, line + 1)
    if isinstance(item, (s.Model, s.Block)):
        local = _local(item, word)
        if local is not None:
            return span_range(local)
    for item in tree.items:
        if not isinstance(item, (s.Train, s.Import)) and item.name == word:
            return span_range(item.name_span)
    return None


def _enclosing(tree: s.Program, line: int) -> tuple[object, int]:
    """The top-level item the 1-based ``line`` is in (its span is its name's; it runs to the
    next item), and the line the next item starts on."""
    starts = sorted((item.span.line, i) for i, item in enumerate(tree.items))
    found, end = None, 1 << 30
    for k, (start, i) in enumerate(starts):
        if start <= line:
            found = tree.items[i]
            end = starts[k + 1][0] if k + 1 < len(starts) else 1 << 30
    return found, end


def _local(item: s.Model | s.Block, word: str) -> Span | None:
    body = list(item.body)
    while body:
        st = body.pop(0)
        if isinstance(st, (s.LayerStmt, s.SharedStmt, s.RepeatStmt, s.SeqStmt)) and st.name == word:
            return st.name_span
        if isinstance(st, (s.RepeatStmt, s.SeqStmt)):
            body.extend(st.body)
        if isinstance(st, s.IfStmt):
            body.extend((*st.body, *(st.orelse or ())))
    for p in getattr(item, "params", ()):
        if p.name == word:
            return p.span
    return None


def formatted(doc: Document) -> str | None:
    """The text in the canonical layout of ``nndsl fmt``; None when it does not parse."""
    from nndsl.tools.fmt import format_source

    try:
        return format_source(doc.text)
    except CompileError:
        return None
