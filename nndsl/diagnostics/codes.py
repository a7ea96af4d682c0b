"""The one table of diagnostic codes: every code any stage reports, what it means, which stage
reports it and, for a retired code, the codes that replaced it.

``nndsl explain`` lists this table and reads each code's long explanation from
``nndsl/tools/explain/CODE.md``; docs/LANGUAGE.md shows it as its table of diagnostics. Codes are
grouped by number: E00xx syntax, E01xx names, arguments and limits, E03xx shapes and dtypes,
E04xx training and data, W0xxx warnings. A code means one thing; a retired code is never
reported again and never reused.
"""

from __future__ import annotations

from nndsl.util.frozen import frozen

STAGES = ("syntax", "names", "arguments", "limits", "shapes", "training", "data", "lint")


@frozen
class Code:
    code: str
    stage: str
    title: str  # the one-line meaning: the title of its explain file and its row in the docs
    replaced_by: tuple[str, ...] = ()  # a retired code: what a program now reports instead

    @property
    def retired(self) -> bool:
        return bool(self.replaced_by)

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"


CODES: dict[str, Code] = {
    c.code: c
    for c in (
        Code("E0001", "syntax", "unexpected token"),
        Code(
            "E0002",
            "syntax",
            "unexpected character (names are ASCII), or an invalid escape in a string",
        ),
        Code("E0003", "syntax", "unexpected end of file"),
        Code("E0004", "syntax", "the file is not UTF-8"),
        Code(
            "E0005",
            "syntax",
            "the program is nested too deeply to check (more than 50 nested brackets or 20 nested "
            "loops)",
        ),
        Code("E0101", "names", "unknown layer, block or function (with `did you mean`)"),
        Code("E0102", "arguments", "unknown argument"),
        Code("E0103", "arguments", "missing required argument"),
        Code(
            "E0104", "arguments", "too many positional arguments, or one after a keyword argument"
        ),
        Code("E0105", "arguments", "argument given twice"),
        Code("E0106", "arguments", "wrong type of value, or unknown dtype"),
        Code(
            "E0107",
            "arguments",
            "retired: value out of range, split into E0125 to E0129, E0310 and E0411 to E0414",
            replaced_by=(
                "E0125",
                "E0126",
                "E0127",
                "E0128",
                "E0129",
                "E0310",
                "E0411",
                "E0412",
                "E0413",
                "E0414",
            ),
        ),
        Code("E0108", "names", "undefined name"),
        Code("E0109", "names", "a name used twice in one body"),
        Code(
            "E0110",
            "names",
            "a name Python or the generated code reserves (also a model named like a name its "
            "training script uses, such as `Config`)",
        ),
        Code("E0111", "arguments", "repeat count out of range"),
        Code("E0112", "names", "a block that contains itself"),
        Code("E0113", "names", "a definition that repeats another or a built-in layer's name"),
        Code("E0114", "names", "a bare use of a layer that is not `shared`"),
        Code("E0115", "names", "a named or shared layer inside `repeat` or a `Sequential`"),
        Code(
            "E0116",
            "names",
            "a tuple-returning layer directly inside `repeat`, or as a child of a `Sequential`",
        ),
        Code(
            "E0117",
            "names",
            "a stack model with other than one input, or a forward without its inputs",
        ),
        Code(
            "E0118",
            "names",
            "a layer called with the wrong number of inputs (`Bilinear` in a stack), or one "
            "returning a tuple in a stack",
        ),
        Code("E0119", "names", "an anonymous layer in a body with a forward"),
        Code(
            "E0120",
            "names",
            "a call of something that is not a declared layer or a function, or a layer used "
            "without a call",
        ),
        Code(
            "E0121",
            "names",
            "an assignment that would hide a declared layer, parameter or constant",
        ),
        Code("E0123", "names", "a forward that returns nothing"),
        Code("E0124", "names", "a statement after `return`, or `return` inside a loop"),
        Code(
            "E0125",
            "arguments",
            "a number outside the range its argument or setting takes (a size below 1, a dropout "
            "above 1, an `lr` not above 0)",
        ),
        Code(
            "E0126",
            "arguments",
            "a value that is not one of the choices its argument or setting takes",
        ),
        Code("E0127", "arguments", "a number too large to be meant, written or computed"),
        Code(
            "E0128",
            "limits",
            "a program too large to check (more than 200,000 layers once blocks and repeats are "
            "expanded)",
        ),
        Code("E0129", "arguments", "a division by zero in a constant expression"),
        Code(
            "E0130",
            "names",
            "an `if` where it cannot choose layers: in a stack outside a `Sequential`, in a "
            "`repeat`, around another `if` or a `param` among declarations",
        ),
        Code(
            "E0131",
            "names",
            "a dotted name that is not a torch module (`torch.nn.Hardtanh`) where a body "
            "declares a layer, or not a torch function (`torch.flip`) in a forward",
        ),
        Code(
            "E0132",
            "shapes",
            "a torch module or function, or an imported class, without its declared output "
            "shape (`-> same`, `-> [64, 8, 8]`)",
        ),
        Code(
            "E0133",
            "shapes",
            "a declared output shape that is not `same` or a list of sizes, or one after a "
            "layer or function whose shape nndsl works out",
        ),
        Code(
            "E0134",
            "names",
            "an import of a file that is not a Python file beside the .nn, is missing, cannot "
            "be read or parsed, or would hide a module",
        ),
        Code(
            "E0135",
            "names",
            "an imported class that its file does not define, or whose name is taken",
        ),
        Code("E0301", "shapes", "an explicit size that disagrees with the input"),
        Code("E0302", "shapes", "an input of the wrong rank"),
        Code("E0303", "shapes", "any other shape a layer, operator or function cannot take"),
        Code(
            "E0304",
            "shapes",
            "a shared layer (or a layer called twice) used at incompatible sizes; a wrong "
            "recurrent state",
        ),
        Code("E0305", "shapes", "unpacking a value into the wrong number of names"),
        Code(
            "E0306",
            "shapes",
            "the wrong dtype for a layer; returning something that is not a tensor",
        ),
        Code("E0307", "shapes", "a loop that changes the shape or dtype of a value"),
        Code("E0308", "shapes", "a `while` condition that is not one true/false value"),
        Code("E0309", "shapes", "an optional input used where it may be none"),
        Code("E0310", "shapes", "an input shape with the batch `B` twice"),
        Code(
            "E0401",
            "training",
            "an unknown model, data section, data or train setting, loss, optimizer, scheduler, "
            "init function or metric",
        ),
        Code(
            "E0402",
            "data",
            "a data file that is missing, unreadable or malformed (a text or empty cell, a ragged "
            "CSV row), or that lacks the column or array asked for",
        ),
        Code(
            "E0403",
            "data",
            "rows of different lengths in a list, data tensors whose numbers of samples disagree, "
            "a single number as data, or a sequence of text fed as samples",
        ),
        Code(
            "E0404",
            "training",
            "data without a model input or `y`, samples of a shape the model does not take, float "
            "data for an integer input, `predict` inputs of the wrong shape or dtype, `generate` "
            "for data without text or a model that does not take and score characters",
        ),
        Code(
            "E0405",
            "training",
            "a loss that does not fit the model's output or the targets, or a metric that does not"
            " apply to the loss",
        ),
        Code("E0406", "training", "class ids or binary targets out of range"),
        Code("E0407", "training", "a selector that matches no parameter"),
        Code("E0408", "training", "a parameter in two optimizer groups"),
        Code(
            "E0409",
            "data",
            "what a streamed data section cannot compute batch by batch: a CSV or `.npz` file, an "
            "expression that creates or mixes samples",
        ),
        Code("E0410", "training", "a second train section for one model"),
        Code(
            "E0411", "training", "a `save` name that is not a plain file name ending in .pt or .pth"
        ),
        Code(
            "E0412",
            "data",
            "more numbers than a data section may write inline (10,000) or generate (100,000,000)",
        ),
        Code(
            "E0413",
            "training",
            "settings or arguments that exclude each other: `split` with `validation`, `test` "
            "naming the data itself or its validation data, `nesterov` without momentum or with "
            "dampening, `fused` for one optimizer group",
        ),
        Code(
            "E0414",
            "data",
            "generator arguments that make no tensor: an `arange` with step 0 or no values, a "
            "`randint` whose high is not above its low or lies beyond int64, bounds that are not "
            "finite",
        ),
        Code("E0415", "training", "an init function that needs more dims than the tensor has"),
        Code(
            "E0416",
            "training",
            "a train section without a setting it needs: a `loss`, or `epochs` for a `cosine` "
            "schedule over epochs",
        ),
        Code("E0417", "training", "a trained model without one trainable parameter"),
        Code(
            "E0418",
            "data",
            "training data that leaves no batch: `split` and `test` hold out every sample, or "
            "`drop_last` drops the only batch",
        ),
        Code(
            "E0419",
            "training",
            "`bce` on a model output not known to lie in [0, 1] (probabilities)",
        ),
        Code(
            "E0420",
            "training",
            "a loss expression that is not one number, or that is not built from losses, the "
            "model's outputs, the data and numbers",
        ),
        Code(
            "E0421",
            "data",
            "class names that are not distinct strings, or whose number differs from the "
            "classes the model scores; a text file with characters the data's vocabulary lacks, "
            "or a model that scores another number of characters than the vocabulary holds",
        ),
        Code(
            "E0422",
            "training",
            "`predict` rows that the steps making the model's input cannot take one by one: a "
            "step that mixes or picks the samples",
        ),
        Code(
            "E0423",
            "training",
            "a train section of steps that is not one: several models without `step`s, a "
            "setting that belongs in a step or that steps do not take, data with `test`, a step "
            "for a model the section does not train",
        ),
        Code(
            "E0424",
            "training",
            "`init from` weights that do not fit the model: a file that cannot be read, keys "
            "the model lacks, tensors of another shape, or tensors it lacks without `partial`",
        ),
        Code(
            "E0425",
            "training",
            "a batch of one sample for a batch norm that then sees one value per channel "
            "(`batch 1`, or a last batch of one), or an instance norm over one position",
        ),
        Code(
            "E0426",
            "training",
            "an `Embedding` read at ids beyond its rows: ids the data holds, or positions such as "
            "`arange(T)` once the data fixes `T`",
        ),
        Code("W0101", "names", "a shared or declared layer never used"),
        Code("W0102", "names", "a block or layer definition never used"),
        Code("W0103", "names", "a value computed in a forward and never used"),
        Code("W0104", "lint", "`Dropout` as the last layer of a model"),
        Code(
            "W0105",
            "lint",
            "a bias in a `Linear` or convolution that the `BatchNorm` right after it cancels",
        ),
        Code("W0401", "training", "an init rule whose every tensor a later rule initialises again"),
        Code("W0402", "data", "a data section that no train section uses"),
        Code(
            "W0403",
            "lint",
            "a last layer the loss applies itself (`Softmax` or `LogSoftmax` before "
            "`cross_entropy`, `Sigmoid` before `bce_with_logits`), or an output already in "
            "[0, 1] before either",
        ),
        Code(
            "W0404",
            "lint",
            "an activation after the output layer of a model trained with a regression loss "
            "(`mse`, `l1`, `smooth_l1`, `huber`)",
        ),
        Code("W0405", "lint", "validation data that is the training data again"),
        Code(
            "W0406",
            "lint",
            "`nll` on a model output not known to be log-probabilities (at most 0)",
        ),
        Code("W0407", "lint", "outputs of a trained model that the loss does not train"),
        Code(
            "W0408",
            "lint",
            "a data tensor that neither the model, nor the loss, nor another tensor uses",
        ),
        Code("W0409", "training", "a model of a train section of steps that no step trains"),
    )
}


def live() -> dict[str, Code]:
    """The codes a program may be reported with today: every code that is not retired."""
    return {k: c for k, c in CODES.items() if not c.retired}


def known(code: str) -> bool:
    """Whether ``code`` may be reported: in the table and not retired."""
    c = CODES.get(code)
    return c is not None and not c.retired
