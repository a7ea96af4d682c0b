"""What the language server (:mod:`nndsl.tools.lsp`) says about a document, without the protocol:
diagnostics, hover (:mod:`nndsl.tools.lsp_hover`), completion, definitions, formatting and
quick fixes.

Positions here are 0-based lines and 0-based characters (code points); the server converts them
to and from the editor's units. Diagnostics come from the checker that ``nndsl check`` runs,
quick fixes from the fix a diagnostic carries; completion reads the registries.
"""

from __future__ import annotations

import re

from nndsl.check.data import DATA_SETTINGS, FILE_READERS, GENERATORS, SEQUENCE_FUNCTIONS
from nndsl.diagnostics.core import CompileError, Diagnostic
from nndsl.diagnostics.span import Span
from nndsl.lang import syntax as s
from nndsl.registry import training
from nndsl.registry.args import REQUIRED
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import REGISTRY
from nndsl.tools.lsp_document import Document, Range, enclosing, span_range, word_at
from nndsl.tools.lsp_hover import hover
from nndsl.util.frozen import frozen

__all__ = ["Document", "Item", "Range", "completions", "definition", "diagnostics", "formatted"]
__all__ += ["hover", "message", "quick_fixes", "span_range"]


@frozen
class Item:
    """A completion: ``kind`` is class (a layer or block), property (an argument), function
    (a loss, optimizer, reader...) or keyword (a setting)."""

    label: str
    kind: str
    detail: str = ""
    doc: str = ""
    insert: str = ""


# ---- diagnostics ------------------------------------------------------------------------------


def diagnostics(doc: Document) -> list[Diagnostic]:
    return doc.analysis.diagnostics


def message(d: Diagnostic) -> str:
    """The text an editor shows: the message, the caret's label, the notes and the help."""
    out = [d.message + (f": {d.label}" if d.label else "")]
    out += [f"note: {n}" for n in d.notes]
    out += [f"help: {d.help}"] if d.help else []
    return "\n".join(out)


def quick_fixes(doc: Document, start: int, end: int) -> list[tuple[str, Range, str, Diagnostic]]:
    """(title, range, new text, diagnostic) for each diagnostic on lines ``start``..``end``
    that carries a fix: the replacement its help names (``did you mean `ReLU`?``, ``write
    `Linear(128)```)."""
    fixes = []
    for d in doc.analysis.diagnostics:
        if d.fix is None or d.span is None or not start <= d.span.line - 1 <= end:
            continue
        r = span_range(d.fix.span)
        fixes.append((_title(doc, r, d.fix.text), r, d.fix.text, d))
    return fixes


def _title(doc: Document, r: Range, new: str) -> str:
    if r[0] == r[2] and r[0] < len(doc.lines):
        old = doc.lines[r[0]][r[1] : r[3]]
        if not new:
            return f"Remove `{old.strip()}`"
        if not old:
            return f"Insert `{new.strip(', ')}`"
    return f"Replace with `{new}`"


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
    call (and in a forward, the keywords of a declared layer's call), a train or data
    section's settings and their values, or layers and blocks."""
    prefix = "\n".join(
        doc.lines[:line] + [doc.lines[line][:character] if line < len(doc.lines) else ""]
    )
    sections = list(_SECTION.finditer(prefix))
    section = sections[-1][1] if sections else ""
    here = prefix.rsplit("\n", 1)[-1]
    callee = _open_call(prefix[sections[-1].start() :] if sections else prefix)
    if callee is not None:
        return (
            _arguments(callee, section, here)
            or _block_arguments(doc, callee, here)
            or _call_keywords(doc, callee, here)
        )
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


def _call_keywords(doc: Document, callee: str, here: str) -> list[Item]:
    """The keywords a forward may pass to the layer declared as ``callee = Layer(...)``
    (``tgt_mask=`` for a TransformerDecoderLayer), read from the text, which may not parse
    while a call is being written."""
    declared = re.search(rf"^\s*{re.escape(callee)}\s*=\s*(\w+)\s*\(", doc.text, re.M)
    layer = REGISTRY.get(declared[1]) if declared else None
    if layer is None:
        return []
    given = set(re.findall(r"(\w+)\s*=", here))
    return [
        Item(f"{a.name}=", "property", f"{a.kind} = {a.default!r}", insert=f"{a.name}=")
        for a in layer.call_keywords
        if a.name not in given
    ]


# ---- definitions and formatting ---------------------------------------------------------------


def definition(doc: Document, line: int, character: int) -> Range | None:
    """Where the name under the cursor is defined: a layer named in the enclosing model or
    block, a parameter of the block, or a model, block, layer or data section of the file."""
    tree, word = doc.tree, word_at(doc, line, character)
    if tree is None or not word:
        return None
    item, _ = enclosing(tree, line + 1)
    if isinstance(item, (s.Model, s.Block)):
        local = _local(item, word)
        if local is not None:
            return span_range(local)
    for item in tree.items:
        if not isinstance(item, (s.Train, s.Import)) and item.name == word:
            return span_range(item.name_span)
    return None


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
