"""The worker half of the deep check of a story: the offline check's findings, then one call asking
the job's model for the questions the criteria still leave open (generation/story_questions.py),
within the project's daily budget and recorded in the usage ledger with the job's completion."""

from __future__ import annotations

import logging
import time

from testgen.data.job_states import JobStatus
from testgen.data.models import UserStory, utcnow
from testgen.data.story_language import language_in_project
from testgen.domain.job_options import StoryCheckOptions
from testgen.domain.job_results import StoryCheckResult
from testgen.domain.story_check import MAX_MODEL_QUESTIONS, MAX_QUESTION_CHARS
from testgen.generation.budget import CHARS_PER_TOKEN
from testgen.generation.llm.base import CallStats, story_text
from testgen.generation.story_check import check_story
from testgen.generation.story_questions import (
    ANSWER_SCHEMA,
    SYSTEM_RULES,
    offline_answer,
    parse_answer,
    questions_prompt,
)
from testgen.worker.json_calls import ask_json, hold_budget
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobRun, execute
from testgen.worker.story_context import load_context

logger = logging.getLogger(__name__)

PROGRESS_READY, PROGRESS_ASKED = 10, 90
OUTPUT_TOKENS = MAX_MODEL_QUESTIONS * (2 * MAX_QUESTION_CHARS) // CHARS_PER_TOKEN  # the longest answer


async def run_story_check(res: WorkerResources, task_id: str) -> str:
    """Run deep check job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun, story: UserStory) -> None:
        await _check(res, run, story)

    return await execute(res, task_id, work, what="Checking the story")


async def _check(res: WorkerResources, run: JobRun, story: UserStory) -> None:
    started = time.monotonic()
    options = StoryCheckOptions.model_validate(run.job.options)
    provider = res.providers.for_job(options)
    context = await load_context(res, story, run.extras)
    language = await language_in_project(story, context.project_language)
    text = story_text(story, language)
    check = check_story(text.acceptance_criteria, language)
    prompt = questions_prompt(text, check.findings)
    await run.report(JobStatus.generating, PROGRESS_READY, f"Model ready ({provider.name}: {provider.model})")
    needed = (len(SYSTEM_RULES) + len(prompt)) // CHARS_PER_TOKEN + OUTPUT_TOKENS
    await hold_budget(res, run, context.project_id, context.budget, needed)
    stats = CallStats()
    questions = await ask_json(
        provider,
        (SYSTEM_RULES, prompt, ANSWER_SCHEMA),
        lambda answer: parse_answer(answer, len(text.acceptance_criteria), check.findings),
        lambda: offline_answer(text),
        label="Story questions",
        stats=stats,
        what="check a story",
    )
    await run.report(JobStatus.generating, PROGRESS_ASKED, f"The model asked {len(questions)} questions")
    summary = stats.summary()
    result = StoryCheckResult(
        provider=provider.name,
        model=provider.model,
        check=check,
        questions=questions,
        stats=summary,
        duration_s=round(time.monotonic() - started, 3),
    )
    await run.report(
        JobStatus.completed,
        100,
        f"{len(check.findings)} findings, {len(questions)} further questions from the model",
        persist=True,
        result=result.model_dump(mode="json"),
        error=None,
        finished_at=utcnow(),
        usage=context.ledger_row(run.job.id, provider.name, provider.model, summary),
    )
    logger.info("Task %s: the model asked %d questions on story %s", run.job.id, len(questions), story.id)
