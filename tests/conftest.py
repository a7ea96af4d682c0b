"""Shared pytest configuration for the nndsl test suite."""

from __future__ import annotations

import os

import pytest

# The models trained here are tiny: a second intra-op thread only adds waiting, and on a machine
# busy with other work two OpenMP threads spinning against each other made training many times
# slower. Set before torch is imported, so this process and every process it starts (training
# scripts, torchrun) compute with one thread; a value set outside is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        dest="update_golden",
        default=False,
        help="rewrite the golden files under tests/golden/ instead of comparing against them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when pytest was run with --update-golden."""
    return bool(request.config.getoption("update_golden"))
