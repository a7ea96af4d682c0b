"""Helpers of the syntax-tree builder (:mod:`nndsl.lang.parser`): spans and numbers of
tokens, and the rules of ``data`` and ``train`` sections, mixed into the builder."""

from __future__ import annotations

from nndsl.diagnostics.core import CompileError, Diagnostic
from nndsl.lang import syntax as s
from nndsl.lang.fastparse import Tok
from nndsl.lang.syntax import MAX_MAGNITUDE


def _span(tok) -> s.Span:
    return s.Span(tok.line, tok.column, tok.end_line, tok.end_column)


def _cover(first, last) -> s.Span:
    """The span from the start of ``first`` to the end of ``last``, each a token (the fast path's
    :class:`Tok`, or lark's, a ``str``) or a node."""
    a = first if isinstance(first, (Tok, str)) else first.span
    b = last if isinstance(last, (Tok, str)) else last.span
    return s.Span(a.line, a.column, b.end_line, b.end_column)


def _number(tok) -> int | float:
    clean = tok.value.replace("_", "")
    if not clean.isdigit():  # INT is [0-9]+ once `_` is gone
        return float(clean)
    digits = clean.lstrip("0") or "0"
    value = int(digits) if len(digits) <= 100 else None  # int() refuses 4,300 digits
    if value is None or value > MAX_MAGNITUDE:
        raise CompileError(
            [
                Diagnostic(
                    "E0127",
                    "this number is too large",
                    _span(tok),
                    help="no size or count in a network is this large",
                )
            ]
        )
    return value


class SectionsToSyntax:
    """The rules of data and train sections, for :class:`nndsl.lang.parser._ToSyntax`."""

    def setting_args(self, c):
        return self.args(c)

    def setting(self, c):
        name, args = c
        return s.Setting(name.value, args, _span(name), _cover(name, args[-1]))

    def data_assign(self, c):
        name, value = c
        return s.DataAssign(name.value, value, _span(name), _cover(name, value))

    def data(self, c):
        keyword, name, *stmts, close = c
        return s.Data(name.value, _span(name), tuple(stmts), _cover(keyword, name))

    def selector(self, c):
        parts: list[str | int] = []
        negative = False
        for tok in c:
            if tok is None or tok.type in ("LSQB", "RSQB"):
                continue
            if tok.type == "DOT":
                if not parts:
                    parts.append("")
            elif tok.type == "MINUS":
                negative = True
            elif tok.type == "INT":
                parts.append(-_number(tok) if negative else _number(tok))
                negative = False
            else:
                parts.append(tok.value)
        return s.Selector(tuple(parts), _cover(c[0], c[-1]))

    def selectors(self, c):
        return tuple(c)

    def group(self, c):
        selectors, colon, args = c
        return s.Group(selectors, args, _cover(selectors[0], args[-1]))

    def groups(self, c):
        return tuple(c[:-1])

    def optimizer(self, c):
        keyword, value, groups = c
        return s.Optimizer(value, groups or (), _cover(keyword, value))

    def init_rule(self, c):
        selectors, tilde, value, keep, mask = c
        return s.InitRule(selectors, "~", value, mask, _cover(selectors[0], mask or value))

    def init_value(self, c):
        selectors, value = c
        return s.InitRule(selectors, "=", value, None, _cover(selectors[0], value))

    def freeze(self, c):
        keyword, selectors = c
        return s.Freeze(selectors, _cover(keyword, selectors[-1]))

    def init_block(self, c):
        keyword, *rules, close = c
        return s.InitBlock(tuple(rules), _cover(keyword, close))

    def key_map(self, c):
        source, arrow, target = c
        value = target.value if isinstance(target, s.Str) else None
        return s.KeyMap(source.value, value, _cover(source, target))

    def key_maps(self, c):
        return tuple(c[:-1])

    def init_from(self, c):
        keyword, _from, path, partial, maps = c
        end = partial or path
        return s.InitFrom(
            path.value, path.span, partial is not None, maps or (), _cover(keyword, end)
        )

    def step(self, c):
        keyword, model, *stmts, close = c
        return s.Step(model.value, _span(model), tuple(stmts), _cover(keyword, model))

    def train(self, c):
        at = next(i for i, tok in enumerate(c) if getattr(tok, "type", "") == "ON")
        (keyword, model, *more), (data, *stmts, _close) = c[:at], c[at + 1 :]
        return s.Train(
            model.value,
            _span(model),
            data.value,
            _span(data),
            tuple(stmts),
            _cover(keyword, data),
            tuple((m.value, _span(m)) for m in more),
        )
