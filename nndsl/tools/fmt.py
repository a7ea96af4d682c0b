"""``nndsl fmt``: .nn source text in the canonical layout, comments and meaning kept.

The formatter works on tokens, not on a reprinted tree, so that every token (strings, numbers
as written) and every comment comes back exactly as it was; only the white space between
tokens changes. A syntax tree of the same grammar (lark, with positions) tells what each token
is where the text alone cannot: a unary minus, a setting's name, a keyword argument's ``=``, a
slice's colon, the first token of a statement.

The style, as in the examples and docs/LANGUAGE.md:

* four spaces per level: a body's statements one level inside its braces, the lines inside
  brackets one level inside the line that opened them, a statement continued on another line
  outside brackets one level further; a closing bracket or brace that starts a line goes back to
  the level of the line that opened it;
* one space around binary operators, comparisons, ``=``, ``~`` and inside ``{ ... }`` on one
  line; none around the ``=`` of a keyword argument or a parameter default, inside ``( )`` and
  ``[ ]``, before ``(`` or ``[`` of a call or an index, after a unary sign, around ``.`` and a
  slice's ``:``; ``, `` and ``: `` otherwise;
* the user's line breaks between statements and inside brackets stay; a ``{`` moves up to the
  line before it (unless a comment ends that line); a body that spans lines has ``{`` last and
  ``}`` first on their lines; each top-level section starts on a line of its own;
* one blank line between top-level sections; inside, blank lines are kept but at most one, and
  none right after ``{`` or before ``}``; no trailing white space; one final newline;
* a trailing comment keeps its column when the code before it leaves room (two spaces at
  least), so aligned comments stay aligned.

The formatted text is parsed again and its syntax tree compared with the original's; a
difference (a bug here) raises :class:`FormatterBug` instead of returning a changed program.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Tree

from nndsl.diagnostics.core import normalize_newlines
from nndsl.lang.lexical import table
from nndsl.lang.parser import parse
from nndsl.lang.tables import lark_parser

INDENT = "    "
COMMENT_GAP = 2  # spaces at least between code and a trailing comment

_ITEMS = frozenset("model block layer_expr data train seq_block import_stmt".split())
# Rules whose first token starts a statement (or a top-level section, or a line of a group).
_STATEMENTS = _ITEMS | frozenset(
    """layer_stmt shared_stmt repeat_stmt use_stmt forward_expr forward_body assign return_stmt
    while_stmt data_assign setting optimizer init_block init_rule init_value group freeze step
    init_from key_map seq_stmt if_stmt fif_stmt""".split()
)
# Token types after which `(` or `[` is a call or an index, written without a space.
_ADJOINS = frozenset({"NAME", "TRUE", "FALSE", "NONE", "FORWARD"})
_OPENERS = table().brackets
_CLOSERS = frozenset(_OPENERS.values())


class FormatterBug(Exception):
    """The formatted text would not be the same program; nothing is written."""


@dataclass
class _Tok:
    kind: str  # comment, string, number, word, op
    text: str
    start: int
    col: int  # 0-based column in the source
    line: int  # 0-based line in the source
    first: bool  # the first token of its line in the source
    nl: int = 0  # line breaks before it in the output: 0 same line, 1 new line, 2 blank line


@dataclass
class _Notes:
    """What the syntax tree says about tokens, by source offset."""

    types: dict  # offset -> lark terminal type, for the named tokens the tree keeps
    unary: set  # offsets of a sign that is unary
    settings: set  # offsets of a setting's name (`batch 64`, `predict [[1]]`)
    tight: set  # offsets of the name of a keyword argument or a parameter with a default
    slice_colons: set
    selector_dots: set  # offsets of a `.` that starts a selector (`.bias`)
    starts: set  # offsets of the first token of a statement or top-level section
    items: list  # (start, end) offsets of each top-level section


@lru_cache(maxsize=1)
def _tree_parser() -> Lark:
    """A parser that keeps lark's tree with positions (the compiler's builds syntax nodes as it
    goes), with its tables shipped or cached as the compiler's are."""
    return lark_parser("tree")


def format_source(text: str) -> str:
    """``text`` in the canonical layout. Raises :class:`~nndsl.diagnostics.core.CompileError` with
    the syntax diagnostics when the text does not parse (as ``nndsl check`` reports them)."""
    text = normalize_newlines(text)  # a lone \r ends a line (and a comment) too
    parse(text)  # the project's own diagnostics for a syntax error
    tree = _tree_parser().parse(text)
    out = _layout(_tokens(text), _notes(tree))
    try:
        again = _tree_parser().parse(out)
    except Exception as err:  # lark's own errors: the output no longer parses
        raise FormatterBug(f"the formatted text does not parse: {err}") from None
    if not _same_tree(tree, again):
        raise FormatterBug("the formatted text parses to a different program")
    return out


# ---- tokens and what the tree says about them ----------------------------------------------


def _tokens(text: str) -> list[_Tok]:
    out = []
    newlines = 0
    line = line_start = 0
    for m in table().tokenizer.finditer(text):
        kind = m.lastgroup
        if kind == "space":
            value = m.group()
            if "\n" in value:
                newlines += value.count("\n")
                line_start = m.start() + value.rindex("\n") + 1
            continue
        if kind == "error":  # not reached: the text parsed
            raise FormatterBug(f"unexpected character {m.group()!r}")
        first = not out or newlines > 0
        line += newlines
        column = m.start() - line_start
        out.append(_Tok(kind, m.group(), m.start(), column, line, first, min(newlines, 2)))
        newlines = 0
    return out


def _notes(tree: Tree) -> _Notes:
    notes = _Notes({}, set(), set(), set(), set(), set(), set(), [])
    for child in tree.children:
        if isinstance(child, Tree) and child.data in _ITEMS:
            notes.items.append((child.meta.start_pos, child.meta.end_pos))
    stack = [tree]
    while stack:
        node = stack.pop()
        kids = node.children
        rule = node.data
        if rule in _STATEMENTS and not node.meta.empty:
            notes.starts.add(node.meta.start_pos)
        first = kids[0] if kids else None
        if rule in ("neg", "pos"):
            notes.unary.add(first.start_pos)
        elif rule in ("setting", "kwarg", "param") and isinstance(first, Token):
            (notes.settings if rule == "setting" else notes.tight).add(first.start_pos)
            if rule == "param" and kids[1] is None:
                notes.tight.discard(first.start_pos)
        elif rule == "selector" and isinstance(first, Token) and first.type == "DOT":
            notes.selector_dots.add(first.start_pos)
        for kid in kids:
            if isinstance(kid, Tree):
                stack.append(kid)
            elif isinstance(kid, Token) and kid.type == "DOTTED":  # wte.weight: its last name
                notes.types[kid.start_pos + kid.value.rindex(".") + 1] = "NAME"
            elif isinstance(kid, Token):
                notes.types[kid.start_pos] = kid.type
                if rule == "slice" and kid.type == "COLON":
                    notes.slice_colons.add(kid.start_pos)
                elif rule == "selector" and kid.type == "MINUS":
                    notes.unary.add(kid.start_pos)
    return notes


def _same_tree(a: Tree, b: Tree) -> bool:
    """The two trees have the same rules and the same tokens (type and text), positions aside."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if isinstance(x, Tree) and isinstance(y, Tree):
            if x.data != y.data or len(x.children) != len(y.children):
                return False
            stack.extend(zip(x.children, y.children))
        elif isinstance(x, Token) and isinstance(y, Token):
            if x.type != y.type or str(x) != str(y):
                return False
        elif not (x is None and y is None):
            return False
    return True


# ---- line breaks -----------------------------------------------------------------------------


def _breaks(toks: list[_Tok], notes: _Notes) -> None:
    """Settle each token's ``nl``: which tokens start a line, and where a blank line goes."""
    if toks:
        toks[0].nl = 0
    index = {t.start: i for i, t in enumerate(toks)}
    # Each top-level section on lines of its own, one blank line after the one before it.
    for (start, _), (_, prev_end) in zip(notes.items[1:], notes.items):
        i = index[start]
        j = i
        while toks[j - 1].start >= prev_end:  # back over the comments between the two
            j -= 1
        while j < i and toks[j].nl == 0:  # a trailing comment of the previous section
            j += 1
        if not any(t.nl == 2 for t in toks[j : i + 1]):
            toks[j].nl = 2
    # A `{` goes up to the line before it, unless a comment ends that line; so does `else`.
    for i, t in enumerate(toks):
        up = (t.text == "{" and t.kind == "op") or notes.types.get(t.start) == "ELSE"
        if up and i and t.nl and toks[i - 1].kind != "comment":
            t.nl = 0
    # A body over several lines: `{` ends its line, `}` starts one; no blank line at either end.
    stack = []
    for i, t in enumerate(toks):
        if t.kind != "op":
            continue
        if t.text in _OPENERS:
            stack.append(i)
        elif t.text in _CLOSERS:
            o = stack.pop()
            if t.text != "}":
                continue
            if any(x.nl for x in toks[o + 1 : i + 1]):
                first = toks[o + 1]
                if first.kind == "comment" and first.nl == 0 and o + 2 <= i:
                    first = toks[o + 2]
                first.nl = t.nl = 1


def _tight_equals(toks: list[_Tok], notes: _Notes) -> set:
    """Offsets of the `=` of keyword arguments and parameter defaults."""
    out = set()
    for i, t in enumerate(toks[:-1]):
        if t.start in notes.tight and toks[i + 1].text == "=":
            out.add(toks[i + 1].start)
    return out


# ---- spaces between tokens on one line -----------------------------------------------------


def _space(a: _Tok, b: _Tok, notes: _Notes, tight: set) -> str:
    at, bt = (a.text if a.kind == "op" else ""), (b.text if b.kind == "op" else "")
    if bt == ",":
        return ""
    if at == ",":
        return "" if bt in (")", "]") else " "
    if at in ("(", "[") or bt in (")", "]"):
        return ""
    if at == "{":
        return "" if bt == "}" else " "
    if bt in ("{", "}"):
        return " "
    if a.start in notes.unary:
        return ""
    if at == "=" or bt == "=":
        return "" if (a if at == "=" else b).start in tight else " "
    if at == ":":
        return "" if a.start in notes.slice_colons else " "
    if bt == ":":
        return ""
    if at == ".":
        return ""
    if bt == ".":
        return " " if b.start in notes.selector_dots else ""
    if bt in ("(", "["):
        return "" if _adjoins(a, notes) else " "
    return " "


def _adjoins(a: _Tok, notes: _Notes) -> bool:
    """Whether a `(` or `[` after ``a`` calls or indexes it."""
    if a.kind == "op":
        return a.text in (")", "]")
    if a.kind in ("string", "number"):
        return True
    return notes.types.get(a.start) in _ADJOINS and a.start not in notes.settings


# ---- lines -----------------------------------------------------------------------------------


def _layout(toks: list[_Tok], notes: _Notes) -> str:
    _breaks(toks, notes)
    tight = _tight_equals(toks, notes)
    lines: list[str] = []
    stack: list[tuple[str, int, int]] = []  # (opener, level inside it, level of its line)
    line = ""
    level = 0
    prev = head = None
    for i, t in enumerate(toks):
        if prev is None or t.nl:
            if prev is not None:
                lines.append(line)
                if t.nl == 2:
                    lines.append("")
            level = _level(toks, i, stack, notes)
            line = INDENT * level + _text(t)
            head = t
        elif t.kind == "comment":
            same = head.first and head.line == t.line  # the line as it was: keep the column
            pad = max(t.col if same else 0, len(line) + COMMENT_GAP)
            line += " " * (pad - len(line)) + _text(t)
        else:
            line += _space(prev, t, notes, tight) + t.text
        if t.kind == "op" and t.text in _OPENERS:
            stack.append((t.text, level + 1, level))
        elif t.kind == "op" and t.text in _CLOSERS:
            stack.pop()
        prev = t
    if prev is not None:
        lines.append(line)
    return "".join(x + "\n" for x in lines)


def _level(toks: list[_Tok], i: int, stack: list, notes: _Notes) -> int:
    """The indentation level of the line that starts with ``toks[i]``."""
    t = toks[i]
    if t.kind == "comment":
        return stack[-1][1] if stack else 0
    if t.kind == "op" and t.text in _CLOSERS:
        k = 1  # the closers that start the line go back to the line of the outermost's opener
        while i + k < len(toks) and not toks[i + k].nl and toks[i + k].text in _CLOSERS:
            k += 1
        return stack[-k][2]
    base = stack[-1][1] if stack else 0
    inside_body = not stack or stack[-1][0] == "{"
    continued = t.start not in notes.starts and t.text != "{"
    return base + (1 if inside_body and continued else 0)


def _text(t: _Tok) -> str:
    return t.text.rstrip(" \t\f\v") if t.kind == "comment" else t.text


# ---- the command -----------------------------------------------------------------------------


def main(args) -> int:
    """``nndsl fmt FILE...``: rewrite each file in the canonical layout (only when that changes
    it); ``--check`` and ``--diff`` write nothing; ``-`` reads standard input and writes
    standard output. Exit 0, 1 (syntax errors, or ``--check`` with files to reformat) or 2 (a
    file that cannot be read); the worst outcome of all the files."""
    status = 0
    for name in args.files:
        status = max(status, _one(name, args))
    return status


def _one(name: str, args) -> int:
    import difflib
    import sys
    from pathlib import Path

    from nndsl.codegen import outputs
    from nndsl.diagnostics.core import CompileError, report
    from nndsl.lang.source import read_source

    stdin = name == "-"
    shown = "<stdin>" if stdin else name
    if stdin:
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            print("nndsl: error: standard input is not valid UTF-8", file=sys.stderr)
            return 1
    else:
        text = read_source(name)
        if text is None:
            return 2
    if isinstance(text, tuple):  # not UTF-8: the diagnostic, and the file left as it is
        report([text[0]], text[1], shown, args.format)
        return 1
    try:
        new = format_source(text)
    except CompileError as err:
        report(err.diagnostics, text, shown, args.format)
        return 1
    changed = new != text
    if args.diff and changed:
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(True),
                new.splitlines(True),
                f"{shown} (original)",
                f"{shown} (formatted)",
            )
        )
    if args.check or args.diff:
        if changed and args.check:
            print(f"would reformat {shown}", file=sys.stderr)
        return 1 if changed and args.check else 0
    if stdin:
        sys.stdout.write(new)
        return 0
    if changed:
        path = Path(name).resolve()  # through a symbolic link: rewrite the file it names
        outputs.write_atomic(path, new)  # keeps the file's permissions
        print(f"reformatted {shown}", file=sys.stderr)
    return 0
