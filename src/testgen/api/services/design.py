"""Test design helpers: a pairwise Examples table from typed parameters (the review dialog), and the
check of a story before generating (the story view)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.schemas.design import PairwiseOut, PairwiseRequest
from testgen.data.models import UserStory
from testgen.data.story_language import story_language
from testgen.domain.story_check import StoryCheck
from testgen.generation.pairwise import all_pairs
from testgen.generation.story_check import check_story


async def pairwise(request: PairwiseRequest) -> PairwiseOut:
    """The all-pairs table of the parameters, built off the event loop (up to half a second)."""
    table = await asyncio.to_thread(all_pairs, request.parameters)
    return PairwiseOut(
        header=table.header,
        rows=table.rows,
        sizes=table.sizes,
        full_product=table.full_product,
        summary=table.summary(),
    )


async def check(session: AsyncSession, story: UserStory) -> StoryCheck:
    """The offline check of the story's acceptance criteria, its questions in the story's language."""
    language = await story_language(session, story)
    criteria = list(story.acceptance_criteria)
    await session.commit()  # end the read: on SQLite it holds the write lock
    return check_story(criteria, language)
