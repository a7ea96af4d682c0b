"""Sizes for the summaries: a dim's value for given symbol sizes, and numbers for people."""

from __future__ import annotations

import re


class UnknownSize(Exception):
    """A shape names a size (such as ``T``) that was not given a value."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def dim_size(d, sizes: dict[str, int]) -> int:
    """One dim: an int, a symbol, or a product of symbols and ints (a merged ``T * 6``)."""
    if isinstance(d, int):
        return int(d)
    if d is None or not re.fullmatch(r"[\w\s*()]+", d):  # unknown, or not a product
        raise UnknownSize("?" if d is None else d)
    size = 1
    for factor in re.findall(r"\w+", d):
        if not factor.isdigit() and factor not in sizes:
            raise UnknownSize(factor)
        size *= int(factor) if factor.isdigit() else sizes[factor]
    return size


def human(n: float, units: tuple[str, ...], step: int) -> str:
    for unit in units:
        if abs(n) < step or unit == units[-1]:
            return f"{n:.1f} {unit}" if unit != units[0] else f"{int(n)} {unit}"
        n /= step
    return ""
