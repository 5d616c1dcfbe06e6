"""Job concurrency: 1,000 jobs (3 model calls of 1 s each) on one worker process vs 4 at a time.

    .venv/bin/python bench/bench_jobs.py [--quick]

One `python -m testgen worker` subprocess (offline model, 1 s per batch). Jobs are queued with
services.generation.enqueue (as the API does: DB row, `queued` event, enqueue_job, wake-up), one
story each. Wall time = first enqueue -> last `finished_at` in the database; peak memory = the
worker's highest VmRSS, sampled every 0.1 s. The 4-at-a-time baseline runs fewer jobs and is
extrapolated linearly to the same count (it is a fixed 4-wide pipeline, so that is fair).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from typing import Any

from _harness import Env, environment, rss_mb, seed_stories, subprocess_worker, table, verdict
from sqlalchemy import func, select

from testgen.api.deps import existing_story
from testgen.api.services import jobs as generation
from testgen.core.database import create_engine, create_sessionmaker
from testgen.core.redis import create_redis
from testgen.data.job_states import TERMINAL
from testgen.data.models import GenerationJob
from testgen.streaming.progress_store import ProgressStore

OPTIONS = {"num_test_cases": 15, "scenarios_per_test_case": 3}  # 45 scenarios -> 3 batches of 15
TARGET_S = 15.0


async def run(env: Env, n: int, max_jobs: int, prefix: str) -> dict[str, Any]:
    stories = await seed_stories(env.database_url, n, prefix=prefix)
    settings = env.settings()
    engine = create_engine(env.database_url)
    sessions = create_sessionmaker(engine)
    redis = create_redis(env.redis_url, max_connections=32)
    store = ProgressStore(redis, settings.keep_result_s)
    peak = 0.0
    overrides = {"offline_llm_delay_s": 1.0, "worker_max_jobs": max_jobs, "llm_max_concurrency": 500}
    try:
        with subprocess_worker(env, **overrides) as proc:
            await asyncio.sleep(2.0)  # worker start-up (imports, Redis, DB) is not timed
            t0 = dt.datetime.now(dt.UTC)
            sem = asyncio.Semaphore(20)

            async def enqueue(story_id: str) -> str:
                async with sem, sessions() as session:
                    story = await existing_story(session, story_id)  # the route's lookup, as the API does it
                    job, _ = await generation.enqueue(session, redis, store, settings, story, OPTIONS)
                    return job.id

            enqueue_started = time.monotonic()
            enqueuing = asyncio.gather(*(enqueue(s) for s in stories))
            marks: list[float] = []
            enqueuing.add_done_callback(lambda _: marks.append(time.monotonic()))
            ids = set()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                peak = max(peak, rss_mb(proc.pid))
                if enqueuing.done():
                    ids = set(enqueuing.result())
                    async with sessions() as session:
                        finished = await session.scalar(
                            select(func.count())
                            .select_from(GenerationJob)
                            .where(GenerationJob.id.in_(ids), GenerationJob.status.in_(TERMINAL))
                        )
                    if finished == n:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"{n} jobs did not finish in time")
            enqueue_s = marks[0] - enqueue_started
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(GenerationJob.status, GenerationJob.finished_at).where(GenerationJob.id.in_(ids))
                )
            ).all()
    finally:
        await redis.aclose()
        await engine.dispose()
    failed = sum(1 for status, _ in rows if status != "completed")
    last = max(f for _, f in rows if f is not None)
    wall = (last - t0).total_seconds()
    return {"n": n, "max_jobs": max_jobs, "wall": wall, "peak": peak, "failed": failed, "enq": enqueue_s}


async def bench(n: int, n_base: int) -> list[dict[str, Any]]:
    with environment() as env:
        return [await run(env, n, 1000, "J"), await run(env, n_base, 4, "K")]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, n_base = (100, 8) if args.quick else (1000, 40)
    ours, base = asyncio.run(bench(n, n_base))
    extrapolated = base["wall"] * n / n_base
    print(f"job concurrency: {n} jobs x 3 batches, model latency 1 s per batch, one worker process")
    rows = [
        [
            f"worker_max_jobs=1000, {n} jobs",
            f"{ours['wall']:.1f}",
            f"{ours['wall']:.1f}",
            f"{ours['peak']:.0f}",
            ours["failed"],
        ],
        [
            f"worker_max_jobs=4, {n_base} jobs (extrapolated to {n})",
            f"{base['wall']:.1f}",
            f"{extrapolated:.0f}",
            f"{base['peak']:.0f}",
            base["failed"],
        ],
    ]
    table(["run", "wall s (measured)", f"wall s for {n}", "peak RSS MB", "not completed"], rows)
    print(
        f"speed-up: {extrapolated / ours['wall']:.0f}x; {n / ours['wall']:.0f} jobs/s; "
        f"all {n} queued after {ours['enq']:.1f}s"
    )
    if n == 1000:
        print(f"target: 1,000 jobs < {TARGET_S:g} s {verdict(ours['wall'] < TARGET_S)}")
    return 1 if ours["failed"] or base["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
