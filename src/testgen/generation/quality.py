"""Quality checks on a generated draft: acceptance-criteria coverage, near-duplicate scenarios, and the
quality report every result carries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from testgen.domain.job_results import (
    CallSummary,
    Coverage,
    CriterionCoverage,
    CriterionQuality,
    DuplicateCounts,
    QualityReport,
    ScenarioRef,
    UnclearCriterion,
    UncoveredCriterion,
)
from testgen.domain.story_check import StoryCheck
from testgen.domain.techniques import Technique
from testgen.domain.test_cases import TestCaseDraft, TestType
from testgen.generation.llm.base import TestCaseSlot
from testgen.generation.similarity import Duplicate, find_duplicates


def duplicate_positions(cases: list[TestCaseDraft]) -> list[tuple[int, int]]:
    """(test case, scenario) positions that repeat an earlier scenario of the draft."""
    return [(d.test_case, d.scenario) for d in find_duplicates(cases)]


def coverage(criteria: list[str], cases: list[TestCaseDraft]) -> Coverage:
    """Every criterion with the scenarios that cover it, and the criteria nothing covers."""
    entries = []
    for index, text in enumerate(criteria):
        refs = [
            ScenarioRef(test_case=ci, scenario=si, title=scenario.title)
            for ci, case in enumerate(cases)
            if index in case.covered_criteria
            for si, scenario in enumerate(case.scenarios)
        ]
        entries.append(CriterionCoverage(index=index, criterion=text, scenarios=refs))
    uncovered = [e.index for e in entries if not e.scenarios]
    return Coverage(criteria=entries, uncovered=uncovered, covered=len(criteria) - len(uncovered))


def uncovered_reason(
    index: int, slots: Sequence[TestCaseSlot], asked: Sequence[int] | None, num_criteria: int
) -> str:
    """One line on why criterion `index` has no scenario, and what to do about it."""
    if asked is not None and index not in asked:
        return "unchanged since its saved tests, so not asked for (only_changed)"
    planned = [slot.index + 1 for slot in slots if index in slot.criteria]
    if not planned:
        return (
            f"no test case was planned for it ({len(slots)} test cases for {num_criteria} criteria); "
            f"ask for at least {num_criteria} test cases"
        )
    which = ", ".join(f"#{n}" for n in planned)
    return f"planned for test case {which}, but the model did not mark it covered; regenerate or edit it"


def per_technique(cases: Sequence[TestCaseDraft]) -> dict[Technique, int]:
    """The scenarios of `cases` per test-design technique (those naming none are not counted)."""
    counts: Counter[Technique] = Counter(
        s.technique for case in cases for s in case.scenarios if s.technique is not None
    )
    return dict(sorted(counts.items()))


def unclear_criteria(criteria: list[str], check: StoryCheck) -> list[UnclearCriterion]:
    """The criteria the check before generating found unclear, each with its questions."""
    return [
        UnclearCriterion(
            index=index,
            criterion=criteria[index],
            questions=list(dict.fromkeys(f.question for f in check.findings if f.criterion == index)),
        )
        for index in check.unclear_criteria
        if index < len(criteria)
    ]


def quality_report(
    criteria: list[str],
    cases: list[TestCaseDraft],
    slots: Sequence[TestCaseSlot],
    remaining: Sequence[Duplicate],
    replaced: int,
    summary: CallSummary,
    asked: Sequence[int] | None = None,
    check: StoryCheck | None = None,
) -> QualityReport:
    """Coverage per criterion (with a reason for each uncovered one), duplicates within the draft and
    against saved tests, scenarios per test type, and the calls and tokens spent."""
    rows = []
    uncovered = []
    labelled = any(s.technique is not None for case in cases for s in case.scenarios)
    for index, text in enumerate(criteria):
        covering = [ci for ci, case in enumerate(cases) if index in case.covered_criteria]
        scenarios = sum(len(cases[ci].scenarios) for ci in covering)
        techniques = per_technique([cases[ci] for ci in covering]) if labelled else None
        rows.append(
            CriterionQuality(
                index=index, criterion=text, test_cases=covering, scenarios=scenarios, techniques=techniques
            )
        )
        if not covering:
            reason = uncovered_reason(index, slots, asked, len(criteria))
            uncovered.append(UncoveredCriterion(index=index, criterion=text, reason=reason))
    types: Counter[TestType] = Counter()
    for case in cases:
        types[case.test_type] += len(case.scenarios)
    return QualityReport(
        criteria=rows,
        uncovered=uncovered,
        unclear=unclear_criteria(criteria, check) if check is not None else None,
        duplicates=DuplicateCounts(
            replaced=replaced,
            within_draft=sum(1 for d in remaining if d.saved is None),
            against_saved=sum(1 for d in remaining if d.saved is not None),
        ),
        scenarios_per_type=dict(sorted(types.items())),
        scenarios_per_technique=per_technique(cases) if labelled else None,
        llm_calls=summary.llm_calls,
        tokens=summary.tokens.total,
    )
