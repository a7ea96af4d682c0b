"""A fast path for parsing that gives exactly what the configured lark parser gives, or gives up.

Lark's contextual lexer and LALR loop are general and pay for it per token. This module reads
the terminals, the parse table and the rule callbacks (our transformer) off the lark parser and
runs them with less machinery:

* one master regular expression, the root lexer's own terminals in lark's own order, scans the
  whole text into lark :class:`~lark.Token` objects with lark's line and column arithmetic;
* a table-driven LALR loop shifts and reduces with lark's callbacks, so the values built are the
  ones lark builds.

Why the tokens agree with lark's contextual lexer: in any parser state, lark tries the terminals
that state accepts in the same global order, so whenever the first terminal that matches overall
is accepted by the state, lark picks it too. The one exception is a keyword (``model``) that the
state does not accept while it accepts ``NAME``: lark then reads a ``NAME``, and so does the loop
below. In every other case the token is not accepted and the loop raises :class:`GiveUp` at once;
the caller re-parses with lark, which either parses the text its own way or raises the exact
syntax error. No callback runs on a token lark would not have produced, so giving up is safe.
"""

from __future__ import annotations

from itertools import chain

from lark import Lark, Token
from lark.lexer import UnlessCallback
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

_ERROR = "_ERROR"  # the master regex's catch-all group: a character no terminal matches

# Token(...) first looks for a deprecated keyword argument; where lark has _future_new, that
# is the constructor proper.
_new_token = getattr(Token, "_future_new", Token)


class GiveUp(Exception):
    """The fast path cannot vouch for this text; parse it with lark instead."""


class FastParser:
    """Lexer and LALR loop built from a lark LALR parser with a contextual lexer."""

    def __init__(self, lark: Lark) -> None:
        root = lark.parser.lexer.root_lexer
        scanner = root.scanner  # builds the terminal list without embedded keywords
        groups = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals]
        pattern = "|".join(groups + [f"(?P<{_ERROR}>(?s:.))"])
        self._master = root.re.compile(pattern, root.g_regex_flags)
        self._ignore = frozenset(root.ignore_types)
        self._keywords = _keywords(root.callback)
        self._keyword_types = frozenset(self._keywords.values())
        parser = lark.parser.parser.parser
        if any(isinstance(key, str) for key in parser.callbacks):
            raise TypeError("terminal callbacks")  # lark calls them on shift; the loop does not
        self._table = _table(parser.parse_table, parser.callbacks)
        self._start = parser.parse_table.start_states["start"]
        self._end = parser.parse_table.end_states["start"]

    def parse(self, text: str):
        """The value lark's parser would return for ``text``; raises :class:`GiveUp` otherwise."""
        return self._run(self.tokens(text))

    def tokens(self, text: str) -> list[Token]:
        """Every non-ignored token of ``text``, keywords typed as such (lark's root lexer)."""
        out = []
        append = out.append
        ignore, keywords = self._ignore, self._keywords
        line, line_start = 1, 0
        for m in self._master.finditer(text):
            kind = m.lastgroup
            value = m.group()
            if kind in ignore:
                if "\n" in value:
                    line += value.count("\n")
                    line_start = m.start() + value.rindex("\n") + 1
                continue
            if kind == _ERROR or "\n" in value:
                raise GiveUp  # no terminal matches here, or a token spans lines (none does)
            start, end = m.span()
            if kind == "NAME":
                kind = keywords.get(value, kind)
            column = start - line_start + 1
            append(_new_token(kind, value, start, line, column, line, column + end - start, end))
        return out

    def _run(self, tokens: list[Token]):
        """Lark's LALR loop (``ParserState.feed_token``) over the tokens, then the end of input."""
        table, keyword_types, end = self._table, self._keyword_types, self._end
        states = [self._start]
        values = []
        for tok in chain(tokens, (None,)):  # None stands for the end of the input
            kind = "$END" if tok is None else tok.type
            row = table[states[-1]]
            if kind in keyword_types and kind not in row:
                kind = tok.type = "NAME"  # the contextual lexer reads a NAME here
            while True:
                act = row.get(kind)
                if act is None or (tok is None and act.__class__ is int):
                    raise GiveUp
                if act.__class__ is int:  # shift
                    states.append(act)
                    values.append(tok)
                    break
                size, callback, origin = act  # reduce
                if callback is None:  # a one-symbol rule that passes its child through
                    states[-1] = table[states[-2]][origin]
                else:
                    children = values[-size:] if size else []
                    if size:
                        del states[-size:]
                        del values[-size:]
                    values.append(callback(children))
                    states.append(table[states[-1]][origin])
                if states[-1] == end:
                    return values[-1]
                row = table[states[-1]]
        raise GiveUp  # not reached: the end of input either completes the parse or fails


def _keywords(callbacks: dict) -> dict[str, str]:
    """Keyword text to terminal name, from the root lexer's NAME callback (its only one)."""
    keywords = {}
    for name, callback in callbacks.items():
        if name != "NAME" or not isinstance(callback, UnlessCallback):
            raise TypeError(f"unexpected lexer callback for {name}")
        for t in callback.scanner.terminals:
            if t.pattern.flags:  # e.g. "model"i: a dict lookup would not match it the same way
                raise TypeError(f"keyword {t.name} has flags")
            keywords[t.pattern.value] = t.name
    return keywords


def _table(parse_table, callbacks: dict) -> dict[int, dict[str, object]]:
    """Per state: symbol -> next state (shift or goto) or (size, callback, rule name) (reduce).

    The callback is None for a rule that lark inlines with one child (``?expr: sum``), whose
    value is that child as it is.
    """
    table = {}
    for state, row in parse_table.states.items():
        table[state] = entries = {}
        for symbol, (action, arg) in row.items():
            symbol = str(symbol)  # lark keeps some names as Tokens, slow to compare
            if action is Shift:
                entries[symbol] = arg
                continue
            callback = callbacks[arg]
            size = len(arg.expansion)
            if isinstance(callback, ExpandSingleChild) and size == 1:
                callback = None
            entries[symbol] = (size, callback, str(arg.origin.name))
    return table
