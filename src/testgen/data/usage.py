"""The usage ledger: model calls and tokens per finished job, for budgets and the usage report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from testgen.data.models import LLMUsage, utcnow
from testgen.domain.job_results import CallSummary

BATCH_PRICE_FACTOR = 0.5  # a token answered through a provider's Batch API costs half a normal call's


def today() -> dt.date:
    return utcnow().date()


def usage_row(
    *,
    project_id: int,
    task_id: str,
    provider: str,
    model: str,
    summary: CallSummary,
    batch: CallSummary | None = None,
) -> dict[str, Any]:
    """One job's usage as the values of a ledger row; `batch`: the part of `summary` answered through
    a provider's Batch API."""
    tokens = summary.tokens
    return {
        "project_id": project_id,
        "task_id": task_id,
        "day": today(),
        "provider": provider,
        "model": model,
        "calls": summary.llm_calls,
        "prompt_tokens": tokens.prompt,
        "output_tokens": tokens.output,
        "total_tokens": tokens.total,
        "cached_tokens": tokens.cached or 0,
        "batch_calls": batch.llm_calls if batch else 0,
        "batch_tokens": batch.tokens.total if batch else 0,
        "created_at": utcnow(),
    }


async def record_many(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await connection.execute(insert(LLMUsage), list(rows))


async def spent_today_many(connection: AsyncConnection, project_ids: Sequence[int]) -> dict[int, int]:
    """Tokens each project spent today (UTC); a project with none is left out."""
    query = (
        select(LLMUsage.project_id, func.sum(LLMUsage.total_tokens))
        .where(LLMUsage.project_id.in_(list(project_ids)), LLMUsage.day == today())
        .group_by(LLMUsage.project_id)
    )
    return {int(pid): int(total or 0) for pid, total in await connection.execute(query)}


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
            func.sum(LLMUsage.cached_tokens),
        )
        .where(LLMUsage.project_id == project_id, LLMUsage.day >= since)
        .group_by(LLMUsage.day)
        .order_by(LLMUsage.day)
    )
    return [
        {
            "day": day,
            "jobs": int(jobs),
            "llm_calls": int(calls or 0),
            "tokens": int(tokens or 0),
            "cached_tokens": int(cached or 0),
        }
        for day, jobs, calls, tokens, cached in (await session.execute(query)).all()
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
            func.sum(LLMUsage.batch_calls),
            func.sum(LLMUsage.batch_tokens),
            func.sum(LLMUsage.cached_tokens),
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
            "batch_calls": int(batch_calls or 0),
            "batch_tokens": int(batch_tokens or 0),
            "cached_tokens": int(cached or 0),
            "billed_tokens": billed_tokens(int(total or 0), int(batch_tokens or 0)),
        }
        for provider, model, jobs, calls, prompt, output, total, batch_calls, batch_tokens, cached in (
            await session.execute(query)
        ).all()
    ]


def billed_tokens(tokens: int, batch_tokens: int) -> float:
    """Tokens at the price of normal calls: those answered through a Batch API count at its price."""
    return tokens - batch_tokens * (1 - BATCH_PRICE_FACTOR)
