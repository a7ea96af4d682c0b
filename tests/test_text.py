"""Text data and `generate`: a text file read as character ids in its vocabulary, the same in
the checker and in the script; `windows` cutting it into samples; `generate` checked against
the model and the data; and examples/gpt.nn, which learns the bundled sonnets well below the
characters' own entropy and then writes characters of their vocabulary."""

from __future__ import annotations

import ast
import collections
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from compiled import ROOT

import nndsl
from nndsl.codegen.formatting import black_format
from nndsl.codegen.train_text import vocabulary_lines
from nndsl.compiler import analyze, generate_train
from nndsl.datafiles import text as datafiles_text
from nndsl.datafiles.inspect import DataFileError, clear_cache, inspect_text

SONNETS = ROOT / "examples" / "data" / "sonnets.txt"
WORDS = "hello world\n" * 40  # 480 characters of 9: "\n dehlorw"
MODEL = """model Chars(idx: [T] long) {
    scores = Embedding(9, 9)
    forward {
        return scores(idx)
    }
}
"""
LOSS = "    loss cross_entropy(flatten(out, 0, 1), flatten(y))\n"
DATA = 'ids = text("words.txt")\n    idx = windows(ids[0:-1], 16)\n    y = windows(ids[1:], 16)\n'


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "words.txt").write_text(WORDS, encoding="utf-8")
    return tmp_path


def program(data: str = DATA, train: str = "", model: str = MODEL) -> str:
    return f"{model}\ndata d {{\n    {data}}}\n\ntrain Chars on d {{\n{LOSS}{train}}}\n"


def diagnostics(folder: Path, source: str) -> list:
    result = analyze(source, folder)
    assert not result.ok
    return [d for d in result.diagnostics if d.severity == "error"]


def the_error(folder: Path, source: str):
    """The one error of ``source``, with the text its span covers."""
    (found,) = diagnostics(folder, source)
    line = source.splitlines()[found.span.line - 1]
    return found, line[found.span.column - 1 : found.span.end_column - 1]


def loader(folder: Path, source: str):
    """The checked program's training script, its data loader run as the script runs it."""
    result = analyze(source, folder)
    assert result.ok, [d.message for d in result.diagnostics]
    code = generate_train(result.program.trains[0], "t.nn", "model")
    tree = ast.parse(code)
    keep = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    keep += [n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "VOCABULARY"]
    keep += [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != "main"]
    scope = {"torch": torch, "Path": Path, "__file__": str(folder / "train.py")}
    exec(compile(ast.Module(keep, []), "train.py", "exec"), scope)
    return scope, code


# ---- the file -----------------------------------------------------------------------------------


def test_a_text_is_its_characters_and_their_sorted_vocabulary(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("\ufeffba\r\nc\rb é".encode())
    found = inspect_text(path)
    assert (found.chars, found.vocabulary, found.first) == (8, "\n abcé", "b")
    assert found.array.shape == (8,) and (found.array.min, found.array.max) == (0, 5)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "t.txt is empty"),
        ("\ufeff".encode(), "t.txt is empty"),
        (b"ab\ncd\xff\n", "t.txt is not UTF-8 text: byte 0xff on line 2"),
    ],
)
def test_a_file_that_is_no_text_is_refused(tmp_path, content, message):
    (tmp_path / "t.txt").write_bytes(content)
    with pytest.raises(DataFileError) as info:
        inspect_text("t.txt", tmp_path)
    assert info.value.message.startswith(message)


def test_a_text_too_large_to_read_whole_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles_text, "MAX_TEXT", 10)
    (tmp_path / "t.txt").write_text("x" * 11)
    with pytest.raises(DataFileError, match="more than the 10 a text file may"):
        inspect_text("t.txt", tmp_path)


def test_the_script_reads_the_ids_the_checker_described(tmp_path):
    """Line ends and a byte-order mark as the checker read them; each window as `unfold` cuts
    it, a view of the text, and the targets one character later."""
    text = "\ufeff" + "ab\r\ncd\rab e\n" * 20
    (tmp_path / "t.txt").write_bytes(text.encode())
    source = program('ids = text("t.txt")\n    idx = windows(ids[0:-1], 8, step=4)\n'
                     "    y = windows(ids[1:], 8, step=4)\n", model=MODEL.replace("9, 9", "7, 7"))  # fmt: skip
    scope, code = loader(tmp_path, source)
    read = text[1:].replace("\r\n", "\n").replace("\r", "\n")
    assert scope["VOCABULARY"] == "".join(sorted(set(read)))
    assert 'read_text(data_dir / "t.txt", VOCABULARY)' in code
    assert "idx = ids[0:-1].unfold(0, 8, 4)  # (53, 8)" in code
    data = scope["load_d"](SimpleNamespace(data_dir="."))
    ids = torch.tensor([scope["VOCABULARY"].index(c) for c in read])
    assert data["idx"].shape == data["y"].shape == (53, 8) and data["idx"].dtype == torch.int64
    assert torch.equal(data["idx"][3], ids[12:20]) and torch.equal(data["y"][3], ids[13:21])
    assert data["idx"].untyped_storage().data_ptr() == data["y"].untyped_storage().data_ptr()


def test_a_file_changed_after_compiling_stops_the_script_in_one_line(folder):
    scope, _ = loader(folder, program())
    (folder / "words.txt").write_text(WORDS + "!?", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"words.txt has characters VOCABULARY lacks: '!\?'"):
        scope["load_d"](SimpleNamespace(data_dir="."))


def test_a_long_vocabulary_is_written_in_parts():
    vocabulary = "".join(chr(c) for c in range(0x100, 0x1A0))
    lines = vocabulary_lines(vocabulary)
    assert lines[0] == "VOCABULARY = (" and lines[-1] == ")" and len(lines) == 5
    assert all(len(line) <= 88 for line in lines)
    assert "".join(ast.literal_eval(line.strip()) for line in lines[1:-1]) == vocabulary
    assert vocabulary_lines("ab\n'") == ['VOCABULARY = "ab\\n\'"']


# ---- the data section ---------------------------------------------------------------------------


def test_a_sequence_is_not_samples_until_windows_cut_it(folder):
    result = analyze(program(), folder)
    assert result.ok, [d.message for d in result.diagnostics]
    (table,) = result.program.datas
    assert table.samples == 29 and table.tensors[0] == ("ids", (480,), "int64")
    found, at = the_error(folder, program('ids = text("words.txt")\n    idx = windows(ids, 16)\n'
                                          "    y = ids\n"))  # fmt: skip
    assert (found.code, at) == ("E0403", "y") and "a sequence of 480 characters" in found.message
    assert "windows(y, 64)" in found.help


@pytest.mark.parametrize(
    "call, code, at, message",
    [
        ("windows(ids, 481)", "E0125", "481", "a window of 481 is longer than the sequence"),
        ("windows(ids, 0)", "E0125", "0", "must be at least 1, got 0"),
        ("windows(ids, 16, step=1.5)", "E0106", "1.5", "the step of `windows` is a whole"),
        ("windows(ids, 16, stride=2)", "E0102", "stride=2", "no argument `stride`"),
        ("windows(ids)", "E0103", "windows(ids)", "needs the size of a window"),
        ("windows(ids, 16, 8, 4)", "E0104", "4", "at most 3 arguments"),
        ("windows(stack([ids, ids], 1), 16)", "E0303", "stack([ids, ids], 1)", "one dim, but"),
        ("windows(ids, size)", "E0106", "size", "is a number written in place"),
    ],
)
def test_windows_refuses_what_makes_no_samples(folder, call, code, at, message):
    data = f'ids = text("words.txt")\n    size = ids\n    idx = {call}\n    y = idx\n'
    found, where = the_error(folder, program(data))
    assert (found.code, where) == (code, at) and message in found.message


def test_a_second_text_file_may_use_only_the_first_ones_characters(folder):
    (folder / "more.txt").write_text("hello, world!\n", encoding="utf-8")
    data = 'ids = text("words.txt")\n    more = text("more.txt")\n' + DATA.split("\n", 1)[1]
    found, at = the_error(folder, program(data))
    assert (found.code, at) == ("E0421", '"more.txt"')
    assert "characters that words.txt, the first text file of data `d`, lacks: '!', ','" in (
        found.message
    )
    (folder / "more.txt").write_text("low\n", encoding="utf-8")
    assert analyze(program(data), folder).ok


def test_held_out_text_is_read_in_the_training_texts_vocabulary(folder):
    held_out = '\ndata v {\n    ids = text("more.txt")\n    idx = windows(ids[0:-1], 4)\n' + (
        "    y = windows(ids[1:], 4)\n}\n"
    )
    source = program(DATA + "    validation v\n") + held_out
    (folder / "more.txt").write_text("world\nhello\n", encoding="utf-8")
    scope, code = loader(folder, source)
    # "worl" by the training vocabulary, which holds a space "world\nhello\n" lacks
    assert scope["VOCABULARY"] == "\n dehlorw" and code.count("VOCABULARY)") == 2
    assert scope["load_v"](SimpleNamespace(data_dir="."))["idx"][0].tolist() == [8, 6, 7, 5]
    (folder / "more.txt").write_text("hello, world!\n", encoding="utf-8")
    found, at = the_error(folder, source)
    assert (found.code, at) == ("E0421", "validation v")
    assert "more.txt, which holds characters the vocabulary of words.txt lacks: '!', ','" in (
        found.message
    )


def test_text_is_not_streamed(folder):
    """(A streamed section's Dataset takes `idx` for itself: the input is `x` here.)"""
    data = DATA.replace("idx", "x") + "    stream true\n"
    found = diagnostics(folder, program(data, model=MODEL.replace("idx", "x")))
    assert [d.code for d in found] == ["E0409"] * 3
    assert found[0].message == "`text` files cannot be streamed"
    assert found[1].message.startswith("`windows` makes samples out of a whole sequence")


def test_a_missing_text_file_is_an_error_at_its_path(folder):
    found, at = the_error(folder, program(DATA.replace("words.txt", "lost.txt")))
    assert (found.code, at) == (
        "E0402",
        '"lost.txt"',
    ) and "lost.txt does not exist" in found.message


# ---- generate ------------------------------------------------------------------------------------


def test_generate_without_top_k_or_temperature_samples_from_every_character(folder):
    scope, code = loader(folder, program(train="    generate 20\n"))
    body = code.split("def generate(", 1)[1].split("\n\n\n", 1)[0]
    assert 'start = "h"' in body and "topk" not in body and "/ " not in body
    assert "logits = model(ids[:, -16:])[:, -1]\n" in body
    assert (
        '"""Sample 20 characters after `start`, at temperature 1 from every character."""' in body
    )


def test_generate_with_long_numbers_stays_within_the_line_width(folder):
    _, code = loader(folder, program(train="    generate 100000, temperature=0.123456, top_k=9\n"))
    body = code.split("\n", 3)[3]
    assert black_format(body, cache=False) == body
    assert max(len(line) for line in code.splitlines()) <= 88
    assert "logits = model(ids[:, -16:])[:, -1] / 0.123456\n" in body


@pytest.mark.parametrize(
    "setting, code, at, message",
    [
        ("generate 20, top_k=10", "E0125", "10", "`top_k` picks among 1 to 9 characters"),
        ("generate 20, temperature=0", "E0125", "0", "above 0, got 0"),
        ('generate 20, start="hi!"', "E0126", '"hi!"', "`start` holds '!', 'i', which"),
        ('generate 20, start=""', "E0106", '""', "the text to continue"),
        ("generate 0", "E0125", "0", "writes 1 to 100,000 characters, got 0"),
        ("generate 20, top=3", "E0102", "top=3", "no option `top`"),
        ("generate 20, 30", "E0104", "30", "one number, then options by name"),
        ("generate top_k=3", "E0103", "generate top_k=3", "needs the number of characters"),
    ],
)
def test_generate_checks_its_options_against_the_vocabulary(folder, setting, code, at, message):
    found, where = the_error(folder, program(train=f"    {setting}\n"))
    assert (found.code, where) == (code, at) and message in found.message


def test_generate_needs_text_and_a_model_that_scores_its_characters(folder):
    # 9 rows for the 9 ids, 8 scores: (`Embedding(8, 8)` reads ids past its rows, E0426 too)
    found, at = the_error(folder, program(train="    generate 20\n",
                                          model=MODEL.replace("9, 9", "9, 8")))  # fmt: skip
    assert (found.code, at) == ("E0421", "generate 20")
    assert found.message == "`Chars` scores 8 characters, but the vocabulary of words.txt holds 9"
    numbers = "idx = randint(0, 9, 30, 16)\n    y = randint(0, 9, 30, 16)\n"
    found, _ = the_error(folder, program(numbers, "    generate 20\n"))
    assert found.code == "E0404" and "data `d` reads no text file" in found.message
    fixed = MODEL.replace("idx: [T] long", "idx: [16] long")
    found, _ = the_error(folder, program(train="    generate 20\n", model=fixed))
    assert found.code == "E0404" and "one input of ids of any length" in found.message


# ---- examples/gpt.nn ----------------------------------------------------------------------------


def unigram_entropy(text: str) -> float:
    """The loss, in nats a character, of predicting every character by its frequency."""
    counts = collections.Counter(text)
    return -sum(n / len(text) * math.log(n / len(text)) for n in counts.values())


def test_the_bundled_sonnets_are_what_the_readme_says():
    text = SONNETS.read_text(encoding="utf-8")
    assert len(text) == 95_728 and text.count("\n") + 1 == 2_624 and text.isascii()
    assert len(set(text)) == 62 and text.startswith("THE SONNETS\nby William Shakespeare\n")
    assert text.rstrip().endswith("Love's fire heats water, water cools not love.")


def test_the_gpt_learns_the_sonnets_and_writes_in_their_characters(tmp_path, capsys):
    """Four of its ten epochs take the validation loss half a nat a character below the
    characters' own entropy; then it writes 300 characters of the vocabulary after "\\n"."""
    text = SONNETS.read_text(encoding="utf-8")
    run = nndsl.train(ROOT / "examples" / "gpt.nn", out=tmp_path, epochs=4, quiet=True,
                      device="cpu")  # fmt: skip
    losses = [row["val_loss"] for row in run.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert losses[-1] < unigram_entropy(text) - 0.5, (losses, unigram_entropy(text))
    printed = capsys.readouterr().out
    header = "generate 300 characters after '\\n':\n"
    assert printed.count(header) == 1
    written = printed.split(header, 1)[1]
    assert written.endswith("\n") and len(written) == 1 + 300 + 1  # start, characters, print
    assert written[0] == "\n" and set(written) <= set(text)


STEPS = """model A(x: [16]) {
    Linear(16)
}

model B(x: [16]) {
    Linear(16)
}

data d {
    ids = text("words.txt")
    x = float(windows(ids, 16))
}

train A, B on d {
    step A {
        loss mse(A(x), x)
    }
    step B {
        loss mse(B(x), x)
    }
%s}
"""


def test_a_section_of_steps_reads_text_but_generates_none(folder):
    result = analyze(STEPS % "", folder)
    assert result.ok, [d.message for d in result.diagnostics]
    t = result.program.trains[0]
    assert t.vocabulary == "\n dehlorw"
    assert 'VOCABULARY = "\\n dehlorw"' in generate_train(t, "t.nn", "model")
    found, at = the_error(folder, STEPS % "    generate 20\n")
    assert (found.code, at) == ("E0423", "generate")
