"""The arq job functions: each runs one job under its lease (registered under the names in
core/redis_keys.py, which the API enqueues)."""

from __future__ import annotations

from typing import Any

from testgen.worker.generate import run_generation
from testgen.worker.jira_import import run_jira_import
from testgen.worker.reaper import lease
from testgen.worker.regenerate import run_regeneration


async def generate_test_cases(ctx: dict[str, Any], task_id: str) -> str:
    async with lease(ctx["redis"], task_id):
        return await run_generation(ctx["resources"], task_id)


async def regenerate_test_case(ctx: dict[str, Any], task_id: str) -> str:
    async with lease(ctx["redis"], task_id):
        return await run_regeneration(ctx["resources"], task_id)


async def import_jira_stories(ctx: dict[str, Any], task_id: str) -> str:
    async with lease(ctx["redis"], task_id):
        return await run_jira_import(ctx["resources"], task_id)
