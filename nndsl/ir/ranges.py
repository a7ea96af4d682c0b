"""Ranges of values: the closed interval every value of a tensor is known to lie in.

An :class:`Interval` is conservative: it may be wider than the values a tensor really takes,
never narrower. An infinite end means no bound on that side, so :data:`UNBOUNDED` is what is
known of a tensor nothing is known about. Arithmetic on intervals gives an interval holding
every result of the operation on values of its operands.
"""

from __future__ import annotations

import math

from nndsl.util.frozen import frozen

INF = math.inf


@frozen(slots=True)
class Interval:
    """Every value lies in ``lo`` .. ``hi``, both included (an infinite end: no bound)."""

    lo: float = -INF
    hi: float = INF

    @classmethod
    def parse(cls, text: str) -> Interval:
        """The interval a layer's ``clips`` text writes, ends included.

        >>> Interval.parse("[0, inf)"), Interval.parse("(-inf, 0]")
        (Interval(lo=0.0, hi=inf), Interval(lo=-inf, hi=0.0))
        """
        lo, hi = (float(part) for part in text.strip("[]()").split(","))
        return cls(lo, hi)

    def __str__(self) -> str:
        """As the docs write ranges: ``[0, 1]``, ``[0, inf)``, ``(-inf, inf)``.

        >>> str(Interval(0, 6)), str(Interval(-INF, 0)), str(Interval(0.5, INF))
        ('[0, 6]', '(-inf, 0]', '[0.5, inf)')
        """
        left = "(-inf" if self.lo == -INF else "[" + _number(self.lo)
        right = "inf)" if self.hi == INF else _number(self.hi) + "]"
        return f"{left}, {right}"

    @property
    def bounded(self) -> bool:
        return self.lo > -INF or self.hi < INF

    def within(self, other: Interval) -> bool:
        """Whether every value of this interval lies in ``other``."""
        return other.lo <= self.lo and self.hi <= other.hi

    def hull(self, other: Interval) -> Interval:
        """The smallest interval holding both."""
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def clamped(self, lo: float = -INF, hi: float = INF) -> Interval:
        """The values once each is clamped to ``lo`` .. ``hi`` (``clamp``, ``ReLU``).

        >>> Interval().clamped(0), Interval(2, 9).clamped(0, 6)
        (Interval(lo=0, hi=inf), Interval(lo=2, hi=6))
        """
        return Interval(min(max(self.lo, lo), hi), min(max(self.hi, lo), hi))

    def __add__(self, other: Interval) -> Interval:
        return Interval(_sum(self.lo, other.lo, -INF), _sum(self.hi, other.hi, INF))

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other: Interval) -> Interval:
        return self + -other

    def __mul__(self, other: Interval) -> Interval:
        """Products of the ends, taking 0 times an unbounded end as 0 (every value is finite).

        >>> Interval(0, 1) * Interval(-2, 3), Interval(0, 0) * Interval()
        (Interval(lo=-2, hi=3), Interval(lo=0, hi=0))
        """
        ends = [_product(a, b) for a in (self.lo, self.hi) for b in (other.lo, other.hi)]
        return Interval(min(ends), max(ends))

    def __truediv__(self, other: Interval) -> Interval:
        """Unbounded when the divisor may be 0."""
        if other.lo <= 0 <= other.hi:
            return UNBOUNDED
        return self * Interval(1 / other.hi, 1 / other.lo)

    def power(self, exponent: float) -> Interval:
        """``x ** exponent`` for a number exponent: bounded for a base of no negative values
        and a positive exponent, or a whole, even one; unbounded otherwise.

        >>> Interval(0, 1).power(2), Interval(-3, 2).power(2), Interval(-1, 1).power(0.5)
        (Interval(lo=0, hi=1), Interval(lo=0, hi=9), Interval(lo=-inf, hi=inf))
        """
        if exponent <= 0 or isinstance(exponent, bool):
            return UNBOUNDED
        if self.lo >= 0:
            return Interval(_pow(self.lo, exponent), _pow(self.hi, exponent))
        if float(exponent).is_integer() and int(exponent) % 2 == 0:
            top = max(_pow(abs(self.lo), exponent), _pow(abs(self.hi), exponent))
            return Interval(0 if self.hi >= 0 else _pow(abs(self.hi), exponent), top)
        return UNBOUNDED

    def image(self, fn) -> Interval:
        """The values of an increasing function ``fn`` on this interval (an end it cannot take,
        an overflow: no bound there)."""
        return Interval(_end(fn, self.lo, -INF), _end(fn, self.hi, INF))


UNBOUNDED = Interval()
PROBABILITIES = Interval(0, 1)  # what `bce` takes
LOG_PROBABILITIES = Interval(-INF, 0)  # what `nll` takes


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _sum(a: float, b: float, inf: float) -> float:
    return inf if math.isinf(a) or math.isinf(b) else a + b


def _product(a: float, b: float) -> float:
    return 0 if a == 0 or b == 0 else a * b


def _pow(base: float, exponent: float) -> float:
    try:
        return base**exponent
    except OverflowError:
        return INF


def _end(fn, x: float, fallback: float) -> float:
    try:
        y = fn(x)
    except (OverflowError, ValueError):
        return fallback
    return fallback if math.isnan(y) else y
