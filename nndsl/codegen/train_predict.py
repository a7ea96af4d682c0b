"""The ``predict`` part of a training script: the rows a train section's ``predict`` lists,
made into the model's input as the data section makes it, and each output shown."""

from __future__ import annotations

from nndsl.codegen.expr import statements
from nndsl.codegen.text import WIDTH, packed
from nndsl.codegen.train_values import feed_code, value_code
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr


def predict_view(t: ir.TrainIR) -> dict:
    p = t.predict
    if p is None:
        return {"predict_rows": "", "predict_dtype": "", "predict_input": []}
    if p.data is not None:
        name = p.data.name
        return {
            "predict_signature": "run: kit.Run, cfg: Config",
            "predict_rows_line": f'x = load_{name}(cfg)["{t.inputs[0]}"]',
            "predict_input": [],
            "predict_doc": _PREDICT_DOCS[p.kind].replace(
                "the inputs of the train section's `predict`.",
                f"data `{name}` (predictions.csv).",
            ),
            "predict_lines": _data_lines(t, p),
        }
    return {
        "predict_signature": "device: torch.device",
        "predict_rows": value_code(p.rows),
        # a long list of rows (the 64 pixels of an image) packed, not a number per line
        "predict_rows_line": packed(f"rows = {value_code(p.rows)}", 4, WIDTH - 4),
        "predict_dtype": f"torch.{p.dtype}",
        "predict_input": _predict_input(t, p),
        "predict_doc": _PREDICT_DOCS[p.kind],
        "predict_lines": _predict_lines(t, p),
    }


_PREDICT_DOCS = {
    "values": "The model's outputs for the inputs of the train section's `predict`.",
    "softmax": "The class probabilities for the inputs of the train section's `predict`.",
    "exp": "The class probabilities for the inputs of the train section's `predict`.",
    "sigmoid": "The probabilities of 1 for the inputs of the train section's `predict`.",
    "probability": "The probabilities of 1 for the inputs of the train section's `predict`.",
}

# the model's outputs as the shown values, by the kind of output
_SHOWN = {
    "values": "",
    "softmax": ".softmax(1)",
    "exp": ".exp()",
    "sigmoid": ".sigmoid()",
    "probability": "",
}


def _predict_input(t: ir.TrainIR, p: tr.Predict) -> list[str]:
    """``predict_input``, when the rows go through the data section's steps: its lines."""
    if not p.steps:
        return []
    rows = f"rows of `{p.source}`" if p.source else "`predict`'s rows"
    doc = f"The input of `{t.model}` for {rows}, as data `{t.data.name}` makes `{p.feed.tensor}`."
    made = ex.Assign(
        ex.Name(p.name),
        ex.call("torch.tensor", ex.Name(p.param), dtype=ex.dotted(f"torch.{p.dtype}")),
        ex.Shown((len(p.rows.items), *p.shape)),
    )
    lines = [f"def predict_input({p.param}: list) -> torch.Tensor:", f'    """{doc}"""']
    lines += ["    " + line for line in statements((made, *p.steps))]
    return lines + [f"    return {feed_code(p.feed)}"]


def _predict_lines(t: ir.TrainIR, p: tr.Predict) -> list[str]:
    """The body of ``predict`` after its rows: the outputs, each row's printed line."""
    if p.steps:
        given = "predict_input(rows).to(device)"
    else:
        given = f"torch.tensor(rows, dtype=torch.{p.dtype}, device=device)"
    outputs = f"model({given}){t.output}"
    if p.kind == "values":
        return [
            f"outputs = {outputs}",
            "for x, y in zip(rows, outputs.tolist()):",
            '    print(f"predict {x} -> {kit.rounded(y)}")',
            "return outputs",
        ]
    named = bool(p.classes) and p.single
    lines = [f"classes = {value_code(tr.Seq(p.classes, 'list'))}"] if named else []
    if p.kind in ("softmax", "exp"):
        lines += [f"probs = {outputs}{_SHOWN[p.kind]}", "best, ids = probs.max(1)"]
        lines.append("for x, k, p in zip(rows, ids.tolist(), best.tolist()):")
        if not p.single:
            shown = "classes {k} (probabilities {kit.rounded(p)})"
        else:
            shown = ("{classes[k]}" if named else "class {k}") + " (probability {p:.3f})"
    elif p.single:
        lines.append(f"probs = {outputs}{_SHOWN[p.kind]}.reshape(-1)")
        lines.append("for x, p in zip(rows, probs.tolist()):")
        which = "{classes[p > 0.5]}" if named else "class {int(p > 0.5)}"
        shown = "probability {p:.3f}, " + which
    else:
        lines.append(f"probs = {outputs}{_SHOWN[p.kind]}")
        lines.append("for x, p, k in zip(rows, probs.tolist(), (probs > 0.5).long().tolist()):")
        shown = "probabilities {kit.rounded(p)}, classes {k}"
    return lines + [f'    print(f"predict {{x}} -> {shown}")', "return probs"]


def _data_lines(t: ir.TrainIR, p: tr.Predict) -> list[str]:
    """The body of ``predict`` for ``predict other``: the outputs of every sample, a batch at a
    time, each sample's row of predictions.csv."""
    named = bool(p.classes) and p.single
    lines = [f"classes = {value_code(tr.Seq(p.classes, 'list'))}"] if named else []
    lines.append(f"batches = [model(b.to(run.device)){t.output} for b in x.split(cfg.batch_size)]")
    if p.kind == "values":
        return lines + [
            "outputs = torch.cat(batches)",
            'names = [f"output_{j}" for j in range(outputs[0].numel())]',
            "rows = [[i, *y] for i, y in enumerate(outputs.flatten(1).tolist())]",
            'run.predictions(["sample", *names], rows)',
            "return outputs",
        ]
    if p.kind in ("softmax", "exp"):
        lines += [f"probs = torch.cat(batches){_SHOWN[p.kind]}", "best, ids = probs.max(1)"]
        lines.append("found = zip(ids.tolist(), best.tolist())")
        header = '"class", "probability"' if p.single else '"classes", "probabilities"'
        row = "[i, classes[k], p]" if named else "[i, k, p]"
        lines.append(f"rows = [{row} for i, (k, p) in enumerate(found)]")
    else:
        flat = ".reshape(-1)" if p.single else ""
        lines.append(f"probs = torch.cat(batches){_SHOWN[p.kind]}{flat}")
        lines.append("found = zip(probs.tolist(), (probs > 0.5).long().tolist())")
        header = '"probability", "class"' if p.single else '"probabilities", "classes"'
        row = "[i, p, classes[k]]" if named else "[i, p, k]"
        lines.append(f"rows = [{row} for i, (p, k) in enumerate(found)]")
    return lines + [f'run.predictions(["sample", {header}], rows)', "return probs"]
