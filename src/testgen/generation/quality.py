"""Quality checks on a generated draft: acceptance-criteria coverage and near-duplicate scenarios."""

from __future__ import annotations

import re
from typing import Any

from testgen.data.schemas import Scenario, TestCaseDraft

_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def normalise_step(step: str) -> str:
    return _NOISE.sub(" ", step.casefold()).strip()


def scenario_fingerprint(scenario: Scenario) -> tuple[tuple[str, ...], ...]:
    """Steps up to case, whitespace and punctuation: two scenarios with equal prints are duplicates."""
    return tuple(
        tuple(normalise_step(s) for s in part) for part in (scenario.given, scenario.when, scenario.then)
    )


def duplicate_positions(cases: list[TestCaseDraft]) -> list[tuple[int, int]]:
    """(test case, scenario) positions that repeat an earlier scenario of the draft."""
    seen: set[tuple[tuple[str, ...], ...]] = set()
    dupes = []
    for ci, case in enumerate(cases):
        for si, scenario in enumerate(case.scenarios):
            fp = scenario_fingerprint(scenario)
            if fp in seen:
                dupes.append((ci, si))
            else:
                seen.add(fp)
    return dupes


def coverage(criteria: list[str], cases: list[TestCaseDraft]) -> dict[str, Any]:
    """Every criterion with the scenarios that cover it, and the criteria nothing covers."""
    entries = []
    for index, text in enumerate(criteria):
        refs = [
            {"test_case": ci, "scenario": si, "title": scenario.title}
            for ci, case in enumerate(cases)
            if index in case.covered_criteria
            for si, scenario in enumerate(case.scenarios)
        ]
        entries.append({"index": index, "criterion": text, "scenarios": refs})
    uncovered = [e["index"] for e in entries if not e["scenarios"]]
    return {"criteria": entries, "uncovered": uncovered, "covered": len(criteria) - len(uncovered)}
