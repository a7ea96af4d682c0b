"""Tensor types and torch's dtype rules: the dtypes the language knows, type promotion, and
the result dtype of mixing tensors and Python numbers."""

from __future__ import annotations

from nndsl.util.frozen import frozen

FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")
INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")
DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool",)
DEFAULT_FLOAT = "float32"  # torch's default dtype: what Python floats and int true division give
_BITS = {"float64": 64, "float32": 32, "float16": 16, "bfloat16": 16}
_BITS.update({"int64": 64, "int32": 32, "int16": 16, "int8": 8, "uint8": 8})


@frozen
class Tensor:
    """The type of a tensor-valued expression."""

    shape: tuple
    dtype: str


Operand = Tensor | int | float  # a tensor or a Python number (bool included)


def category(dtype: str) -> int:
    """0 for bool, 1 for integers, 2 for floating point; promotion never goes down a category."""
    return 2 if dtype in FLOAT_DTYPES else 1 if dtype in INT_DTYPES else 0


def promote_types(a: str, b: str) -> str:
    """``torch.promote_types``: the smallest dtype both convert to.

    >>> promote_types("int64", "float16"), promote_types("uint8", "int8")
    ('float16', 'int16')
    """
    if a == b:
        return a
    if category(a) != category(b):
        return a if category(a) > category(b) else b
    if {a, b} == {"float16", "bfloat16"}:
        return "float32"
    if "uint8" in (a, b):
        other = b if a == "uint8" else a
        return "int16" if other == "int8" else other
    return a if _BITS[a] > _BITS[b] else b


def dtype_of(value: Operand) -> str:
    """The dtype torch gives a tensor or a Python number."""
    if isinstance(value, Tensor):
        return value.dtype
    if isinstance(value, bool):
        return "bool"
    return "int64" if isinstance(value, int) else DEFAULT_FLOAT


def result_type(*operands: Operand) -> str:
    """``torch.result_type``: tensors with dims outrank 0-D tensors, which outrank Python numbers,
    unless a lower-ranked group brings a higher category (an int tensor times 0.5 is float32).

    >>> result_type(Tensor((3,), "float16"), 2.5), result_type(Tensor((3,), "int32"), 2.5)
    ('float16', 'float32')
    """
    groups: list[str | None] = [None, None, None]
    for v in operands:
        g = 2 if not isinstance(v, Tensor) else 1 if not v.shape else 0
        groups[g] = dtype_of(v) if groups[g] is None else promote_types(groups[g], dtype_of(v))
    return _combine(groups[0], _combine(groups[1], groups[2]))


def _combine(higher: str | None, lower: str | None) -> str | None:
    if higher is None or lower is None:
        return higher or lower
    if category(higher) == 2:
        return higher
    if higher == "bool" or category(lower) == 2:
        return promote_types(higher, lower)
    return higher


def to_float(dtype: str) -> str:
    """The dtype of a floating-point function of a tensor: ints and bools give float32."""
    return dtype if category(dtype) == 2 else DEFAULT_FLOAT
