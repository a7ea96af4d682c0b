"""A loss against the range of the model output it is given (:mod:`nndsl.check.ranges`).

- E0419: ``bce`` on an output that is not known to lie in [0, 1]: torch would stop at the
  first batch (``all elements of input should be between 0 and 1``).
- W0406: ``nll`` on an output that is not known to be log-probabilities, at most 0.
- W0403 (with the lints' own case of a last ``Softmax`` or ``Sigmoid``): ``cross_entropy`` or
  ``bce_with_logits`` on an output already in [0, 1], which the loss squashes a second time.

Each takes the output's :class:`~nndsl.check.ranges.Found`, so it serves any model output,
not only the one today's ``loss`` setting compares with ``y``.
"""

from __future__ import annotations

from nndsl.check.ranges import Found
from nndsl.diagnostics.core import Diagnostic, Label
from nndsl.diagnostics.span import Span
from nndsl.ir.ranges import LOG_PROBABILITIES, PROBABILITIES


def not_probabilities(loss: str, model: str, found: Found, span: Span) -> Diagnostic | None:
    """E0419 for ``bce`` on an output not within [0, 1]; ``span``: the loss."""
    if loss != "bce" or found.interval.within(PROBABILITIES):
        return None
    return Diagnostic(
        "E0419",
        f"`bce` takes probabilities in [0, 1], but the output of `{model}` "
        f"may be anywhere in {found.interval}",
        span,
        labels=_origin(found, span),
        help=(
            _DROPPED
            if getattr(found.origin, "name", None) in _DROPOUTS
            else "use `bce_with_logits` (it applies the sigmoid itself), "
            "or end the model with `Sigmoid()`"
        ),
    )


_DROPOUTS = ("Dropout", "Dropout1d", "Dropout2d")
_DROPPED = (
    "move the dropout before the layer that makes the probabilities: it scales what it keeps "
    "by 1 / (1 - p), past 1"
)


def range_warnings(loss: str, model: str, found: Found, span: Span) -> list[Diagnostic]:
    """W0406 and the range case of W0403 for ``loss`` on an output of range ``found``."""
    interval = found.interval
    if loss == "nll" and not interval.within(LOG_PROBABILITIES):
        return [
            Diagnostic(
                "W0406",
                f"`nll` takes log-probabilities (at most 0), but the output of `{model}` "
                f"may be anywhere in {interval}",
                span,
                severity="warning",
                labels=_origin(found, span),
                help="use `cross_entropy` (it applies log_softmax itself), "
                "or end the model with `LogSoftmax(1)`",
            )
        ]
    if loss in _SQUASHES and interval.within(PROBABILITIES) and found.origin is not None:
        inside, last, instead = _SQUASHES[loss]
        where = found.origin.span or span
        return [
            Diagnostic(
                "W0403",
                f"`{loss}` applies {inside} itself, but the output of `{model}` is already "
                f"in {interval}",
                where,
                severity="warning",
                labels=(Label(span, f"the loss is `{loss}`"),) if where != span else (),
                help=f"remove the last {last} and let the model return raw scores (logits), "
                f"or use {instead}",
            )
        ]
    return []


_SQUASHES = {
    "cross_entropy": ("log_softmax", "Softmax()", "`loss nll` after a LogSoftmax"),
    "bce_with_logits": ("a sigmoid", "Sigmoid()", "`loss bce`"),
}


def _origin(found: Found, span: Span) -> tuple[Label, ...]:
    """A label on the node that decided the range, when it is written elsewhere."""
    node = found.origin
    where = getattr(node, "span", None)
    if where is None or where == span:
        return ()
    return (Label(where, f"{_what(node)} gives values in {found.interval}"),)


def _what(node) -> str:
    name = node.name
    if node.kind == "layer":
        return f"this {name}"
    if node.kind == "input":
        return f"the input `{node.attr}`" if getattr(node, "attr", "") else "the input"
    if node.kind == "tensor":
        return "this parameter" if name == "Parameter" else "this constant"
    if isinstance(name, str) and name.isidentifier():
        return f"`{name}`"
    return "this index" if not isinstance(name, str) or name == "[]" else f"this `{name}`"
