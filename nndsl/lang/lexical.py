"""The lexical table of the language, read from grammar/nndsl.lark: keywords, names, numbers,
strings, comments, operators and brackets.

Every tool that looks at tokens takes its patterns from here (the formatter's tokenizer, the
compiler's nesting pre-check, the parser's keyword hint, the Pygments lexer and the VS Code
grammar), so the grammar stays the one source of truth and no copy of a pattern can drift.

The grammar is read as text: its terminals are strings, alternatives of strings, or one regular
expression each, which a few lines read in well under a millisecond, where loading the grammar
through lark costs a twentieth of a second more at every start. tests/test_lexical.py checks
this reading against lark's own.
"""

from __future__ import annotations

import ast
import re
from functools import cached_property, lru_cache

from nndsl.util.frozen import frozen
from nndsl.util.resources import resource_dir

__all__ = ["Lexical", "Terminal", "grammar_text", "table"]

_PAIRS = {"(": ")", "[": "]", "{": "}"}  # the brackets, where the grammar spells both out
_SEPARATORS = (",", ":")  # symbols that separate rather than operate

# The pieces of lark's grammar syntax this reader needs: strings, regexes, comments, the rest.
_GRAMMAR_TOKEN = re.compile(
    r"""(?P<str>"(?:[^"\\\n]|\\.)*"i?)"""
    r"""|(?P<re>/(?![/*])(?:[^/\\\n]|\\.)+/[imslux]*)"""
    r"""|(?P<comment>//[^\n]*)"""
    r"""|(?P<other>[^"/]+|/)"""
)
_DEFINITION = re.compile(r"^([?!]?)([A-Za-z_][A-Za-z0-9_]*)(?:\.-?[0-9]+)?[ \t]*:(?!:)", re.M)
_IGNORE = re.compile(r"^%ignore[ \t]+(.*?)[ \t]*$", re.M)
_REFERENCE = re.compile(r"\b[A-Z_][A-Z0-9_]*\b")


class GrammarShape(Exception):
    """The grammar has a terminal this reader does not understand (a reference, a repetition):
    a change to the grammar that needs a change here."""


@frozen
class Terminal:
    name: str
    literals: tuple[str, ...]  # the strings it matches, or () for a regular expression
    pattern: str  # a regular expression for it, in the syntax Python and Oniguruma share


@frozen
class Lexical:
    terminals: dict  # name -> Terminal, the named terminals in grammar order
    anonymous: tuple[str, ...]  # the strings rules spell out: "model", "(", "**"
    space: str  # the white space the lexer skips
    atoms: frozenset  # the terminals the rule `atom` is made of

    def regex(self, name: str) -> str:
        return self.terminals[name].pattern

    @property
    def name(self) -> str:
        return self.regex("NAME")

    @property
    def int(self) -> str:
        return self.regex("INT")

    @property
    def float(self) -> str:
        return self.regex("FLOAT")

    @property
    def string(self) -> str:
        return self.regex("STRING")

    @property
    def comment(self) -> str:
        return self.regex("COMMENT")

    @cached_property
    def strings(self) -> dict[str, str]:
        """STRING's alternatives by their quote: ``{'"': ..., "'": ...}``."""
        return {alt[0]: alt for alt in alternatives(self.string)}

    @cached_property
    def literals(self) -> tuple[str, ...]:
        """Every string the grammar spells out, named or not, each once, in grammar order."""
        named = [lit for t in self.terminals.values() for lit in t.literals]
        return tuple(dict.fromkeys(named + list(self.anonymous)))

    @cached_property
    def keywords(self) -> tuple[str, ...]:
        """The literals that are words: a name can never be one of them where the grammar
        expects the keyword."""
        word = re.compile(self.name)
        return tuple(lit for lit in self.literals if word.fullmatch(lit))

    @cached_property
    def constants(self) -> tuple[str, ...]:
        """The keywords that are values (`true`, `false`, `none`): the rule `atom` uses them."""
        return tuple(
            lit
            for name in self.terminals
            if name in self.atoms
            for lit in self.terminals[name].literals
            if lit in self.keywords
        )

    @cached_property
    def symbols(self) -> tuple[str, ...]:
        """The literals that are not words, longest first (so that `**` wins over `*`)."""
        rest = [lit for lit in self.literals if lit not in self.keywords]
        return tuple(sorted(rest, key=lambda s: (-len(s), self.literals.index(s))))

    @cached_property
    def brackets(self) -> dict[str, str]:
        """Opening bracket -> closing bracket."""
        return {o: c for o, c in _PAIRS.items() if o in self.symbols and c in self.symbols}

    @cached_property
    def separators(self) -> tuple[str, ...]:
        return tuple(s for s in _SEPARATORS if s in self.symbols)

    @cached_property
    def operators(self) -> tuple[str, ...]:
        """The symbols other than brackets and separators, longest first."""
        skip = set(self.brackets) | set(self.brackets.values()) | set(self.separators)
        return tuple(s for s in self.symbols if s not in skip)

    @cached_property
    def tokenizer(self) -> re.Pattern:
        """Source text to tokens by named group: ``space``, ``comment``, ``string``, ``number``,
        ``word``, ``op`` (every symbol), ``error`` (any other character)."""
        return re.compile(
            f"(?P<space>{self.space})|(?P<comment>{self.comment})|(?P<string>{self.string})"
            f"|(?P<number>{self.float}|{self.int})|(?P<word>{self.name})"
            f"|(?P<op>{either(self.symbols)})|(?P<error>.)",
            re.DOTALL,
        )

    @cached_property
    def nesting(self) -> re.Pattern:
        """Comments, strings and single brackets: the brackets outside comments and strings."""
        chars = list(self.brackets) + list(self.brackets.values())
        return re.compile(f"{self.comment}|{self.string}|{char_class(chars)}")


def either(strings) -> str:
    """A regular expression for any of ``strings``, tried in their order: the single characters
    together in one class after the longer strings."""
    strings = list(strings)
    single = [s for s in strings if len(s) == 1]
    longer = [re.escape(s) for s in strings if len(s) > 1]
    return "|".join(longer + ([char_class(single)] if single else []))


def char_class(chars) -> str:
    """``[...]`` for the characters, written so that none needs more than a backslash."""
    chars = list(dict.fromkeys(chars))
    body = "".join("\\" + c if c in "\\]^[" else c for c in chars if c != "-")
    return "[" + ("-" if "-" in chars else "") + body + "]"


def alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression (``a|b(c|d)`` -> ``a``, ``b(c|d)``)."""
    out, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += pattern.startswith("^", i + 1)  # `[^]...]` and `[]...]`: that `]` is literal
            i += pattern.startswith("]", i + 1)
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    return out + [pattern[start:]]


# ---- reading the grammar ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return (resource_dir("grammar") / "nndsl.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def table() -> Lexical:
    """The lexical table of grammar/nndsl.lark (read once)."""
    return read(grammar_text())


def read(grammar: str) -> Lexical:
    """The lexical table of a lark grammar whose terminals are strings or regexes."""
    code = "".join(m.group() for m in _GRAMMAR_TOKEN.finditer(grammar) if not m["comment"])
    heads = list(_DEFINITION.finditer(code))
    terminals, anonymous, atoms = {}, [], frozenset()
    for head, after in zip(heads, heads[1:] + [None]):
        name = head[2]
        body = code[head.end() : after.start() if after else len(code)]
        body = _IGNORE.sub("", body)
        if name.isupper():
            terminals[name] = _terminal(name, body)
            continue
        anonymous += [_string(m.group()) for m in _GRAMMAR_TOKEN.finditer(body) if m["str"]]
        if name == "atom":
            atoms = frozenset(_REFERENCE.findall(_strip_literals(body)))
    space = None
    for m in _IGNORE.finditer(code):
        if m[1] not in terminals:
            space = _terminal("%ignore", m[1]).pattern
    if space is None:
        raise GrammarShape("the grammar ignores no white space of its own")
    return Lexical(terminals, tuple(dict.fromkeys(anonymous)), space, atoms)


def _terminal(name: str, body: str) -> Terminal:
    parts = [m for m in _GRAMMAR_TOKEN.finditer(body) if m["other"] is None or m.group().strip()]
    kinds = {"str" if m["str"] else "re" if m["re"] else m.group().strip() for m in parts}
    if kinds <= {"str", "|"} and parts:
        literals = tuple(_string(m.group()) for m in parts if m["str"])
        return Terminal(name, literals, either(sorted(literals, key=len, reverse=True)))
    if len(parts) == 1 and parts[0]["re"]:
        text = parts[0].group()
        if not text.endswith("/"):
            raise GrammarShape(f"{name}: flags on a regular expression")
        return Terminal(name, (), text[1:-1].replace("\\/", "/"))
    raise GrammarShape(f"{name}: a terminal that is not strings or one regular expression")


def _string(text: str) -> str:
    if text.endswith("i"):
        raise GrammarShape(f"{text}: a string that ignores case")
    return text[1:-1] if "\\" not in text else ast.literal_eval(text)


def _strip_literals(body: str) -> str:
    return "".join(m.group() for m in _GRAMMAR_TOKEN.finditer(body) if m["other"] is not None)
