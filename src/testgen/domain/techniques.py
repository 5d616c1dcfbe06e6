"""The test-design techniques a job or a project may name, what each one asks of a test designer, and
how a job's techniques are given to its test cases.

The prompt explains each chosen technique in the two lines of `GUIDE`; every scenario written with one
records it in its `technique` field."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class Technique(StrEnum):
    equivalence_partitioning = "equivalence_partitioning"
    boundary_values = "boundary_values"
    decision_table = "decision_table"
    state_transition = "state_transition"
    pairwise = "pairwise"
    error_guessing = "error_guessing"
    happy_path = "happy_path"


# Two lines per technique: what it is, and what its scenarios look like.
GUIDE: dict[Technique, tuple[str, str]] = {
    Technique.equivalence_partitioning: (
        "Split each input into classes the system treats alike (valid and invalid).",
        "Write one scenario per class, with one representative value of that class.",
    ),
    Technique.boundary_values: (
        "Find every limit in the criteria (a number, a length, a date, a count).",
        "Test just below, at and just above each limit (e.g. at least 12 characters: 11, 12, 13).",
    ),
    Technique.decision_table: (
        "List the conditions the criteria combine with and/or, and the outcome of each combination.",
        "Write one rule per combination of true/false conditions, each with its expected outcome.",
    ),
    Technique.state_transition: (
        "Name the states the feature moves through and the events that move it.",
        "Test each valid transition, and one event that must be refused in a state.",
    ),
    Technique.pairwise: (
        "List the parameters the feature takes and the values each may have.",
        "Cover every pair of values with as few combinations as possible, as a Scenario Outline.",
    ),
    Technique.error_guessing: (
        "Think of the mistakes users and systems make: empty, too long, wrong format, twice, cut off.",
        "Write one scenario per likely failure, each with the error the user must see.",
    ),
    Technique.happy_path: (
        "Follow the main success flow a user takes, step by step, with valid data.",
        "Write scenarios a user would recognise as the normal use of the feature.",
    ),
}

MAX_TECHNIQUES = len(Technique)


def technique_of(techniques: Sequence[Technique], case_index: int) -> Technique | None:
    """The technique of a job's test case `case_index`: the chosen ones in turn; None when none is."""
    if not techniques:
        return None
    return techniques[case_index % len(techniques)]
