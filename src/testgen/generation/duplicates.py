"""Near-duplicate scenarios in a draft, and asking the model again for fresh ones (bounded)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping

from testgen.data.schemas import TestCaseDraft
from testgen.generation.llm.base import (
    BatchRequest,
    CallStats,
    LLMError,
    LLMProvider,
    StoryText,
    TestCaseSlot,
)
from testgen.generation.quality import duplicate_positions, scenario_fingerprint

logger = logging.getLogger(__name__)

MAX_DEDUPE_ROUNDS = 3


def duplicates_in(cases: list[TestCaseDraft], only: int | None = None) -> list[tuple[int, int]]:
    """Duplicate positions of the draft; with `only`, those of that test case against all the others."""
    if only is None:
        return duplicate_positions(cases)
    last = len(cases) - 1
    reordered = [c for i, c in enumerate(cases) if i != only] + [cases[only]]
    return [(only, si) for ci, si in duplicate_positions(reordered) if ci == last]


async def replace_duplicates(
    provider: LLMProvider,
    story: StoryText,
    slots: Mapping[int, TestCaseSlot],
    cases: list[TestCaseDraft],
    scenarios_per_test_case: int,
    stats: CallStats,
    only: int | None = None,
) -> tuple[int, int]:
    """Swap near-duplicate scenarios (in place) for fresh ones: each affected test case is asked for
    again, alone, avoiding every title of the draft, for at most MAX_DEDUPE_ROUNDS rounds. The counts
    stay exact: a duplicate with no replacement stays. Returns (replaced, remaining).
    """
    replaced = 0
    for _ in range(MAX_DEDUPE_ROUNDS):
        dupes = duplicates_in(cases, only)
        if not dupes:
            break
        by_case: dict[int, list[int]] = defaultdict(list)
        for ci, si in dupes:
            by_case[ci].append(si)
        avoid = [s.title for case in cases for s in case.scenarios]
        asked = sorted(by_case)
        answers = await asyncio.gather(
            *(
                provider.generate_batch(
                    BatchRequest(
                        story=story,
                        batch_index=0,
                        batch_count=1,
                        slots=[slots[ci]],
                        scenarios_per_test_case=scenarios_per_test_case,
                        avoid_titles=avoid,
                    )
                )
                for ci in asked
            ),
            return_exceptions=True,
        )
        flagged = set(dupes)
        seen = {
            scenario_fingerprint(s)
            for ci, case in enumerate(cases)
            for si, s in enumerate(case.scenarios)
            if (ci, si) not in flagged
        }
        for ci, answer in zip(asked, answers, strict=True):
            if isinstance(answer, LLMError):
                logger.warning("Could not replace duplicates in test case %d: %s", ci + 1, answer.message)
                continue
            if isinstance(answer, BaseException):
                raise answer
            stats.add(answer.stats)
            candidates = [s for case in answer.test_cases[:1] for s in case.scenarios]
            scenarios = list(cases[ci].scenarios)
            for si in by_case[ci]:
                fresh = next((s for s in candidates if scenario_fingerprint(s) not in seen), None)
                if fresh is None:
                    break
                seen.add(scenario_fingerprint(fresh))
                scenarios[si] = fresh
                replaced += 1
            cases[ci] = cases[ci].model_copy(update={"scenarios": scenarios})
    remaining = len(duplicates_in(cases, only))
    if replaced or remaining:
        logger.info("Replaced %d near-duplicate scenarios, %d remain", replaced, remaining)
    return replaced, remaining
