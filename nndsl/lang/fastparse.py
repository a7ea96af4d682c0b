"""A fast path for parsing that gives exactly what the configured lark parser gives, or gives up.

Lark's contextual lexer and LALR loop are general and pay for it per token, and importing lark
and loading its tables costs a compile more than the parse of a small file. This module reads
the terminals, the parse table and the shape of each rule's result off a lark parser once
(:func:`tables_from_lark`), as plain data that :mod:`nndsl.lang.tables` keeps on disk, and runs
them without lark:

* one master regular expression, the root lexer's own terminals in lark's own order, scans the
  whole text into :class:`Tok` tokens with lark's line and column arithmetic;
* a table-driven LALR loop shifts and reduces, shaping each rule's children as lark's tree
  builder does (tokens filtered out, ``_rules`` inlined, ``?rules`` with one child passed
  through, ``None`` for each missing ``[optional]`` part) before handing them to the same
  transformer method lark calls, so the values built are the ones lark builds.

Why the tokens agree with lark's contextual lexer: in any parser state, lark tries the terminals
that state accepts in the same global order, so whenever the first terminal that matches overall
is accepted by the state, lark picks it too. The one exception is a keyword (``model``) that the
state does not accept while it accepts ``NAME``: lark then reads a ``NAME``, and so does the loop
below. The other is a dotted name (``hidden.weight``, one ``DOTTED`` token where an expression
may start) where the state does not accept it but accepts ``NAME``, as in a selector: lark then
reads the names and dots one by one, and the loop splits the token into the same. In every
other case the token is not accepted and the loop raises :class:`GiveUp` at once;
the caller re-parses with lark, which either parses the text its own way or raises the exact
syntax error. No callback runs on a token lark would not have produced, so giving up is safe.
"""

from __future__ import annotations

import re
from operator import itemgetter

FORMAT = 1  # the layout of the data tables_from_lark returns; part of its validity
_ERROR = "_ERROR"  # the master regex's catch-all group: a character no terminal matches


class GiveUp(Exception):
    """The fast path cannot vouch for this text; parse it with lark instead."""


class Tok(tuple):
    """A token as the transformer sees it: lark's :class:`~lark.Token` attributes, no more (a
    tuple underneath, which is made without running Python code)."""

    __slots__ = ()
    type = property(itemgetter(0))
    value = property(itemgetter(1))
    start_pos = property(itemgetter(2))
    line = property(itemgetter(3))
    column = property(itemgetter(4))
    end_line = property(itemgetter(5))
    end_column = property(itemgetter(6))
    end_pos = property(itemgetter(7))

    def __str__(self) -> str:
        return self[1]

    def __repr__(self) -> str:
        return f"Tok({self[0]!r}, {self[1]!r})"


class FastParser:
    """Lexer and LALR loop over :func:`tables_from_lark`'s data, building values with the methods
    of ``transformer`` named by the grammar's rules."""

    def __init__(self, tables: dict, transformer: object) -> None:
        if tables.get("format") != FORMAT:
            raise TypeError("tables of another layout")
        self._master = re.compile(tables["pattern"], tables["flags"])
        self._ignore = frozenset(tables["ignore"])
        self._keywords = dict(tables["keywords"])
        self._keyword_types = frozenset(self._keywords.values())
        reductions = [_reduction(rule, transformer) for rule in tables["rules"]]
        self._table = [
            {sym: (act if act >= 0 else reductions[-1 - act]) for sym, act in row.items()}
            for row in tables["states"]
        ]
        self._start, self._end = tables["start"], tables["end"]
        self._chains: dict[tuple, int] = {}

    def parse(self, text: str):
        """The value lark's parser would return for ``text``; raises :class:`GiveUp` otherwise."""
        return self._run(self.tokens(text))

    def tokens(self, text: str) -> list[Tok]:
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
            append(Tok((kind, value, start, line, column, line, column + end - start, end)))
        return out

    def _run(self, tokens: list[Tok]):
        """Lark's LALR loop (``ParserState.feed_token``) over the tokens, then the end of input."""
        table, keyword_types, end, chains = (
            self._table,
            self._keyword_types,
            self._end,
            self._chains,
        )
        states = [self._start]
        values = []
        push_state, push_value = states.append, values.append
        tokens.append(None)  # the end of the input
        for pos, tok in enumerate(tokens):  # a dotted name split grows the list ahead of `pos`
            kind = "$END" if tok is None else tok[0]
            row = table[states[-1]]
            if kind == "DOTTED" and kind not in row:
                parts = self._split(tok)
                tokens[pos + 1 : pos + 1] = parts[1:]
                tok = parts[0]
                kind = tok[0]
            if kind in keyword_types and kind not in row:
                kind = "NAME"  # the contextual lexer reads a NAME here
                tok = Tok((kind, *tok[1:]))
            while True:
                act = row.get(kind)
                if act.__class__ is int:  # shift
                    if tok is None:
                        raise GiveUp
                    push_state(act)
                    push_value(tok)
                    break
                if act is None:
                    raise GiveUp
                size, callback, origin = act  # reduce
                if callback is None:  # rules that pass their one child through, in a row
                    key = (states[-2], states[-1], kind)
                    state = chains.get(key)
                    if state is None:
                        state = chains[key] = self._chain(states[-2], act, kind)
                    states[-1] = state
                else:
                    if size:
                        children = values[-size:]
                        del states[-size:]
                        del values[-size:]
                    else:
                        children = []
                    push_value(callback(children))
                    state = table[states[-1]][origin]
                    push_state(state)
                if state == end:
                    return values[-1]
                row = table[state]
        raise GiveUp  # not reached: the end of input either completes the parse or fails

    def _split(self, tok: Tok) -> list[Tok]:
        """A ``DOTTED`` token as the names and dots lark's lexer reads where it is not accepted
        (names that are keywords typed as such, as :meth:`tokens` types them)."""
        out = []
        start, line, column = tok[2], tok[3], tok[4]
        for i, part in enumerate(tok[1].split(".")):
            if i:
                out.append(Tok(("DOT", ".", start, line, column, line, column + 1, start + 1)))
                start, column = start + 1, column + 1
            kind = self._keywords.get(part, "NAME")
            end = start + len(part)
            out.append(Tok((kind, part, start, line, column, line, column + len(part), end)))
            start, column = end, column + len(part)
        return out

    def _chain(self, below: int, act: tuple, kind: str) -> int:
        """The state after reducing by ``act``, a rule that passes its one child through, and
        by every such rule the lookahead ``kind`` then calls for, over the state ``below``
        (the same in each: one symbol is replaced by one); remembered by :meth:`_run`."""
        table = self._table
        while True:
            state = table[below][act[2]]
            act = table[state].get(kind)
            if act is None or act.__class__ is int or act[1] is not None or state == self._end:
                return state


def _reduction(rule: list, transformer: object) -> tuple:
    """(size, callback, rule name) for one rule of the tables; the callback is None for a rule
    that passes its one child through as it is."""
    size, origin, action, include, append_none, expand1 = rule
    method = getattr(transformer, action, None)
    if include is None:
        single = size == 1
    else:
        single = len(include) == 1 and not append_none and include[0][1:] == [False, 0]
    if method is None:
        if not origin.startswith("_") and not (expand1 and single):
            raise TypeError(f"no method for rule {action}")  # lark would build a Tree here
        method = _inlined
    if include is None and expand1 and size == 1:
        return size, None, origin
    return size, _shaper(include, append_none, expand1, method), origin


def _inlined(children: list) -> list:
    """The value of an inlined rule (``_stmt``, a ``*`` repetition): its children themselves,
    which its parent takes in (lark's ``Tree.children``, not a copy: repetitions accumulate)."""
    return children


def _shaper(include, append_none: int, expand1: bool, method):
    """The rule's callback: lark's ChildFilterLALR, then ExpandSingleChild, then the method."""
    if include is None and not expand1:
        return method
    if include is not None and not expand1 and not any(e for _, e, _ in include):
        # no child to take in: the children kept, a None for each optional part left out
        picks = [p for i, _, nones in include for p in [-1] * nones + [i]] + [-1] * append_none
        if -1 not in picks:
            return lambda children: method([children[i] for i in picks])
        return lambda children: method([None if i < 0 else children[i] for i in picks])

    def shape(children):
        if include is not None:
            filtered = []
            for i, expand, nones in include:
                if nones:
                    filtered += [None] * nones
                if not expand:
                    filtered.append(children[i])
                elif filtered:
                    filtered += children[i]
                else:  # lark's optimisation for left recursion: the child's own list
                    filtered = children[i]
            if append_none:
                filtered += [None] * append_none
            children = filtered
        if expand1 and len(children) == 1:
            return children[0]
        return method(children)

    return shape


def tables_from_lark(lark) -> dict:
    """The fast path's data, read off a lark LALR parser with a contextual lexer: plain lists,
    dicts, strings and numbers (JSON as it is). Raises TypeError (or AttributeError, KeyError)
    when this lark is laid out differently inside, or the parser needs what the loop lacks."""
    from lark.lexer import UnlessCallback
    from lark.parsers.lalr_analysis import Shift

    root = lark.parser.lexer.root_lexer
    if root.re is not re:
        raise TypeError("the regex module")
    scanner = root.scanner  # builds the terminal list without embedded keywords
    groups = [f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in scanner.terminals]
    keywords = {}
    for name, callback in root.callback.items():
        if name != "NAME" or not isinstance(callback, UnlessCallback):
            raise TypeError(f"unexpected lexer callback for {name}")
        for t in callback.scanner.terminals:
            if t.pattern.flags:  # e.g. "model"i: a dict lookup would not match it the same way
                raise TypeError(f"keyword {t.name} has flags")
            keywords[t.pattern.value] = t.name
    parser = lark.parser.parser.parser
    if any(isinstance(key, str) for key in parser.callbacks):
        raise TypeError("terminal callbacks")  # lark calls them on shift; the loop does not
    index = {rule: i for i, rule in enumerate(parser.callbacks)}
    rules = [_rule(rule, callback) for rule, callback in parser.callbacks.items()]
    table = parser.parse_table
    if sorted(table.states) != list(range(len(table.states))):
        raise TypeError("states are not numbered 0..n-1")
    states = [
        {str(sym): (arg if act is Shift else -1 - index[arg]) for sym, (act, arg) in row.items()}
        for _, row in sorted(table.states.items())
    ]
    return {
        "format": FORMAT,
        "pattern": "|".join(groups + [f"(?P<{_ERROR}>(?s:.))"]),
        "flags": root.g_regex_flags,
        "ignore": sorted(root.ignore_types),
        "keywords": keywords,
        "rules": rules,
        "states": states,
        "start": table.start_states["start"],
        "end": table.end_states["start"],
    }


def _rule(rule, callback) -> list:
    """[size, rule name, method name, include, nones appended, expand one child] for one rule,
    from the chain of wrappers lark put around its method."""
    from lark.parse_tree_builder import (
        ChildFilterLALR,
        ChildFilterLALR_NoPlaceholders,
        ExpandSingleChild,
    )

    include, append_none, expand1 = None, 0, False
    if type(callback) is ChildFilterLALR:
        include = [[i, bool(e), n] for i, e, n in callback.to_include]
        append_none, callback = callback.append_none, callback.node_builder
    elif type(callback) is ChildFilterLALR_NoPlaceholders:
        include = [[i, bool(e), 0] for i, e in callback.to_include]
        callback = callback.node_builder
    if type(callback) is ExpandSingleChild:
        expand1, callback = True, callback.node_builder
    if hasattr(callback, "node_builder"):
        raise TypeError(f"unexpected wrapper {type(callback).__name__}")  # positions, ambiguity
    action = rule.alias or rule.options.template_source or rule.origin.name
    return [len(rule.expansion), str(rule.origin.name), str(action), include, append_none, expand1]
