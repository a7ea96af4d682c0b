"""Source text to the typed syntax tree (:mod:`nndsl.lang.syntax`), or syntax diagnostics.

The transformer only builds structure; every semantic judgement belongs to the checker. It runs
inside the fast path (:mod:`nndsl.lang.fastparse`), which parses a correct program without
importing lark, and inside lark's own parser, which takes over for the rest and says precisely
what is wrong.
"""

from __future__ import annotations

import ast as pyast
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING

from nndsl.diagnostics.core import CompileError, Diagnostic
from nndsl.lang import syntax as s
from nndsl.lang.fastparse import FastParser, GiveUp
from nndsl.lang.lexical import table
from nndsl.lang.parse_sections import SectionsToSyntax, _cover, _number, _span
from nndsl.lang.parser_blocks import BlockSyntax
from nndsl.lang.tables import fast_tables, lark_parser

if TYPE_CHECKING:
    from lark import Lark


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return lark_parser("grammar", transformer=_ToSyntax())


@lru_cache(maxsize=1)
def _fast_parser() -> FastParser | None:
    """The fast path over the grammar's tables (:func:`nndsl.lang.tables.fast_tables`), or None
    when this version of lark is laid out differently inside: then lark alone parses."""
    try:
        return FastParser(fast_tables(), _ToSyntax())
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


class _ToSyntax(SectionsToSyntax, BlockSyntax):
    """Builds syntax nodes bottom-up while the LALR parser runs (no lark tree is kept): each
    method is called with the children of the rule it is named after, as lark's transformers are.

    A token's ``value`` is its text as a plain ``str``.
    """

    # -- expressions
    def int_lit(self, c):
        tok = c[0]
        value = _number(tok)
        text = str(value) if tok.type == "INT" and tok.value[0] == "0" else tok.value  # 007: 7
        return s.Num(value, text, _span(tok))

    float_lit = int_lit

    def str_lit(self, c):
        tok = c[0]
        try:
            with warnings.catch_warnings():  # an unknown escape such as \d keeps its backslash
                warnings.simplefilter("ignore")
                value = pyast.literal_eval(tok.value)
        except (SyntaxError, ValueError) as err:  # \x without hex digits, \N{no such name}
            reason = str(err).split(": ", 1)[-1].split(" (<unknown>")[0]
            value = None
        else:
            reason = "a lone surrogate is not a character"
        if value is None or any("\ud800" <= ch <= "\udfff" for ch in value):
            raise CompileError(
                [
                    Diagnostic(
                        "E0002",
                        f"invalid escape in a string: {reason}",
                        _span(tok),
                        help="write a backslash as `\\\\`",
                    )
                ]
            )
        return s.Str(value, _span(tok))

    def true_lit(self, c):
        return s.Const(True, _span(c[0]))

    def false_lit(self, c):
        return s.Const(False, _span(c[0]))

    def none_lit(self, c):
        return s.Const(None, _span(c[0]))

    def name(self, c):
        return s.Name(c[0].value, _span(c[0]))

    def _bin(op):  # noqa: N805 - a method factory used only in this class body
        def build(self, c):
            return s.BinOp(op, c[0], c[1], _cover(c[0], c[1]))

        return build

    add, sub, mul, div = _bin("+"), _bin("-"), _bin("*"), _bin("/")
    floordiv, mod, pow, matmul = _bin("//"), _bin("%"), _bin("**"), _bin("@")

    def cmp(self, c):
        return s.BinOp(c[1].value, c[0], c[2], _cover(c[0], c[2]))

    def call_expr(self, c):
        return s.CallExpr(c[0], c[1] or (), _cover(c[0], c[2]))

    def declared_call(self, c):
        return s.CallExpr(c[0], c[1] or (), _cover(c[0], c[4]), c[4])

    def index(self, c):
        return s.Index(c[0], c[2], _cover(c[0], c[3]))

    def subscripts(self, c):
        return tuple(x for x in c if x is not None)

    def slice(self, c):
        start, colon, stop, colon2, step = c
        parts = [x for x in c if x is not None]
        return s.SliceExpr(start, stop, step, _cover(parts[0], parts[-1]))

    def ellipsis(self, c):
        return s.EllipsisLit(_span(c[0]))

    def neg(self, c):
        return s.Unary("-", c[1], _cover(c[0], c[1]))

    def pos(self, c):
        return s.Unary("+", c[1], _cover(c[0], c[1]))

    def tuple_lit(self, c):
        return s.TupleLit(tuple(x for x in c[1:-1] if x is not None), _cover(c[0], c[-1]))

    def list_lit(self, c):
        return s.ListLit(tuple(x for x in c[1:-1] if x is not None), _cover(c[0], c[-1]))

    # -- calls and statements
    def kwarg(self, c):
        return s.Arg(c[0].value, c[1], _cover(c[0], c[1]))

    def args(self, c):
        return tuple(
            [x if isinstance(x, s.Arg) else s.Arg(None, x, x.span) for x in c if x is not None]
        )

    def call(self, c):
        name, args, rpar, _arrow, shape = c
        end = rpar if shape is None else shape
        return s.Call(name.value, args or (), _span(name), _cover(name, end), shape)

    def import_stmt(self, c):
        keyword, path, _import, *names = c
        last = [n for n in names if n is not None][-1]
        names = tuple((n.value, _span(n)) for n in names if n is not None)
        return s.Import(path.value, path.span, names, _cover(keyword, last))

    def layer_stmt(self, c):
        name, call = c
        if name is None:
            return s.LayerStmt(None, None, call, call.span)
        return s.LayerStmt(name.value, _span(name), call, _cover(name, call))

    def shared_stmt(self, c):
        return s.SharedStmt(c[0].value, _span(c[0]), c[1], _cover(c[0], c[1]))

    def use_stmt(self, c):
        return s.UseStmt(c[0].value, _span(c[0]))

    def repeat_stmt(self, c):
        name, keyword, count, var, body = c
        return s.RepeatStmt(
            name.value if name else None,
            _span(name) if name else None,
            count,
            var.value if var else None,
            _span(var) if var else None,
            body,
            _cover(name or keyword, count),
        )

    def body(self, c):
        *stmts, forward, _ = c
        return tuple(stmts), forward

    def stmts(self, c):
        return tuple(c[:-1])

    # -- forward
    def target(self, c):
        return s.Name(c[0].value, _span(c[0]))

    def target_tuple(self, c):
        return s.TupleTarget(tuple(x for x in c[1:-1] if x is not None), _cover(c[0], c[-1]))

    def assign(self, c):
        first, *rest, value = c
        head = s.Name(first.value, _span(first))
        items = [x for x in rest if x is not None]
        if not items:
            return s.Assign(head, value, _cover(first, value))
        target = s.TupleTarget((head, *items), _cover(first, items[-1]))
        return s.Assign(target, value, _cover(first, value))

    def return_stmt(self, c):
        values = tuple(x for x in c[1:] if x is not None)
        return s.Return(values, _cover(c[0], values[-1]) if values else _span(c[0]))

    def while_stmt(self, c):
        keyword, cond, body = c
        return s.While(cond, body, _cover(keyword, cond))

    def fbody(self, c):
        return tuple(c[:-1])

    def forward_expr(self, c):
        keyword, params, value = c
        body = (s.Return((value,), value.span),)
        return s.Forward(params or (), body, _span(keyword))

    def forward_body(self, c):
        keyword, params, body = c
        return s.Forward(params, body, _span(keyword))

    # -- definitions
    def dim(self, c):
        tok = c[0]
        value = _number(tok) if tok.type == "INT" else tok.value
        return s.DimDecl(value, _span(tok))

    def shape(self, c):
        return tuple(x for x in c[1:-1] if x is not None), _cover(c[0], c[-1])

    def input(self, c):
        name, (shape, shape_span), dtype, optional = c
        return s.Input(
            name.value,
            shape,
            dtype.value if dtype else None,
            _span(dtype) if dtype else None,
            _cover(name, dtype) if dtype else _span(name).to(shape_span),
            optional is not None,
        )

    def inputs(self, c):
        return tuple(x for x in c if x is not None)

    def param(self, c):
        return s.Param(c[0].value, c[1], _span(c[0]) if c[1] is None else _cover(c[0], c[1]))

    params = inputs

    def model(self, c):
        name, inputs, (stmts, forward) = c
        return s.Model(name.value, _span(name), inputs or (), stmts, _span(name), forward)

    def block(self, c):
        keyword, name, params, (stmts, forward) = c
        return s.Block(
            name.value, _span(name), params or (), stmts, _span(name), forward, keyword.value
        )

    def layer_expr(self, c):
        keyword, name, params, value = c
        forward = s.Forward(params or (), (s.Return((value,), value.span),), value.span)
        return s.Block(name.value, _span(name), (), (), _span(name), forward, keyword.value)

    # -- data and training
    def start(self, c):
        return s.Program(tuple(c))


def __getattr__(name: str):
    if name == "KEYWORDS":  # the grammar's words, read on first use
        return table().keywords
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse(text: str) -> s.Program:
    """Parse source text; raise :class:`CompileError` with a syntax diagnostic on failure."""
    fast = _fast_parser()
    if fast is not None:
        try:
            return fast.parse(text)
        except GiveUp:
            pass  # lark parses it its own way or says precisely what is wrong
    from lark.exceptions import UnexpectedInput

    from nndsl.lang.parse_errors import syntax_error

    parser = _parser()
    try:
        return parser.parse(text)
    except UnexpectedInput as err:
        raise CompileError([syntax_error(err, text, parser)]) from None
