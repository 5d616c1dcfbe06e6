"""The arq job functions: each runs one job under its lease (registered under the names in
core/redis_keys.py, which the API enqueues). `trace` is the trace context of the request that queued
the job (core/tracing.py), absent when tracing was off there."""

from __future__ import annotations

from typing import Any

from arq.worker import Retry

from testgen.core.arq_adapter import poll_later
from testgen.core.redis_keys import (
    FILL_JOB,
    GENERATE_JOB,
    IMPORT_JIRA_JOB,
    PUSH_JOB,
    REGENERATE_JOB,
    STORY_CHECK_JOB,
)
from testgen.core.tracing import job_span
from testgen.worker.automation_fill import run_fill
from testgen.worker.generate import run_generation
from testgen.worker.jira_import import run_jira_import
from testgen.worker.provider_batches import RECORD_TTL_S, sweep, wait_turn
from testgen.worker.push import run_push
from testgen.worker.reaper import lease
from testgen.worker.regenerate import run_regeneration
from testgen.worker.runner import JobDeferred
from testgen.worker.story_questions import run_story_check


async def generate_test_cases(ctx: dict[str, Any], task_id: str, trace: dict[str, str] | None = None) -> str:
    with job_span(GENERATE_JOB, task_id, trace):
        async with lease(ctx["jobs_redis"], task_id):
            res = ctx["resources"]
            delay_s = await wait_turn(res, task_id)  # its provider batch, if any, is not finished
            if delay_s is None:
                try:
                    return await run_generation(res, task_id)
                except JobDeferred as deferred:
                    delay_s = deferred.delay_s
                    await poll_later(res.store.redis, task_id, RECORD_TTL_S)
            raise Retry(defer=delay_s)


async def sweep_provider_batches(ctx: dict[str, Any]) -> int:
    """Cancel the provider batches of cancelled jobs; how many ended jobs' batches were settled."""
    return len(await sweep(ctx["resources"]))


async def regenerate_test_case(ctx: dict[str, Any], task_id: str, trace: dict[str, str] | None = None) -> str:
    with job_span(REGENERATE_JOB, task_id, trace):
        async with lease(ctx["jobs_redis"], task_id):
            return await run_regeneration(ctx["resources"], task_id)


async def import_jira_stories(ctx: dict[str, Any], task_id: str, trace: dict[str, str] | None = None) -> str:
    with job_span(IMPORT_JIRA_JOB, task_id, trace):
        async with lease(ctx["jobs_redis"], task_id):
            return await run_jira_import(ctx["resources"], task_id)


async def push_test_cases(ctx: dict[str, Any], task_id: str, trace: dict[str, str] | None = None) -> str:
    with job_span(PUSH_JOB, task_id, trace):
        async with lease(ctx["jobs_redis"], task_id):
            return await run_push(ctx["resources"], task_id)


async def propose_step_bodies(ctx: dict[str, Any], task_id: str, trace: dict[str, str] | None = None) -> str:
    with job_span(FILL_JOB, task_id, trace):
        async with lease(ctx["jobs_redis"], task_id):
            return await run_fill(ctx["resources"], task_id)


async def ask_story_questions(ctx: dict[str, Any], task_id: str, trace: dict[str, str] | None = None) -> str:
    with job_span(STORY_CHECK_JOB, task_id, trace):
        async with lease(ctx["jobs_redis"], task_id):
            return await run_story_check(ctx["resources"], task_id)
