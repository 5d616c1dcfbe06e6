"""The usage ledger: model calls and tokens per finished job, for budgets and the usage report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.data.models import LLMUsage, utcnow


def today() -> dt.date:
    return utcnow().date()


def record(
    session: AsyncSession,
    *,
    project_id: int,
    task_id: str,
    provider: str,
    model: str,
    summary: dict[str, Any],
) -> None:
    """Add one job's usage (`summary` as CallStats.summary() makes it) to the session."""
    tokens = summary["tokens"]
    session.add(
        LLMUsage(
            project_id=project_id,
            task_id=task_id,
            day=today(),
            provider=provider,
            model=model,
            calls=summary["llm_calls"],
            prompt_tokens=tokens["prompt"],
            output_tokens=tokens["output"],
            total_tokens=tokens["total"],
            created_at=utcnow(),
        )
    )


async def spent_today(session: AsyncSession, project_id: int) -> int:
    """Tokens the project's jobs spent today (UTC)."""
    query = select(func.coalesce(func.sum(LLMUsage.total_tokens), 0)).where(
        LLMUsage.project_id == project_id, LLMUsage.day == today()
    )
    return int((await session.execute(query)).scalar_one())


async def per_day(session: AsyncSession, project_id: int, since: dt.date) -> list[dict[str, Any]]:
    query = (
        select(
            LLMUsage.day,
            func.count(func.distinct(LLMUsage.task_id)),
            func.sum(LLMUsage.calls),
            func.sum(LLMUsage.total_tokens),
        )
        .where(LLMUsage.project_id == project_id, LLMUsage.day >= since)
        .group_by(LLMUsage.day)
        .order_by(LLMUsage.day)
    )
    return [
        {"day": day, "jobs": int(jobs), "llm_calls": int(calls or 0), "tokens": int(tokens or 0)}
        for day, jobs, calls, tokens in (await session.execute(query)).all()
    ]


async def per_model(session: AsyncSession, project_id: int, since: dt.date) -> list[dict[str, Any]]:
    query = (
        select(
            LLMUsage.provider,
            LLMUsage.model,
            func.count(func.distinct(LLMUsage.task_id)),
            func.sum(LLMUsage.calls),
            func.sum(LLMUsage.prompt_tokens),
            func.sum(LLMUsage.output_tokens),
            func.sum(LLMUsage.total_tokens),
        )
        .where(LLMUsage.project_id == project_id, LLMUsage.day >= since)
        .group_by(LLMUsage.provider, LLMUsage.model)
        .order_by(LLMUsage.provider, LLMUsage.model)
    )
    return [
        {
            "provider": provider,
            "model": model,
            "jobs": int(jobs),
            "llm_calls": int(calls or 0),
            "prompt_tokens": int(prompt or 0),
            "output_tokens": int(output or 0),
            "tokens": int(total or 0),
        }
        for provider, model, jobs, calls, prompt, output, total in (await session.execute(query)).all()
    ]
