"""Rows of allpairspy and covertable on the same parameters, each checked to hold every pair.

Run: .venv/bin/pip install covertable && .venv/bin/python tools/compare_pairwise.py
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence

from allpairspy import AllPairs  # type: ignore[import-untyped]
from covertable import make  # type: ignore[import-not-found]

SHAPES = {
    "3x4x5": [3, 4, 5],
    "3^4": [3] * 4,
    "2^10": [2] * 10,
    "5x5x4x3x2": [5, 5, 4, 3, 2],
    "3^13": [3] * 13,
    "2x3x4x5x6": [2, 3, 4, 5, 6],
}


def covers(params: Sequence[Sequence[str]], rows: Sequence[Sequence[str]]) -> bool:
    for (i, a), (j, b) in itertools.combinations(enumerate(params), 2):
        if {(r[i], r[j]) for r in rows} != set(itertools.product(a, b)):
            return False
    return True


def main() -> None:
    print("| Values per parameter | Full product | allpairspy | covertable |")
    for name, sizes in SHAPES.items():
        params = [[f"p{k}.{i}" for i in range(n)] for k, n in enumerate(sizes)]
        started = time.perf_counter()
        ours = [list(row) for row in AllPairs(params)]
        ours_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        theirs = make(params)
        theirs_ms = (time.perf_counter() - started) * 1000
        assert covers(params, ours) and covers(params, theirs)
        ours_cell, theirs_cell = f"{len(ours)} ({ours_ms:.0f} ms)", f"{len(theirs)} ({theirs_ms:.0f} ms)"
        cells = [name, f"{math.prod(sizes):,}", ours_cell, theirs_cell]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
