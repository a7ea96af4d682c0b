"""What the language server answers (nndsl.tools.lsp_features), without the protocol; the
protocol itself is tested end to end in test_lsp.py."""

from __future__ import annotations

from nndsl.tools.lsp_features import Document, completions, definition, hover, quick_fixes

BLOCKS = """block Dense(width, p=0.1) {
    fc = Linear(width)
    GELU()
    Dropout(p)
}

model Deep(x: [12]) {
    a = Dense(16)
    b = Dense(4)
    forward {
        return b(a(x))
    }
}

data rows {
    x = randn(8, 12)
    y = randn(8, 4)
}

train Deep on rows {
    loss mse
    optimizer adam()
    epochs 1
}
"""
LINES = BLOCKS.splitlines()


def _line(text: str) -> int:
    return next(i for i, x in enumerate(LINES) if x.strip().startswith(text))


def test_hover_in_a_block_shows_each_use():
    shown, _ = hover(Document(BLOCKS), _line("fc = Linear"), 10)
    assert "(B, 16) float32" in shown and "(B, 4) float32" in shown
    assert "208 parameters (`a.fc`), 192 MACs per sample" in shown  # 12 * 16
    assert "68 parameters (`b.fc`), 64 MACs per sample" in shown  # 16 * 4


def test_hover_names_the_sizes_macs_depend_on():
    text = "model Seq(x: [T, 8]) {\n    fc = Linear(4)\n}\n"
    shown, _ = hover(Document(text), 1, 10)
    assert "MACs depend on T" in shown
    shown, _ = hover(Document(text), 0, 7)
    assert "(layers with sizes T left out)" in shown


def test_hover_on_a_call_in_a_forward_names_the_layer():
    line = _line("return b(a(x))")
    shown, where = hover(Document(BLOCKS), line, LINES[line].index("a(x)"))
    macs = 12 * 16  # the Linear(16) inside, on 12 features; GELU and Dropout count none
    assert (
        shown == f"**block Dense** `a` → `(B, 16)`\n\n208 parameters (`a`), {macs} MACs per sample"
    )
    assert where[0] == where[2] == line


def test_no_hover_while_the_program_has_errors():
    assert hover(Document(BLOCKS.replace("Linear(width)", "Linear(width, 3, 4)")), 1, 10) is None


def test_definitions():
    doc = Document(BLOCKS)
    line = _line("return b(a(x))")
    assert definition(doc, line, LINES[line].index("a(x)")) == (7, 4, 7, 5)
    assert definition(doc, _line("a = Dense"), 9)[:2] == (0, 6)  # the block
    assert definition(doc, _line("Dropout(p)"), 12)[0] == 0  # the parameter p
    assert definition(doc, _line("train Deep"), 15)[:2] == (_line("data rows"), 5)
    assert definition(doc, _line("fc = Linear"), 10) is None  # a built-in


def test_completions_by_context():
    doc = Document(BLOCKS)

    def labels(line: int, character: int) -> set[str]:
        return {i.label for i in completions(doc, line, character)}

    assert {"Linear", "Dense", "Deep"} <= labels(_line("GELU()"), 4)
    assert "p=" in labels(_line("a = Dense"), 14)
    assert {"adam", "sgd"} <= labels(_line("optimizer adam"), 14)
    assert {"lr=", "weight_decay="} <= labels(_line("optimizer adam"), 19)
    assert {"csv", "npy", "randn"} <= labels(_line("x = randn"), 8)
    assert {"batch", "shuffle"} <= labels(_line("y = randn"), 4)


def test_quick_fix_only_where_help_names_a_replacement():
    doc = Document(BLOCKS.replace("GELU()", "Gelu()"))
    (fix,) = quick_fixes(doc, 0, len(LINES))
    assert fix[:3] == ("Replace with `GELU`", (2, 4, 2, 8), "GELU")
    assert quick_fixes(Document(BLOCKS.replace("Linear(width)", "Linear(width, 3, 4)")), 0, 9) == []


def test_completion_of_a_declared_layers_call_keywords():
    text = (
        "model D(tgt: [T, 8], memory: [S, 8]) {\n    dec = TransformerDecoderLayer(2)\n"
        "    forward {\n        return dec(tgt, memory, tgt_mask=none, \n    }\n}\n"
    )
    line = text.splitlines()[3]
    found = {i.label for i in completions(Document(text), 3, len(line))}
    assert {"memory_mask=", "tgt_is_causal="} <= found and "tgt_mask=" not in found
