"""Replacing near-duplicate scenarios of a draft at a bounded cost.

Each original batch whose test cases hold duplicates (of each other, of another batch's, or of a saved
test case) is asked again once, for just those test cases, with every title of the draft to avoid:
at most one extra model call per batch, none when nothing is duplicated. Duplicates the answer cannot
replace stay, and are listed with their positions. The counts stay exact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from testgen.domain.test_cases import Scenario, TestCaseDraft
from testgen.generation.llm.base import BatchRequest, BatchResult, CallStats, LLMError, LLMProvider
from testgen.generation.similarity import (
    DEFAULT_THRESHOLD,
    Duplicate,
    Position,
    SavedIndex,
    Seen,
    find_duplicates,
    scenario_key,
)

logger = logging.getLogger(__name__)


@dataclass
class DedupeOutcome:
    replaced: int
    remaining: list[Duplicate]
    calls: int  # model calls made to replace duplicates (at most one per batch)


async def replace_duplicates(
    provider: LLMProvider,
    batches: Sequence[BatchRequest],
    cases: list[TestCaseDraft],
    stats: CallStats,
    *,
    saved: SavedIndex | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    only: int | None = None,
) -> DedupeOutcome:
    """Swap duplicate scenarios of `cases` (in place; case i is slot i of `batches`) for fresh ones."""
    dupes = find_duplicates(cases, saved, threshold=threshold, only=only)
    if not dupes:
        return DedupeOutcome(0, [], 0)
    flagged: dict[int, list[int]] = defaultdict(list)
    for d in dupes:
        flagged[d.test_case].append(d.scenario)
    avoid = [s.title for case in cases for s in case.scenarios]
    requests = []
    for batch in batches:
        slots = [slot for slot in batch.slots if slot.index in flagged]
        if slots:
            requests.append(dataclasses.replace(batch, slots=slots, avoid_titles=avoid))
    answers = await asyncio.gather(*(provider.generate_batch(r) for r in requests), return_exceptions=True)

    kept: Seen[Position] = Seen(threshold)
    for ci, case in enumerate(cases):
        for si, scenario in enumerate(case.scenarios):
            if si not in flagged.get(ci, []):
                kept.add(scenario_key(scenario), (ci, si))
    replaced = 0
    for request, answer in zip(requests, answers, strict=True):
        if isinstance(answer, LLMError):
            logger.warning(
                "Could not replace duplicates of batch %d: %s", request.batch_index + 1, answer.message
            )
            continue
        if isinstance(answer, BaseException):
            raise answer
        stats.add(answer.stats)
        replaced += _swap_in(request, answer, cases, flagged, kept, saved)
    remaining = find_duplicates(cases, saved, threshold=threshold, only=only)
    logger.info(
        "Replaced %d of %d near-duplicate scenarios in %d calls, %d remain",
        replaced,
        len(dupes),
        len(requests),
        len(remaining),
    )
    return DedupeOutcome(replaced, remaining, len(requests))


def _swap_in(
    request: BatchRequest,
    answer: BatchResult,
    cases: list[TestCaseDraft],
    flagged: dict[int, list[int]],
    kept: Seen[Position],
    saved: SavedIndex | None,
) -> int:
    """Put the answer's fresh scenarios in place of the flagged ones of the request's test cases: each
    test case's own answer first, then the rest of the answer. Returns how many were replaced."""
    pool: list[Scenario] = [s for case in answer.test_cases for s in case.scenarios]
    own = {slot.index: case.scenarios for slot, case in zip(request.slots, answer.test_cases, strict=False)}
    used: set[int] = set()
    replaced = 0
    for slot in request.slots:
        ci = slot.index
        scenarios = list(cases[ci].scenarios)
        mine = [id(s) for s in own.get(ci, [])]
        ordered = [s for s in pool if id(s) in mine] + [s for s in pool if id(s) not in mine]
        for si in flagged[ci]:
            for candidate in ordered:
                if id(candidate) in used:
                    continue
                key = scenario_key(candidate)
                if kept.find(key) is not None or (saved is not None and saved.match(key) is not None):
                    continue
                used.add(id(candidate))
                kept.add(key, (ci, si))
                scenarios[si] = candidate
                replaced += 1
                break
        cases[ci] = cases[ci].model_copy(update={"scenarios": scenarios})
    return replaced
