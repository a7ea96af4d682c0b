"""A training section's data against its model and loss: each model input fed from a data
tensor in the dtype the model takes, the targets checked against the loss and the output, and
the data section as the loader the training script runs (:class:`~nndsl.ir.nodes.DataCode`)."""

from __future__ import annotations

from nndsl.check.data import DataInfo
from nndsl.check.memory import weights_dtype
from nndsl.check.script_names import row_class
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.ir.dtypes import FLOAT_DTYPES, Tensor
from nndsl.ir.shapes import fmt_shape

TARGET = "y"  # the data tensor that holds the targets


class DataRules:
    """The data half of a train section's builder (mixed into ``train_build._Builder``)."""

    def model_feeds(self) -> tuple:
        """The model inputs the data feeds by name."""
        return self.model.inputs

    def data_code(self, data: DataInfo, span, targets: bool = True) -> ir.DataCode:
        """The loader of ``data``: the model's inputs and (unless not ``targets``) what the
        loss reads."""
        returns = []
        for inp in self.model_feeds():
            if inp.optional:
                continue
            returns.append(
                (inp.name, self.feed(data, inp.name, Tensor(inp.shape, inp.dtype), span))
            )
        if not targets:
            return self._code(data, returns)
        feeds = self.loss_feeds  # a loss expression: what it reads
        if feeds is not None:
            for name, dtype in feeds.items():
                if name in data.failed:
                    raise Reported
                returns.append((name, self.loss_feed(data, name, dtype)))
        elif TARGET in data.failed:
            raise Reported  # its error is reported
        if feeds is None and TARGET not in data.tensors:
            self.error(
                "E0404",
                f"data `{data.name}` has no targets `{TARGET}`",
                data.span,
                help=f"define `{TARGET} = ...` in data `{data.name}`: one target per sample",
            )
            raise Reported
        if feeds is None:
            returns.append((TARGET, self.target_code(data)))
        return self._code(data, returns)

    def _code(self, data: DataInfo, returns: list) -> ir.DataCode:
        if data.samples is None:
            raise Reported
        plan, stream = data.plan, data.plan is not None
        return ir.DataCode(
            data.name,
            tuple(plan.lines if stream else data.body),
            tuple(returns),
            data.samples,
            data.random and not stream,
            data.seed,
            tuple(plan.sources) if stream else (),
            stream,
            row_class(data.name) if stream else "",
        )

    def loss_feed(self, data: DataInfo, name: str, dtype: str | None) -> tr.Feed:
        """A data tensor a loss expression reads, in the dtype its loss takes: class ids as
        int64, values compared with the outputs in the dtype of the weights."""
        if name not in data.tensors:
            self.error(
                "E0404",
                f"data `{data.name}` has no tensor `{name}`, which the loss reads",
                data.span,
                help=f"define `{name} = ...` in data `{data.name}`",
            )
            raise Reported
        have = data.tensors[name].dtype
        if dtype == "float32":
            dtype = weights_dtype(self.model) or "float32"
        return tr.Feed(name, None if dtype in (None, have) else dtype)

    def target_code(self, data: DataInfo) -> tr.Feed:
        """Targets as the loss takes them: class ids as int64, everything else in the dtype of
        the weights (float32 unless the inputs are declared in another)."""
        y = data.tensors[TARGET]
        dtype = "int64" if self.task == "classes" else weights_dtype(self.model) or "float32"
        return tr.Feed(TARGET, None if y.dtype == dtype else dtype)

    def feed(self, data: DataInfo, name: str, want: Tensor, span) -> tr.Feed:
        """Data tensor ``name`` as the model input ``want`` takes it."""
        have = data.tensors.get(name)
        if name in data.failed:
            raise Reported  # its error is reported
        if have is None:
            self.error(
                "E0404",
                f"data `{data.name}` has no tensor `{name}` for the input of `{self.model.name}`",
                data.span,
                help=f"define `{name} = ...` in data `{data.name}`",
            )
            raise Reported
        where = data.spans[name]
        rest_have, rest_want = have.shape[1:], want.shape[1:]
        if len(rest_have) != len(rest_want) or any(
            isinstance(w, int) and w != h for h, w in zip(rest_have, rest_want)
        ):
            self.error(
                "E0404",
                f"`{name}` holds samples of shape {fmt_shape(rest_have)}, "
                f"but `{self.model.name}` takes {fmt_shape(rest_want)}",
                where,
                help="reshape the data, e.g. `x = reshape(table[:, 0:64], -1, 1, 8, 8)`",
            )
            raise Reported
        if want.dtype in FLOAT_DTYPES:
            if have.dtype == "bool" or have.dtype != want.dtype:
                return tr.Feed(name, want.dtype)
            return tr.Feed(name)
        if have.dtype != want.dtype:
            if have.dtype in FLOAT_DTYPES:
                self.error(
                    "E0404",
                    f"`{self.model.name}` takes {want.dtype} (e.g. token ids), "
                    f"but `{name}` is {have.dtype}",
                    where,
                    help="give integer data for this input",
                )
                raise Reported
            return tr.Feed(name, want.dtype)
        return tr.Feed(name)

    def target(self, task: str, out, span) -> None:
        """The targets fit the loss and the model's output."""
        y = self.data.tensors.get(TARGET)
        if y is None:
            return  # reported with the data
        yspan = self.data.spans[TARGET]
        oshape = out.shape
        labels = (Label(span, f"the model returns {fmt_shape(oshape)}"),)
        if task == "classes":
            self.class_ids(y, yspan, oshape, span, labels)
            return
        if (
            y.shape[1:] != tuple(oshape[1:])
            and not all(not isinstance(o, int) or o == h for o, h in zip(oshape[1:], y.shape[1:]))
            or len(y.shape) != len(oshape)
        ):
            self.error(
                "E0405",
                f"targets of shape {fmt_shape(y.shape)} "
                f"do not match the model's output {fmt_shape(oshape)}",
                yspan,
                labels=labels,
                help="give targets one row per sample shaped like the output, "
                "e.g. `y = reshape(y, -1, 1)`",
            )
            raise Reported
        if task in ("binary", "binary_logits"):
            rng = self.data.ranges.get(TARGET)
            if rng is not None and (rng[0] < 0 or rng[1] > 1):
                self.error(
                    "E0406",
                    f"binary targets must lie in 0 .. 1, but `{TARGET}` holds {rng[0]} .. {rng[1]}",
                    yspan,
                )
                raise Reported

    def class_ids(self, y, yspan, oshape: tuple, span, labels: tuple) -> None:
        """Class-id targets fit class scores (B, C, ...): integers, one per sample (and per
        position), within the model's classes."""
        if len(oshape) < 2:
            self.error(
                "E0405",
                f"{self.model.name} returns {fmt_shape(oshape)}, "
                "but this loss wants class scores (B, C)",
                span,
                help="end the model with a layer of one output per class, e.g. `Linear(10)`",
            )
            raise Reported
        if y.dtype in FLOAT_DTYPES:
            self.error(
                "E0405",
                f"this loss wants integer class ids as targets, but `{TARGET}` is {y.dtype}",
                yspan,
                labels=labels,
                help="class ids are whole numbers 0 .. C - 1",
            )
            raise Reported
        want = (oshape[0], *oshape[2:])
        if len(y.shape) != len(want) or any(
            isinstance(w, int) and w != h for h, w in zip(y.shape[1:], want[1:])
        ):
            self.error(
                "E0405",
                f"class-id targets must have shape {fmt_shape(('N', *want[1:]))}, "
                f"but `{TARGET}` has {fmt_shape(y.shape)}",
                yspan,
                labels=labels,
                help="one class id per sample: a 1-D tensor",
            )
            raise Reported
        classes = oshape[1]
        rng = self.data.ranges.get(TARGET)
        if rng is not None and isinstance(classes, int) and (rng[0] < 0 or rng[1] >= classes):
            self.error(
                "E0406",
                f"targets hold class ids {rng[0]} .. {rng[1]}, "
                f"but the model scores {classes} classes (0 .. {classes - 1})",
                yspan,
                labels=labels,
            )
            raise Reported
