"""The generators of a data section (``linspace``, ``arange``, ``randint``, ``randn``, ``rand``,
``zeros``, ``ones``): their arguments checked as numbers, the tensor they make bounded, and the
range of the values they draw."""

from __future__ import annotations

import math

from nndsl.ir import expr as ex
from nndsl.ir.shapes import MAX_INT
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate

MAX_GENERATED = 100_000_000  # elements one generated tensor may hold
_G = ex.Name("g")


def _lits(values) -> tuple:
    return tuple(ex.Lit(v) for v in values)


class GeneratorRules:
    """Data generators (mixed into :class:`nndsl.check.data.DataRules`)."""

    def _numbers(self, args, what: str) -> list:
        out = []
        for a in args:
            self.written(a.value, f"each argument of `{what}`")
            v = evaluate(a.value, {}).py
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise EvalError(f"`{what}` takes numbers here", a.value.span, "E0106")
            if not math.isfinite(v):
                raise EvalError(f"`{what}` takes finite numbers, not {v}", a.value.span, "E0414")
            out.append(v)
        return out

    def _generate(self, name, e, args, kwargs, info) -> tuple[Value, tuple | None]:
        for k, a in kwargs.items():
            raise EvalError(
                f"`{name}` takes its arguments by position, not `{k}=`", a.span, "E0102"
            )
        nums = self._numbers(args, name)
        made = {"linspace": self._linspace, "arange": self._arange, "randint": self._randint}
        return made.get(name, self._filled)(name, nums, e, info)

    def _linspace(self, name, nums, e, info) -> tuple[Value, tuple | None]:
        if len(nums) != 3 or not isinstance(nums[2], int) or nums[2] < 1:
            raise EvalError("write `linspace(start, end, steps)` with steps >= 1", e.span, "E0106")
        a, b, n = nums
        self._dims([n], e)
        made = ex.call("torch.linspace", *_lits((a, b, n)))
        return Value(Tensor((n,), "float32"), made), (min(a, b), max(a, b))

    def _arange(self, name, nums, e, info) -> tuple[Value, tuple | None]:
        if not 1 <= len(nums) <= 3:
            raise EvalError(
                "write `arange(end)`, `arange(start, end)` or `arange(start, end, step)`",
                e.span,
                "E0106",
            )
        start, end, step = ([0] + nums + [1])[:3] if len(nums) == 1 else (nums + [1])[:3]
        if step == 0:
            raise EvalError("`arange` needs a step other than 0", e.span, "E0414")
        n = max(0, math.ceil((end - start) / step))
        if n > MAX_GENERATED:
            self._dims([n], e)
        if n < 1:
            raise EvalError(f"`arange` from {start} to {end} by {step} is empty", e.span, "E0414")
        ints = all(isinstance(x, int) for x in (start, end, step))
        made = ex.call("torch.arange", *_lits(nums))
        last = start + (n - 1) * step
        return Value(Tensor((n,), "int64" if ints else "float32"), made), (
            min(start, last),
            max(start, last),
        )

    def _randint(self, name, nums, e, info) -> tuple[Value, tuple | None]:
        if len(nums) < 3 or not all(isinstance(x, int) for x in nums):
            raise EvalError(
                "write `randint(low, high, size, ...)`: values in low .. high - 1",
                e.span,
                "E0106",
            )
        low, high, *dims = nums
        if high <= low:
            raise EvalError("`randint` needs high > low", e.span, "E0414")
        if low < -MAX_INT - 1 or high > MAX_INT:
            raise EvalError(
                "`randint` draws int64 values: low and high lie within ±2**63", e.span, "E0414"
            )
        self._dims(dims, e)
        info.random = True
        made = ex.call("torch.randint", *_lits((low, high)), ex.Tuple(_lits(dims)), generator=_G)
        return Value(Tensor(tuple(dims), "int64"), made), (low, high - 1)

    def _filled(self, name, nums, e, info) -> tuple[Value, tuple | None]:
        """zeros, ones, rand and randn of the sizes given."""
        dims = nums
        if not dims or not all(isinstance(x, int) for x in dims):
            raise EvalError(f"write `{name}(size, ...)` with integer sizes", e.span, "E0106")
        self._dims(dims, e)
        random = name in ("randn", "rand")
        info.random = info.random or random
        made = ex.Call(ex.dotted(f"torch.{name}"), _lits(dims), (("generator", _G),) * random)
        # rand is in [0, 1): its largest float32 is 1 - 2**-24, so `long(rand(...) * 5)` is 0 .. 4
        rng = {"zeros": (0, 0), "ones": (1, 1), "rand": (0, 1 - 2**-24)}.get(name)
        return Value(Tensor(tuple(dims), "float32"), made), rng

    def _dims(self, dims, e) -> None:
        if any(d < 1 for d in dims):
            raise EvalError("sizes must be at least 1", e.span, "E0125")
        if math.prod(dims) > MAX_GENERATED:
            raise EvalError(
                f"a generated tensor holds at most {MAX_GENERATED:,} values", e.span, "E0412"
            )
