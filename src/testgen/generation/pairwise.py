"""Pairwise Examples: the fewest rows (allpairspy's greedy all-pairs) that hold every pair of values of
any two parameters, against the full product of their values.

allpairspy was chosen over covertable after both ran on the same parameters (both covered every pair;
rows, fewer is better): 3x4x5 (60 combinations) 20 and 20; 3^4 (81) 9 and 13; 2^10 (1,024) 8 and 9;
5x5x4x3x2 (600) 25 and 28; 3^13 (1,594,323) 17 and 19; 2x3x4x5x6 (720) 31 and 31. Both are
deterministic and pure Python; covertable's constraints are not needed here. docs/user-guide/test-design.md
gives the figures with the machine and the command.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from allpairspy import AllPairs

from testgen.domain.test_cases import MAX_EXAMPLE_ROWS, PLACEHOLDER, Examples, Parameter, Scenario


@dataclass(frozen=True)
class PairwiseTable:
    header: list[str]
    rows: list[list[str]]
    sizes: list[int]  # each parameter's number of values
    full_product: int  # every combination of the values

    def summary(self) -> str:
        """Such as "20 rows cover every pair of 3x4x5 = 60 combinations"."""
        product = "x".join(map(str, self.sizes))
        return f"{len(self.rows)} rows cover every pair of {product} = {self.full_product} combinations"


def all_pairs(parameters: Sequence[Parameter]) -> PairwiseTable:
    """The rows that cover every pair of values of any two `parameters` (one parameter: its values)."""
    header = [p.name for p in parameters]
    values = [list(p.values) for p in parameters]
    full = math.prod(len(v) for v in values)
    if len(values) == 1:
        rows = [[v] for v in values[0]]
    else:
        rows = [[str(cell) for cell in row] for row in AllPairs(values)]
    return PairwiseTable(header=header, rows=rows, sizes=[len(v) for v in values], full_product=full)


def missing_pairs(
    parameters: Sequence[Parameter], rows: Sequence[Sequence[str]]
) -> list[tuple[str, str, str, str]]:
    """The pairs of values (parameter, value, parameter, value) that no row holds."""
    indexes = list(itertools.combinations(range(len(parameters)), 2))
    covered = {(i, row[i], j, row[j]) for row in rows for i, j in indexes}
    missing = []
    for (i, first), (j, second) in itertools.combinations(enumerate(parameters), 2):
        for a in first.values:
            for b in second.values:
                if (i, a, j, b) not in covered:
                    missing.append((first.name, a, second.name, b))
    return missing


def complete_outline(scenario: Scenario, parameters: Sequence[Parameter]) -> Scenario:
    """A pairwise scenario's Examples rebuilt from the test case's `parameters`, so that they hold
    every pair of values whatever rows the model wrote: its columns are the parameters its steps name
    (in the order of its table, else of `parameters`). A scenario that names none stays as it is."""
    by_name = {p.name: p for p in parameters}
    if scenario.examples is not None:
        names = [n for n in scenario.examples.header if n in by_name]
        if len(names) != len(scenario.examples.header):
            return scenario  # a column that is no parameter: the table is the model's own
    else:
        steps = [scenario.title, *scenario.given, *scenario.when, *scenario.then]
        named = {m.strip() for step in steps for m in PLACEHOLDER.findall(step)}
        names = [p.name for p in parameters if p.name in named]
        if not names or not named <= set(by_name):
            return scenario
    table = all_pairs([by_name[n] for n in names])
    if len(table.rows) > MAX_EXAMPLE_ROWS:
        return scenario
    return scenario.model_copy(update={"examples": Examples(header=table.header, rows=table.rows)})
