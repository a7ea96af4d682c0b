"""A train section's held-out test data and the confusion matrix a classifier counts (mixed into
``train_build._Builder``): the loader of a ``test other`` section, and the expression of one
batch's confusion matrix, which ``metrics f1`` and the test data's confusion file read.

The matrix is the support module's ``kit.confusion(targets, predicted, classes)``: the number of
classes is known here, from the scores' shape, and written into the script as a constant.
"""

from __future__ import annotations

from nndsl.check.script_names import distinct_rows
from nndsl.diagnostics.core import Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import fmt_shape

CLASSIFIERS = ("classes", "binary", "binary_logits")


class HeldOutRules:
    def held_out(self, data: ir.DataCode | None, val: ir.DataCode | None, metrics) -> dict:
        """The TrainIR's fields of the test data and the confusion matrix."""
        test = self.test_section(data, val)
        tested = test is not None or self.data.test > 0
        confusion = self.guard(lambda: self.confusion(metrics, tested))
        return {
            "test": test,
            "test_fraction": self.data.test,
            "confusion": confusion,
            "class_names": self.data.classes if confusion is not None else (),
        }

    def test_section(self, data: ir.DataCode | None, val: ir.DataCode | None):
        """The loader of the data section that ``test other`` names, when the data names one."""
        name = self.data.test_data
        if name is None:
            return None
        other = self.r._data(name, self.data.setting_spans["test"])
        test = other and self.guard(lambda: self.data_code(other, other.span))
        return test and distinct_rows(test, data, val)

    def confusion(self, metrics: tuple, tested: bool) -> ex.Expr | None:
        """One batch's confusion matrix of the loss's scores and targets, when ``metrics f1``
        reads it or the test data's is written: the highest score against the class id, or
        for a binary loss a score above 0 (logits) or 0.5 against a target above 0.5."""
        if self.task not in CLASSIFIERS or not ("f1" in metrics or tested):
            return None
        (scores, targets), kind = self.scored
        if kind is None:
            return None  # the scores had an error of their own, reported where they are
        if self.task != "classes":
            cut = ex.Lit(0) if self.task == "binary_logits" else ex.Lit(0.5)
            predicted, targets = ex.BinOp(">", scores, cut), ex.BinOp(">", targets, ex.Lit(0.5))
            return ex.call("kit.confusion", targets, predicted, ex.Lit(2))
        classes = kind.shape[1]
        if not isinstance(classes, int):
            if "f1" not in metrics:
                return None  # the test's metrics go without a confusion matrix
            self.error(
                "E0405",
                f"`f1` counts each class, but the scores {fmt_shape(kind.shape)} have "
                f"`{classes}` classes, a number known only when the script runs",
                self.setting("metrics").span,
                help="give the layer that scores the classes a number, e.g. `Linear(10)`",
            )
            raise Reported
        predicted = ex.method(scores, "argmax", ex.Lit(1))
        return ex.call("kit.confusion", targets, predicted, ex.Lit(classes))
