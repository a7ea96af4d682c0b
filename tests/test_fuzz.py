"""A short, fixed slice of fuzzing (bench/fuzz.py runs the long campaign by hand): programs from
the grammar itself and mutations of the examples. Whatever they are, ``analyze`` returns
diagnostics with a place in the file or a program whose generated code parses, compiles, is
black-stable, stays inside the allowed names, and whose models return the predicted shapes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import torch  # noqa: F401 - imported once here, not inside the first example's deadline
from fuzzing import (
    EXAMPLE_FILES,
    EXAMPLES_DIR,
    check_source,
    check_training,
    grammar,
    grammar_programs,
    mutate,
    mutations,
)
from hypothesis import HealthCheck, given, settings

from nndsl.lang.parser import _parser


def fixed_slice(examples: int) -> settings:
    """The same inputs on every run, no example database, generous per-input deadlines."""
    return settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=timedelta(seconds=10),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def test_fuzz_grammar_is_the_parsers():
    """The generator's grammar is the parser's: same terminals, rules and LALR states."""
    ours, theirs = grammar(), _parser()
    assert [t.name for t in ours.terminals] == [t.name for t in theirs.terminals]
    assert len(ours.rules) == len(theirs.rules)
    states = lambda p: len(p.parser.parser.parser.parse_table.states)  # noqa: E731
    assert states(ours) == states(theirs)


@fixed_slice(200)
@given(grammar_programs())
def test_programs_from_the_grammar(text):
    check_source(text, EXAMPLES_DIR)


@fixed_slice(200)
@given(mutations())
def test_mutated_examples(mutated):
    _, text = mutated
    check_source(text, EXAMPLES_DIR)


@pytest.mark.parametrize("seed", range(3))
def test_heavily_mutated_examples(seed):
    """Many mutations on top of one another, from a fixed seed, on every example."""
    import random

    rng = random.Random(seed)
    for path in EXAMPLE_FILES:
        check_source(mutate(path.read_text(encoding="utf-8"), rng, count=8), EXAMPLES_DIR)


@pytest.mark.parametrize("seed", [0])
def test_accepted_mutations_train_one_step(seed, tmp_path):
    """Every program the checker accepts, with the data it accepted, trains one step through its
    generated script without a traceback: each example, mutated by a fixed seed until it is
    accepted again (or left as it is), then its train sections run for one step."""
    import random

    rng = random.Random(seed)
    trained = 0
    for i, path in enumerate(EXAMPLE_FILES):
        text = path.read_text(encoding="utf-8")
        for _ in range(20):  # a mutation the checker accepts, if one comes
            mutated = mutate(text, rng, count=2)
            if "train " in mutated and check_source(mutated, EXAMPLES_DIR, run_models=False).ok:
                text = mutated
                break
        result = check_source(text, EXAMPLES_DIR, run_models=False)
        if result.ok:
            trained += check_training(result, tmp_path / f"{i}", EXAMPLES_DIR)
    assert trained >= 15


def test_generated_forwards_run_with_the_predicted_shapes():
    """Random forwards of reshapes, dim views, indexing, broadcasting operators, reductions and
    joins (tests/forward_fuzz.py), from fixed seeds: each accepted one runs at three batch and
    symbolic sizes with the checker's shape and dtype for every tensor it computes. Most are
    accepted, so the property is held to many programs, not to the few the checker lets by."""
    from forward_fuzz import check_forward, forward_program

    accepted = sum(check_forward(forward_program(seed)) for seed in range(120))
    assert accepted >= 80
