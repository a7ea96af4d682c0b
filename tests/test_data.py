"""The bundled datasets are what examples/data/README.md says they are."""

from __future__ import annotations

import csv
from collections import Counter

from compiled import ROOT

DATA = ROOT / "examples" / "data"


def _rows(name: str) -> tuple[list[str], list[list[str]]]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def test_digits():
    header, rows = _rows("digits.csv")
    assert header == [f"p{i}" for i in range(64)] + ["label"]
    assert len(rows) == 1797
    pixels = {int(v) for row in rows for v in row[:64]}
    assert pixels <= set(range(17)) and {0, 16} <= pixels
    labels = Counter(int(row[64]) for row in rows)
    assert sorted(labels) == list(range(10)) and min(labels.values()) >= 170


def test_iris():
    header, rows = _rows("iris.csv")
    assert header[-1] == "species" and len(header) == 5
    assert len(rows) == 150
    assert Counter(int(row[4]) for row in rows) == {0: 50, 1: 50, 2: 50}
    assert all(0 < float(v) < 10 for row in rows for v in row[:4])
