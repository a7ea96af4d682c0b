"""``nndsl fmt``: the canonical layout, idempotent, every comment kept, the meaning unchanged
(the same generated Python, byte for byte)."""

from __future__ import annotations

import dataclasses
import io
import random
import re
from datetime import timedelta

import pytest
from compiled import ROOT
from fuzzing import grammar_programs, mutate, mutations
from hypothesis import HealthCheck, given, settings

from nndsl.cli import main
from nndsl.compiler import analyze, generate, generate_train
from nndsl.diagnostics.core import CompileError
from nndsl.tools.fmt import _tokens, format_source

SOURCES = sorted((ROOT / "examples").glob("*.nn")) + sorted((ROOT / "tests" / "cases").glob("*.nn"))
IDS = [f"{p.parent.name}/{p.name}" for p in SOURCES]


def compiled(text: str, name: str = "model.nn") -> list[str] | None:
    """The module and training scripts ``nndsl compile`` writes, or None for a rejected text.

    A training script also quotes the source: the hash of its text, and each init rule and
    optimizer group as written with its line number, in a comment. Those lines (and the
    header's hash of the body) are left out of the scripts compared here."""
    result = analyze(text, ROOT / "examples")
    if not result.ok:
        return None
    files = [generate(result.program, name)]
    for t in result.program.trains:
        if hasattr(t, "source_sha256"):
            t = dataclasses.replace(t, source_sha256="")
        script = generate_train(t, name, "model").split("\n", 3)[3]
        files.append(QUOTED_SOURCE.sub("", script))
    return files


QUOTED_SOURCE = re.compile(r"^ *# .*\(?line \d+\)?\n", re.MULTILINE)


def comments(text: str) -> list[str]:
    return [
        t.text.rstrip(" \t\f\v") for t in _tokens(text.replace("\r\n", "\n")) if t.kind == "comment"
    ]


def assert_formats_safely(text: str) -> str:
    """Format ``text`` (which parses) and check every promise; returns the formatted text."""
    out = format_source(text)
    assert format_source(out) == out, "not idempotent"
    assert comments(out) == comments(text)
    assert out.endswith("\n") or out == ""
    assert not re.search(r"[ \t]\n", out), "trailing white space"
    assert "\n\n\n" not in out
    return out


# ---- the examples and test cases -------------------------------------------------------------


@pytest.mark.parametrize("path", SOURCES, ids=IDS)
def test_sources_format_idempotently_to_the_same_program(path):
    text = path.read_text(encoding="utf-8")
    out = assert_formats_safely(text)
    before = compiled(text, path.name)
    assert before is not None
    assert compiled(out, path.name) == before


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.nn")), ids=lambda p: p.name)
def test_examples_are_already_formatted(path):
    """The hand-written examples are written in the canonical style."""
    text = path.read_text(encoding="utf-8")
    assert format_source(text) == text


def test_doc_examples_are_already_formatted():
    """So are the examples of docs/LANGUAGE.md, and its `nndsl fmt` section shows what fmt does."""
    doc = (ROOT / "docs" / "LANGUAGE.md").read_text(encoding="utf-8")
    fences = re.findall(r"^```(nn|nn-error)\n(.*?)^```", doc, re.M | re.S)
    assert len(fences) > 20
    for _, source in fences:
        try:
            assert format_source(source) == source
        except CompileError:  # an example of a syntax error
            pass
    section = doc.split("\n### nndsl fmt\n", 1)[1].split("\n## ", 1)[0]
    before, after = re.findall(r"^```(?:nn)?\n(.*?)^```", section, re.M | re.S)[:2]
    assert format_source(before) == after


def test_tokens_are_the_parsers():
    """The formatter's tokens are the ones lark's lexer reads, at the same places; a dotted
    name's parts as the parser reads them in a selector."""
    from nndsl.lang.parser import _fast_parser

    fast = _fast_parser()
    if fast is None:
        pytest.skip("no fast parser for this version of lark")
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        ours = [(t.start, t.text) for t in _tokens(text) if t.kind != "comment"]
        theirs = [
            part
            for t in fast.tokens(text)
            for part in (fast._split(t) if t.type == "DOTTED" else [t])
        ]
        assert ours == [(t.start_pos, str(t)) for t in theirs], path.name


# ---- canonical layout ---------------------------------------------------------------------------

CANONICAL = [
    (  # spacing, indentation, blank lines, braces
        """\
# head   \r
model   AddNet ( x : [ 2 ] , h:[1,B,32]=none )
{
  hidden=Linear( 8 )  # in_features is inferred
      ReLU ( )



  out = Linear(1)   \t
}
data pairs{x=[[1,2],[3,4]]
y = [ [3] , [7] ]
batch 2 }
""",
        """\
# head
model AddNet(x: [2], h: [1, B, 32] = none) {
    hidden = Linear(8)  # in_features is inferred
    ReLU()

    out = Linear(1)
}

data pairs {
    x = [[1, 2], [3, 4]]
    y = [[3], [7]]
    batch 2
}
""",
    ),
    (  # settings, groups, selectors, init rules, unary signs
        """\
train AddNet on pairs {
 loss mse
 optimizer sgd( lr = 0.1 ) { .bias : weight_decay = 0
   hidden . weight,layers[ - 1 ].weight:lr=0.01 }
 init { Linear.weight~uniform(-10,10) keep abs( w )>=5
 .bias=0 }

 predict [[1, 2]]
 seed -1
 early_stop val_accuracy ,patience = 5
}
""",
        """\
train AddNet on pairs {
    loss mse
    optimizer sgd(lr=0.1) {
        .bias: weight_decay=0
        hidden.weight, layers[-1].weight: lr=0.01
    }
    init {
        Linear.weight ~ uniform(-10, 10) keep abs(w) >= 5
        .bias = 0
    }

    predict [[1, 2]]
    seed -1
    early_stop val_accuracy, patience=5
}
""",
    ),
    (  # expressions, slices, forward bodies, continuation lines, one-line bodies
        """\
layer Centered(x)=x-mean(x)
layer Scale(factor = 2.0) { forward(x)=x*factor }
model M(x:[T,6]){res=repeat 3 as i{Linear(16*2**i)}
forward{
h=res(x)[:,-1]
y = h[..., 0:2, ::2] // 2 % 3 @ w
while sum(abs(h))>1{h=h/2}
r, (a, b) = foo(h ,
        h+1,
            h)
z = y
  + x # why
  # alone
return -h , +y,z}}
""",
        """\
layer Centered(x) = x - mean(x)

layer Scale(factor=2.0) { forward(x) = x * factor }

model M(x: [T, 6]) {
    res = repeat 3 as i { Linear(16 * 2 ** i) }
    forward {
        h = res(x)[:, -1]
        y = h[..., 0:2, ::2] // 2 % 3 @ w
        while sum(abs(h)) > 1 { h = h / 2 }
        r, (a, b) = foo(h,
            h + 1,
            h)
        z = y
            + x  # why
        # alone
        return -h, +y, z
    }
}
""",
    ),
    (  # sections on one line, comments between sections, brackets over several lines
        """\


# about M


model M(x: [2]) { Linear(8) }   # M
# about N
model N(x: [2]) {
    y = foo(
  1,
          [2,
    3],
        )
}  block Q { Linear(1) } layer R(x)
  = x*2


""",
        """\
# about M

model M(x: [2]) { Linear(8) }   # M

# about N
model N(x: [2]) {
    y = foo(
        1,
        [2,
            3],
    )
}

block Q { Linear(1) }

layer R(x)
    = x * 2
""",
    ),
    (  # sequences, `if` and `else`, a block that is a Sequential
        """\
block S(n)=Sequential{
if n>1 and not n==3{
Linear(4)}
else{ReLU()}
}
block C(s) {
if s!=1 or in!=4 {a=Linear(4)}
forward(x){ if s>1 {
return a(x) }
else {return x}
}
}
""",
        """\
block S(n) = Sequential {
    if n > 1 and not n == 3 {
        Linear(4)
    } else { ReLU() }
}

block C(s) {
    if s != 1 or in != 4 { a = Linear(4) }
    forward(x) {
        if s > 1 {
            return a(x)
        } else { return x }
    }
}
""",
    ),
]


@pytest.mark.parametrize("source, want", CANONICAL)
def test_canonical_layout(source, want):
    assert format_source(source) == want
    assert format_source(want) == want
    assert comments(want) == comments(source)


def test_trailing_comment_keeps_its_column_when_there_is_room():
    source = "model M(x: [2]) {\n  Linear( 8 )      # eight\n  ReLU()           # then\n}\n"
    want = "model M(x: [2]) {\n    Linear(8)      # eight\n    ReLU()         # then\n}\n"
    assert format_source(source) == want
    crowded = "model M(x: [2]) {\n Linear(8) # eight\n}\n"
    assert format_source(crowded) == "model M(x: [2]) {\n    Linear(8)  # eight\n}\n"


def test_strings_and_numbers_are_kept_as_written():
    source = "data d{x=csv( 'a #b.csv' )\ny=[1_000 , 0.50 , 1e-3 , .5 , 007] # n\n}\n"
    assert format_source(source) == (
        "data d {\n    x = csv('a #b.csv')\n    y = [1_000, 0.50, 1e-3, .5, 007]  # n\n}\n"
    )


def test_empty_and_comment_only_files():
    assert format_source("") == ""
    assert format_source("\n\n  \n") == ""
    assert format_source("# only a comment   \n\n\n# and another") == (
        "# only a comment\n\n# and another\n"
    )


def test_keywords_used_as_names():
    source = "model M(x: [2]) { data = Linear(2)\ninit=Linear(1) }\n"
    assert (
        format_source(source)
        == "model M(x: [2]) {\n    data = Linear(2)\n    init = Linear(1)\n}\n"
    )


def test_a_syntax_error_is_not_formatted():
    with pytest.raises(CompileError) as err:
        format_source("model M(x: [2]) { Linear(8) \n")
    assert err.value.diagnostics[0].code == "E0003"


# ---- the command ---------------------------------------------------------------------------

UGLY = "model M(x:[2]){Linear( 8 ) # c\n}\n"
PRETTY = "model M(x: [2]) {\n    Linear(8)  # c\n}\n"


def test_fmt_rewrites_only_changed_files(tmp_path, capsys):
    ugly, pretty = tmp_path / "ugly.nn", tmp_path / "pretty.nn"
    ugly.write_text(UGLY, encoding="utf-8")
    pretty.write_text(PRETTY, encoding="utf-8")
    pretty_stat = pretty.stat()
    assert main(["fmt", str(ugly), str(pretty)]) == 0
    assert ugly.read_text(encoding="utf-8") == PRETTY
    assert pretty.stat().st_mtime_ns == pretty_stat.st_mtime_ns
    err = capsys.readouterr().err
    assert err == f"reformatted {ugly}\n"
    assert main(["fmt", str(ugly)]) == 0
    assert capsys.readouterr().err == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file


def test_fmt_check_writes_nothing_and_lists_the_files(tmp_path, capsys):
    ugly, pretty = tmp_path / "ugly.nn", tmp_path / "pretty.nn"
    ugly.write_text(UGLY, encoding="utf-8")
    pretty.write_text(PRETTY, encoding="utf-8")
    assert main(["fmt", "--check", str(ugly), str(pretty)]) == 1
    assert ugly.read_text(encoding="utf-8") == UGLY
    out = capsys.readouterr()
    assert out.err == f"would reformat {ugly}\n" and out.out == ""
    assert main(["fmt", "--check", str(pretty)]) == 0


def test_fmt_diff_prints_and_writes_nothing(tmp_path, capsys):
    ugly = tmp_path / "ugly.nn"
    ugly.write_text(UGLY, encoding="utf-8")
    assert main(["fmt", "--diff", str(ugly)]) == 0
    out = capsys.readouterr().out
    assert ugly.read_text(encoding="utf-8") == UGLY
    assert out.startswith(f"--- {ugly} (original)\n+++ {ugly} (formatted)\n@@")
    assert "-model M(x:[2]){Linear( 8 ) # c\n" in out and "+    Linear(8)  # c\n" in out
    assert main(["fmt", "--diff", "--check", str(ugly)]) == 1


def test_fmt_stdin_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(UGLY.encode("utf-8"))))
    assert main(["fmt", "-"]) == 0
    out = capsys.readouterr()
    assert out.out == PRETTY and out.err == ""
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(UGLY.encode("utf-8"))))
    assert main(["fmt", "--check", "-"]) == 1
    assert capsys.readouterr().out == ""


def test_fmt_leaves_a_file_with_a_syntax_error_alone(tmp_path, capsys):
    bad = tmp_path / "bad.nn"
    data = b"model M(x:[2]){Linear( 8 )\r\n  ReLU(  \n"
    bad.write_bytes(data)
    assert main(["fmt", str(bad)]) == 1
    assert bad.read_bytes() == data
    err = capsys.readouterr().err
    assert "error[E0003]: unexpected end of file" in err and f"--> {bad}:" in err
    assert main(["fmt", "--format", "short", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}:")


def test_fmt_unreadable_file(tmp_path, capsys):
    good = tmp_path / "good.nn"
    good.write_text(UGLY, encoding="utf-8")
    assert main(["fmt", str(tmp_path / "missing.nn"), str(good)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert good.read_text(encoding="utf-8") == PRETTY  # the other files are still formatted
    latin = tmp_path / "latin.nn"
    latin.write_bytes(b"# caf\xe9\nmodel M(x: [2]) { Linear(1) }\n")
    assert main(["fmt", str(latin)]) == 1
    assert "E0004" in capsys.readouterr().err


def test_fmt_keeps_the_file_mode(tmp_path):
    ugly = tmp_path / "ugly.nn"
    ugly.write_text(UGLY, encoding="utf-8")
    ugly.chmod(0o644)
    assert main(["fmt", str(ugly)]) == 0
    assert ugly.stat().st_mode & 0o777 == 0o644


def test_fmt_from_the_command_line(tmp_path):
    from test_cli import nndsl_cli

    (tmp_path / "a.nn").write_text(UGLY, encoding="utf-8")
    proc = nndsl_cli("fmt", "--check", "a.nn", cwd=tmp_path)
    assert proc.returncode == 1 and "would reformat a.nn" in proc.stderr
    proc = nndsl_cli("fmt", "a.nn", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == "reformatted a.nn\n"
    assert (tmp_path / "a.nn").read_text(encoding="utf-8") == PRETTY


# ---- properties ------------------------------------------------------------------------------


def fixed_slice(examples: int) -> settings:
    return settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=timedelta(seconds=10),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def check_program(text: str) -> None:
    """For a program that parses: formatting is idempotent and keeps the comments; for one that
    compiles: the formatted text compiles to the same files."""
    try:
        out = assert_formats_safely(text)
    except CompileError:
        return
    assert compiled(out) == compiled(text)


@fixed_slice(40)
@given(grammar_programs())
def test_programs_from_the_grammar_keep_their_meaning(text):
    check_program(text)


@fixed_slice(25)
@given(mutations())
def test_mutated_examples_keep_their_meaning(mutated):
    check_program(mutated[1])


def test_respaced_examples_keep_their_meaning():
    """Examples with random white space between the tokens of each line and before each line
    format back to themselves (comments aside, which keep their new columns) and compile to the
    same files."""
    rng = random.Random(0)
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        pieces = []
        prev = None
        for tok in _tokens(text):
            if tok.nl:
                pieces.append("\n" * tok.nl + rng.choice(["", " ", "  ", "\t", "      "]))
            elif prev is not None:
                loose = prev.text in "([{,)]}" or tok.text in "([{,)]}"
                if "." in (prev.text, tok.text):  # `wte.weight` is one name: no space inside
                    pieces.append("")
                else:
                    pieces.append(rng.choice(["", " ", "   "] if loose else [" ", "  ", "\t"]))
            pieces.append(tok.text)
            prev = tok
        respaced = "".join(pieces) + "\n"
        out = assert_formats_safely(respaced)
        assert re.sub(r" +#", " #", out) == re.sub(r" +#", " #", text), path.name
        assert compiled(out, path.name) == compiled(text, path.name)
        check_program(mutate(text, rng))


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_a_syntax_error_is_on_its_line_whatever_the_line_ending(ending):
    text = ending.join(["model M(x: [4]) {", "    Linear(8", "}", ""])
    with pytest.raises(CompileError) as err:
        format_source(text)
    [d] = err.value.diagnostics
    assert (d.code, d.span.line, d.span.column) == ("E0001", 3, 1)
