"""How a job's work is split: which test cases, criteria and test types each parallel batch owns."""

from __future__ import annotations

import math
from collections.abc import Sequence

from testgen.domain.techniques import Technique, technique_of
from testgen.generation.llm.base import BatchRequest, StoryText, TestCaseSlot

# Test types in the order slots receive them: the common ones first, each kind repeated by weight.
TYPE_CYCLE = (
    "functional",
    "negative",
    "boundary",
    "functional",
    "security",
    "negative",
    "boundary",
    "usability",
    "functional",
    "performance",
)

# Test-design techniques, one per batch in this order, so that parallel batches (which do not see each
# other's answers) approach the story differently and overlap less.
TECHNIQUES = (
    "equivalence classes",
    "boundary values",
    "error guessing",
    "state transitions",
    "decision tables",
    "use-case paths",
)


def technique_for(batch_index: int) -> str:
    return TECHNIQUES[batch_index % len(TECHNIQUES)]


def plan_slots(
    num_test_cases: int, num_criteria: int, techniques: Sequence[Technique] = ()
) -> list[TestCaseSlot]:
    """Every criterion is the focus of some test case when there are enough test cases; the named
    `techniques` go to the test cases in turn."""
    slots = []
    for i in range(num_test_cases):
        criteria = [j for j in range(num_criteria) if j % num_test_cases == i]
        if not criteria and num_criteria:
            criteria = [i % num_criteria]
        slots.append(
            TestCaseSlot(
                index=i,
                test_type=TYPE_CYCLE[i % len(TYPE_CYCLE)],
                criteria=criteria,
                technique=technique_of(techniques, i),
            )
        )
    return slots


def plan_batches(
    story: StoryText,
    num_test_cases: int,
    scenarios_per_test_case: int,
    batch_max_scenarios: int,
    only_criteria: list[int] | None = None,
    techniques: Sequence[Technique] = (),
) -> list[BatchRequest]:
    """Split whole test cases into near-equal batches of at most `batch_max_scenarios` scenarios, each
    with its own test-design technique (or, with `techniques`, each test case with one of those). With
    `only_criteria`, the test cases focus on those criteria."""
    if only_criteria is None:
        slots = plan_slots(num_test_cases, len(story.acceptance_criteria), techniques)
    else:  # the same spread over the chosen criteria only
        slots = [
            TestCaseSlot(
                index=s.index,
                test_type=s.test_type,
                criteria=[only_criteria[j] for j in s.criteria],
                technique=s.technique,
            )
            for s in plan_slots(num_test_cases, len(only_criteria), techniques)
        ]
    per_batch = max(1, batch_max_scenarios // scenarios_per_test_case)
    count = math.ceil(num_test_cases / per_batch)
    base, extra = divmod(num_test_cases, count)
    batches, start = [], 0
    for b in range(count):
        size = base + (1 if b < extra else 0)
        batches.append(
            BatchRequest(
                story=story,
                batch_index=b,
                batch_count=count,
                slots=slots[start : start + size],
                scenarios_per_test_case=scenarios_per_test_case,
                total_test_cases=num_test_cases,
                technique="" if techniques else technique_for(b),
                job_techniques=tuple(techniques),
            )
        )
        start += size
    return batches
