"""Whether a batch's answer is written in the story's language (detected offline, as stories are)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from testgen.core.languages import (
    detect_language,
    detectable,
    detector_loaded,
    language_name,
    same_language,
)
from testgen.domain.test_cases import TestCaseDraft

# Characters of an answer that are detected: its start and its end, about 0.25 ms (a whole answer of
# 15 test cases takes 2 ms, a third of a worker's CPU per call in bench/bench_jobs.py).
SAMPLE_CHARS = 300


def answer_text(cases: Sequence[TestCaseDraft]) -> str:
    """The prose of an answer: titles and steps (the description may quote the story)."""
    parts: list[str] = []
    for case in cases:
        parts.append(case.title)
        for scenario in case.scenarios:
            parts += [scenario.title, *scenario.given, *scenario.when, *scenario.then]
    return "\n".join(parts)


def sample(text: str) -> str:
    """The start and the end of `text`: a batch written partly in another language shows at either."""
    if len(text) <= 2 * SAMPLE_CHARS:
        return text
    return text[:SAMPLE_CHARS] + "\n" + text[-SAMPLE_CHARS:]


async def wrong_language(cases: Sequence[TestCaseDraft], expected: str) -> str | None:
    """What is wrong when the answer is in another language than `expected`, else None (also when
    lingua does not know `expected` or cannot tell the answer's language)."""
    if not detectable(expected):
        return None
    text = sample(answer_text(cases))
    # In a thread only the first time, while the models load: a thread costs more than a short detection.
    found = detect_language(text) if detector_loaded() else await asyncio.to_thread(detect_language, text)
    if same_language(expected, found):
        return None
    assert found is not None  # same_language() is true for None
    return (
        f"it was written in {language_name(found)}, not in {language_name(expected)} ({expected}), "
        "the language of the story"
    )
