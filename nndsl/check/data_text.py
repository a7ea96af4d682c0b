"""Text in a data section: ``text("data/sonnets.txt")``, the characters of a file as int64 ids
in its vocabulary (its sorted distinct characters), and ``windows(ids, 64)``, a sequence cut
into samples of 64 values (mixed into :class:`nndsl.check.data.DataRules`).

A section has one vocabulary, its first text file's: a later text file of the section may use
only its characters, and the training script encodes every file with it (``VOCABULARY``).
"""

from __future__ import annotations

from nndsl.ir import expr as ex
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s

SEQUENCE_FUNCTIONS = ("windows",)  # data functions that cut a sequence into samples
VOCABULARY = ex.Name("VOCABULARY")  # the training script's constant
_WINDOWS = ("x", "size", "step")
_WINDOWS_HELP = "write `windows(ids, 64)` or `windows(ids, 64, step=32)`"


class TextRules:
    """Text files and the samples cut from them (mixed into ``DataRules``)."""

    def _text(self, found, where: ex.Expr, span, info) -> tuple[Value, tuple]:
        """A text file (a ``datafiles.text.TextFile``) as its ids in the section's vocabulary."""
        if info.vocabulary is None:
            info.vocabulary, info.text_file, info.text_first = (
                found.vocabulary,
                found.path,
                found.first,
            )
        else:
            extra = sorted(set(found.vocabulary) - set(info.vocabulary))
            if extra:
                shown = ", ".join(repr(c) for c in extra[:8]) + (", ..." if len(extra) > 8 else "")
                raise EvalError(
                    f"{found.path} holds characters that {info.text_file}, the first text file "
                    f"of data `{info.name}`, lacks: {shown}",
                    span,
                    "E0421",
                    help="a data section has one vocabulary, its first text file's: "
                    "read the text that holds every character first",
                )
        made = ex.call("read_text", where, VOCABULARY)
        return Value(Tensor((found.chars,), "int64"), made), (0, len(info.vocabulary) - 1)

    def sequence(self, e: s.Expr, info) -> bool:
        """Whether a data value is a sequence, not samples: read from a text file, or computed
        from such a sequence, without ``windows``."""
        match e:
            case s.CallExpr(func=s.Name(id=name)) if name in SEQUENCE_FUNCTIONS:
                return False
            case s.CallExpr(func=s.Name(id="text")):
                return True
            case s.Name(id=name):
                return name in info.sequences
            case s.Index(value=value):
                return self.sequence(value, info)
            case s.BinOp(left=left, right=right):
                return self.sequence(left, info) or self.sequence(right, info)
            case s.Unary(operand=operand):
                return self.sequence(operand, info)
            case s.CallExpr(args=args):
                return any(self.sequence(a.value, info) for a in args)
            case s.ListLit(items=items) | s.TupleLit(items=items):
                return any(self.sequence(item, info) for item in items)
        return False

    def _windows(self, e: s.CallExpr, env, info) -> tuple[Value, tuple | None]:
        """``windows(ids, 64, step=32)``: every run of 64 values of the 1-D ``ids``, starting
        every 32 (every 64 by default: windows side by side), as samples (N, 64)."""
        given = self._window_args(e)
        if info.plan is not None:
            raise EvalError(
                "`windows` makes samples out of a whole sequence, which a streamed section "
                "cannot do batch by batch",
                e.span,
                "E0409",
                help="drop `stream true`",
            )
        v, rng = self._value(given["x"], env, info)
        if not isinstance(v.py, Tensor):
            v = self._operand(given["x"], env, info)  # a table or archive: its own message
            raise EvalError("`windows` cuts a tensor", given["x"].span, "E0106")
        size = self._window_number(given["size"], "size")
        step = self._window_number(given["step"], "step") if "step" in given else size
        shape = v.py.shape
        if len(shape) != 1:
            raise EvalError(
                f"`windows` cuts a sequence of one dim, but this is {fmt_shape(shape)}",
                given["x"].span,
                "E0303",
                help="flatten it first, e.g. `windows(flatten(x), 64)`",
            )
        length = shape[0]
        if isinstance(length, int) and size > length:
            raise EvalError(
                f"a window of {size} is longer than the sequence, which holds {length}",
                given["size"].span,
                "E0125",
            )
        count = (length - size) // step + 1 if isinstance(length, int) else "N"
        info.mixing.add(e.span)  # each sample is made of several values of the sequence
        made = ex.method(v.expr, "unfold", ex.Lit(0), ex.Lit(size), ex.Lit(step))
        return Value(Tensor((count, size), v.py.dtype), made), rng

    def _window_args(self, e: s.CallExpr) -> dict[str, s.Expr]:
        """The arguments of ``windows`` by name: ``x`` and ``size``, and ``step`` if given."""
        given: dict[str, s.Expr] = {}
        for i, a in enumerate(e.args):
            if a.name is None:
                if i >= len(_WINDOWS) or any(b.name is not None for b in e.args[:i]):
                    raise EvalError(
                        "`windows` takes at most 3 arguments, by position before any by name",
                        a.span,
                        "E0104",
                        help=_WINDOWS_HELP,
                    )
                given[_WINDOWS[i]] = a.value
            elif a.name not in _WINDOWS[1:]:
                raise EvalError(
                    f"`windows` has no argument `{a.name}`", a.span, "E0102", help=_WINDOWS_HELP
                )
            elif a.name in given:
                raise EvalError(f"`{a.name}` is given twice", a.span, "E0105")
            else:
                given[a.name] = a.value
        for name in _WINDOWS[:2]:
            if name not in given:
                what = "the sequence" if name == "x" else "the size of a window"
                raise EvalError(f"`windows` needs {what}", e.span, "E0103", help=_WINDOWS_HELP)
        return given

    def _window_number(self, node: s.Expr, name: str) -> int:
        self.written(node, f"the {name} of `windows`")
        try:
            v = evaluate(node, {}).py
        except EvalError as err:
            raise EvalError(err.message, err.span or node.span, "E0106") from None
        if isinstance(v, bool) or not isinstance(v, int):
            raise EvalError(f"the {name} of `windows` is a whole number", node.span, "E0106")
        if v < 1:
            raise EvalError(
                f"the {name} of `windows` must be at least 1, got {v}", node.span, "E0125"
            )
        return v
