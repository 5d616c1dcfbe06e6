"""Whether a batch's answer is written in the story's language (detected offline, as stories are)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from testgen.core.languages import detect_language, detectable, language_name, same_language
from testgen.data.schemas import TestCaseDraft


def answer_text(cases: Sequence[TestCaseDraft]) -> str:
    """The prose of an answer: titles and steps (the description may quote the story)."""
    parts: list[str] = []
    for case in cases:
        parts.append(case.title)
        for scenario in case.scenarios:
            parts += [scenario.title, *scenario.given, *scenario.when, *scenario.then]
    return "\n".join(parts)


async def wrong_language(cases: Sequence[TestCaseDraft], expected: str) -> str | None:
    """What is wrong when the answer is in another language than `expected`, else None (also when
    lingua does not know `expected` or cannot tell the answer's language)."""
    if not detectable(expected):
        return None
    found = await asyncio.to_thread(detect_language, answer_text(cases))
    if same_language(expected, found):
        return None
    assert found is not None  # same_language() is true for None
    return (
        f"it was written in {language_name(found)}, not in {language_name(expected)} ({expected}), "
        "the language of the story"
    )
