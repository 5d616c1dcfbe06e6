"""Test design helpers: a pairwise Examples table from typed parameters (the review dialog), and the
check of a story before generating (the story view), offline at once or deep: the model's questions
as a job of the story (the worker half is worker/story_questions.py)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.schemas.design import PairwiseOut, PairwiseRequest
from testgen.api.services import jobs
from testgen.api.services.job_queue import JobQueue
from testgen.core.database import begin_read
from testgen.core.redis_keys import STORY_CHECK_JOB
from testgen.data.job_states import JobKind
from testgen.data.models import UserStory
from testgen.data.story_language import story_language
from testgen.domain.job_options import StoryCheckOptions
from testgen.domain.story_check import StoryCheck
from testgen.generation.pairwise import all_pairs
from testgen.generation.story_check import check_story

logger = logging.getLogger(__name__)


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


async def enqueue_deep_check(
    session: AsyncSession,
    queue: JobQueue,
    story: UserStory,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
) -> jobs.Queued:
    """Queue a job asking the story's model for the questions its criteria leave open (the offline
    model asks each criterion's failure path; 429 when its project spent its daily budget; `slot`: as
    for `jobs.enqueue`)."""
    story_id, project_id = story.id, story.project_id
    await begin_read(session)
    choice, budget = await jobs.queue_choice(session, queue.settings, story_id)
    if project_id is not None and budget is not None:
        await jobs.check_spent(session, project_id, budget)
    await session.commit()
    await queue.require()
    if slot is not None:
        await slot.take()
    job = jobs.new_job(
        story_id, JobKind.story_check, StoryCheckOptions(**choice.model_dump()), created_by=created_by
    )
    session.add(job)
    await session.commit()
    workers = await queue.dispatch(session, job, STORY_CHECK_JOB)
    logger.info("Queued a deep check %s of story %s", job.id, story_id)
    return await jobs.confirm_created(job, workers, slot)
