"""Which saved test cases a change of the story's acceptance criteria made stale, and which criteria
are new or changed since the saved test cases were written.

A saved test case remembers the text of each criterion it covers (`criteria_texts`); it is stale when
one of those texts is no longer among the story's criteria (changed or removed). A row without those
texts covers the criteria its indexes name now.
"""

from __future__ import annotations

from collections.abc import Sequence

from testgen.data.models import TestCase


def covered_texts(case: TestCase, criteria: Sequence[str]) -> list[str]:
    if case.criteria_texts is not None:
        return list(case.criteria_texts)
    return [criteria[i] for i in case.covered_criteria if i < len(criteria)]


def stale_texts(case: TestCase, criteria: Sequence[str]) -> list[str]:
    """The criteria texts the test case covers that the story no longer has (empty: not stale)."""
    if case.criteria_texts is None:
        return [f"criterion {i}" for i in case.covered_criteria if i >= len(criteria)]
    current = set(criteria)
    return [text for text in case.criteria_texts if text not in current]


def changed_criteria(criteria: Sequence[str], cases: Sequence[TestCase]) -> list[int]:
    """Indexes of the criteria no up-to-date saved test case covers: new or changed ones."""
    covered: set[str] = set()
    for case in cases:
        if not stale_texts(case, criteria):
            covered.update(covered_texts(case, criteria))
    return [i for i, text in enumerate(criteria) if text not in covered]
