"""Whether black would leave code exactly as it is, decided without black, for plain code.

Importing black costs a fifth of a second, more than the rest of a compile, and the code nndsl
renders is mostly in black's style already. :func:`is_stable` says yes only for code inside a
small subset whose every line and blank line it can vouch for, and no for everything else
(a long line, a comment on a line of its own, a slice, a string with a backslash, a trailing
comma, ``**``...), which black then formats as before. Inside the subset black's output is its
input:

* each statement is one line of at most 88 ASCII characters, indented four spaces a level,
  with black's own spacing between its tokens: one space around binary operators and an
  assignment's ``=``, after commas and colons, between words; none inside brackets, before a
  call's or subscript's bracket, around a keyword argument's ``=``, after a unary operator;
  two before an inline comment, which reads ``# text``;
* nothing black rewrites is there: strings in double quotes without backslashes, docstrings on
  one line with nothing to strip, decimal numbers in lower case, no parentheses that black
  would drop (``return (x)``, ``for (a, b) in``, ``class C():``), no magic trailing comma,
  no ``**`` (black hugs simple operands), no ``...`` body, no semicolon;
* blank lines are the ones black keeps or puts (black's ``EmptyLineTracker``): two around a
  top-level definition, one before a nested one and after its body, one after a class
  docstring and after the imports, none after a decorator, at most one (two at the top level)
  elsewhere, none at the start or the end.

tests/test_formatting.py holds it to black on every example and on fuzzed programs.
"""

from __future__ import annotations

import keyword
import re

LINE_LENGTH = 88

_TOKEN = re.compile(
    r'(?P<doc>"""[^"\\\n]+""")'
    r'|(?P<str>"[^"\\\n]*")'
    r"|(?P<num>\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.]))"
    r"|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op>->|\*\*|//|==|!=|<=|>=|[-+*/%@<>=.,:()\[\]{}~])"
    r"|(?P<comment>#.*)"
)
_LINE = re.compile(r"( *)([ -~]*[!-~])\n")  # indentation, then printable ASCII to the end
_COMMENT = re.compile(r"# \S.*")
_KEYWORDS = frozenset(keyword.kwlist) - {"True", "False", "None"}
_COMPOUND = frozenset(("if", "elif", "else", "for", "while", "def", "class", "with", "try"))
_COMPOUND |= {"except", "finally"}
_OPEN, _CLOSE = "([{", ")]}"
_BINARY = frozenset(("+", "-", "*", "/", "//", "%", "@", "==", "!=", "<", ">", "<=", ">="))
_UNARY = frozenset(("-", "+", "~", "*"))
# After these a parenthesis may be one black drops: refused wherever it closes...
_NO_PAREN_AFTER = frozenset(("for", "del", "with", "except", "assert", "await", "yield"))
_NO_PAREN_AFTER |= {"raise", "in", "->", ":", "if", "elif", "while", "not", "and", "or", "is"}
_NO_PAREN_AFTER |= {"else", "lambda", "("}
# ...and after these where it closes at the end of the statement, around no tuple.
_NO_WRAP_AFTER = frozenset(("return", "="))


def is_stable(code: str) -> bool:
    """True only when black (line length 88, any target version) would return ``code``
    unchanged; False says nothing."""
    if not code or code[0] == "\n" or not code.endswith("\n") or code.endswith("\n\n"):
        return False
    previous: tuple[int, str] | None = None  # depth and kind of the last line of code
    opened = False  # the last line of code opens a block
    defs: list[int] = []  # the depths of the definitions whose bodies are open
    blank = 0
    for raw in code.splitlines(keepends=True):
        if raw == "\n":
            blank += 1
            continue
        m = _LINE.fullmatch(raw)
        if m is None or len(raw) > LINE_LENGTH + 1 or len(m.group(1)) % 4:
            return False
        depth = len(m.group(1)) // 4
        line = _line(m.group(2))
        if line is None:
            return False
        kind, opens = line
        if previous is None:
            if depth or blank or kind == "doc":  # a module docstring: black wants a line after
                return False
        elif depth != (previous[0] + 1 if opened else depth) or depth > previous[0] + opened:
            return False  # a block's body is one level in; nothing else goes deeper
        closed = None
        while defs and defs[-1] >= depth:
            closed = defs.pop()
        if previous is not None and not _blank_ok(blank, depth, kind, previous, opened, closed):
            return False
        if closed is not None and depth == 0 and closed > 0 and opens:
            return False  # an `else:` after a definition inside a block: black's own case
        if kind in ("def", "class"):
            defs.append(depth)
        if kind == "doc":
            kind = "classdoc" if previous is not None and previous[1] == "class" else "other"
        previous, opened, blank = (depth, kind), opens, 0
    return True


def _blank_ok(blank: int, depth: int, kind: str, previous, opened: bool, closed) -> bool:
    """Whether ``blank`` empty lines before this line are the ones black leaves there."""
    if opened or previous[1] == "decorator":
        return blank == 0  # black keeps none where none is; it never adds one here
    if kind in ("def", "class", "decorator"):
        return blank == (2 if depth == 0 else 1)
    if closed is not None:  # the first statement after a definition's body
        return blank == (2 if depth == 0 else 1)
    if previous[1] == "classdoc":
        return blank == 1
    if previous[1] == "import" and kind != "import" and previous[0] == depth:
        return blank == 1
    return blank <= (2 if depth == 0 else 1)


def _line(text: str) -> tuple[str, bool] | None:
    """The kind of one line of code (import, decorator, def, class, doc, other) and whether
    it opens a block, or None when black might write it otherwise."""
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        tokens.append((m.lastgroup, m.group(), m.start(), m.end()))
        pos = len(text) - len(text[m.end() :].lstrip(" "))
    if tokens[-1][0] == "comment":
        comment = tokens.pop()
        if not tokens or comment[2] - tokens[-1][3] != 2 or not _COMMENT.fullmatch(comment[1]):
            return None  # a comment line of its own, or one black would space or reword
        if "fmt:" in comment[1] or "type:" in comment[1]:
            return None
    head = tokens[0][1]
    opens = tokens[-1][1] == ":"
    if opens != (head in _COMPOUND) or not _tokens_ok(tokens):
        return None
    if head in ("import", "from"):
        return "import", opens
    if head == "@":
        return "decorator", opens
    if head in ("def", "class"):
        if head == "class" and [t[1] for t in tokens[2:4]] == ["(", ")"]:
            return None  # black drops empty parentheses after a class name
        return head, opens
    if len(tokens) == 1 and tokens[0][0] in ("doc", "str"):
        return ("doc", opens) if tokens[0][0] == "doc" else None
    return "other", opens


def _tokens_ok(tokens) -> bool:
    """Black's spacing between each pair of tokens, brackets balanced on the line, and none
    of the forms black rewrites."""
    stack: list[str] = []  # the open brackets
    typed = [False]  # per bracket level: an annotation's colon since the last comma
    for i, (kind, text, start, _) in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        if prev is not None and _space(prev, tokens[i], i, tokens, stack, typed) != start - prev[3]:
            return False
        if kind == "doc" and (len(tokens) > 1 or text[3] == " " or text[-4] == " "):
            return False  # a docstring alone on its line, with nothing for black to strip
        if text in ("**", ";") or (text == "." and prev is not None and prev[1] == "."):
            return False
        if text == "(" and _dropped(tokens, i):
            return False
        if text in _OPEN:
            stack.append(text)
            typed.append(False)
        elif text in _CLOSE:
            if not stack or _OPEN.index(stack.pop()) != _CLOSE.index(text) or prev[1] == ",":
                return False  # unbalanced, or a magic trailing comma
            typed.pop()
        elif text == ",":
            typed[-1] = False
        elif text == ":":
            if stack and stack[-1] == "[":
                return False  # a slice: black spaces the complex ones
            if not stack and i != len(tokens) - 1:
                if i != 1 or tokens[0][0] != "name" or tokens[0][1] in _KEYWORDS:
                    return False  # at the top level, only `name: annotation` has a colon
            typed[-1] = True
    return not stack


def _dropped(tokens, i: int) -> bool:
    """Whether the parenthesis at ``i`` might be one black removes."""
    if i == 0:
        return True
    before = tokens[i - 1][1]
    if before in _NO_PAREN_AFTER:
        return True
    if before not in _NO_WRAP_AFTER:
        return False
    depth = 0
    for j in range(i, len(tokens)):
        text = tokens[j][1]
        if text in _OPEN:
            depth += 1
        elif text in _CLOSE:
            depth -= 1
            if depth == 0:
                return [t[1] for t in tokens[j + 1 :]] in ([], [":"])
        elif text == "," and depth == 1:
            return False  # a tuple keeps its parentheses
    return True


def _space(prev, tok, i: int, tokens, stack, typed) -> int | None:
    """The spaces black writes between two tokens of a line (None: not sure)."""
    a, b = prev[1], tok[1]
    if b in _CLOSE or b in (",", ":") or a in _OPEN or a == ".":
        return 0
    if b == ".":
        return 0 if prev[0] != "num" and a not in _KEYWORDS else None
    if a in (",", ":"):
        return 1
    if a == "=" or b == "=":
        return 1 if not stack or typed[-1] else 0  # an assignment, a typed default; a keyword
    if a == "->" or b == "->":
        return 1
    if a == "@" and i == 1:
        return 0  # a decorator
    if b in _OPEN:
        if prev[0] in ("name", "str") and a not in _KEYWORDS or a in _CLOSE:
            return 0  # a call or a subscript
        if a in _UNARY and _unary(tokens, i - 1):
            return 0
        return 1 if prev[0] == "name" or a in _BINARY else None
    if b in _BINARY or b == "~":
        if b in _UNARY and _unary(tokens, i):
            return 1 if prev[0] == "name" else None  # `return -x` (`f(-x)` is above)
        return 1
    if a in _BINARY or a == "~":
        return 0 if a in _UNARY and _unary(tokens, i - 1) else 1
    if (prev[0] in ("name", "num", "str") or a in _CLOSE) and tok[0] in ("name", "num", "str"):
        return 1
    return None


def _unary(tokens, i: int) -> bool:
    """Whether the operator at ``i`` is unary: nothing before it can be its left operand."""
    if i == 0:
        return True
    kind, text = tokens[i - 1][0], tokens[i - 1][1]
    if kind in ("num", "str", "doc") or text in _CLOSE:
        return False
    return kind != "name" or text in _KEYWORDS
