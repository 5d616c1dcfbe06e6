"""Job concurrency and the real model path: 1,000 jobs of 15 x 3 scenarios (3 model calls of 1 s
each) on one worker process, offline and through google-genai against the fake Gemini, against 4
jobs at a time.

    .venv/bin/python bench/bench_jobs.py [--quick]

One `python -m testgen worker` subprocess per run. The jobs are queued as the API's bulk enqueue
does (bulk_enqueue.enqueue_stories, 500 stories per call: rows in one transaction, one Redis round
trip). Wall time = first enqueue -> last `finished_at` in the database; the worker's CPU time
(user + system, from /proc) and its highest VmRSS (sampled every 0.1 s) are measured over the run,
and so is this process's own CPU time (`bench CPU s`: its polling and, in the Gemini run, the fake
server). The Gemini run goes through the real SDK to tests/support/fake_gemini.py (in this process, on its
own thread), which answers each call after 1 s. The 4-at-a-time baseline runs fewer jobs and is
extrapolated linearly to the same count (a fixed 4-wide pipeline, so that is fair).

The reference for the Gemini path, measured in the same run against the same fake: a plain
google-genai client sending the same requests (bench/_plain_sdk.py, in a process of its own), its CPU
per call. One worker's event loop runs on one core, so the SDK's own CPU for every call adds to the
worker's CPU of the offline run: "with the SDK's cost alone" estimates the Gemini run's wall time if
testgen's Gemini path cost nothing beyond a plain SDK call (the offline wall time when that sum is less).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _harness import ROOT, Env, cpu_s, environment, rss_mb, seed_stories, subprocess_worker, table, verdict
from sqlalchemy import func, select

from testgen.api.schemas.jobs import BulkQueueRequest
from testgen.api.services import bulk_enqueue
from testgen.api.services.job_queue import JobQueue
from testgen.core.database import create_engine, create_sessionmaker
from testgen.core.redis import create_redis
from testgen.data.job_states import TERMINAL
from testgen.data.models import GenerationJob
from testgen.streaming.progress_store import ProgressStore

sys.path.insert(0, str(ROOT))
from tests.support.fake_gemini import FakeGemini

OPTIONS = {"num_test_cases": 15, "scenarios_per_test_case": 3}  # 45 scenarios -> 3 batches of 15
LATENCY_S = 1.0
CHUNK = 500
GEMINI_TARGET = 1.5
SPEEDUP_TARGET = 20.0


async def run(
    env: Env, n: int, max_jobs: int, prefix: str, fake: FakeGemini | None = None, profile: Path | None = None
) -> dict[str, Any]:
    stories = await seed_stories(env.database_url, n, prefix=prefix)
    model: dict[str, Any] = (
        {
            "llm_provider": "gemini",
            "gemini_api_key": "bench-key",
            "gemini_base_url": fake.url,
            "gemini_timeout_s": 60,
        }
        if fake is not None
        else {"llm_provider": "offline", "offline_llm_delay_s": LATENCY_S}
    )
    settings = env.settings(**model)
    engine = create_engine(env.database_url)
    sessions = create_sessionmaker(engine)
    redis = create_redis(env.redis_url, max_connections=32)
    queue = JobQueue(redis, ProgressStore(redis, settings.keep_result_s), settings)
    peak = 0.0
    overrides = {**model, "worker_max_jobs": max_jobs, "llm_max_concurrency": 3 * max_jobs}
    calls_before = fake.calls if fake is not None else 0
    try:
        with subprocess_worker(env, **overrides) as proc:
            await asyncio.sleep(2.0)  # worker start-up (imports, Redis, DB) is not timed
            cpu_before, own_before = cpu_s([proc.pid]), cpu_s([os.getpid()])
            spy = (
                await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).parent / "py-spy"),
                    *("record", "--format", "raw", "--pid", str(proc.pid), "--output", str(profile)),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                if profile is not None
                else None
            )
            t0 = dt.datetime.now(dt.UTC)
            ids: set[str] = set()
            for start in range(0, n, CHUNK):
                request = BulkQueueRequest(story_ids=stories[start : start + CHUNK], **OPTIONS)
                async with sessions() as session:
                    batch = await bulk_enqueue.enqueue_stories(session, queue, request)
                ids.update(job.id for job in batch.jobs)
            enqueue_s = (dt.datetime.now(dt.UTC) - t0).total_seconds()
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                peak = max(peak, rss_mb([proc.pid]))
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
            cpu, own = cpu_s([proc.pid]) - cpu_before, cpu_s([os.getpid()]) - own_before
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await asyncio.wait_for(spy.wait(), 30)
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
    calls = (fake.calls - calls_before) if fake is not None else 3 * n
    return {
        "n": n,
        "wall": (last - t0).total_seconds(),
        "peak": peak,
        "failed": failed,
        "enq": enqueue_s,
        "cpu": cpu,
        "own": own,
        "calls": calls,
    }


async def plain_sdk_ms_per_call(fake: FakeGemini, calls: int) -> float:
    """CPU ms per call of a plain google-genai client against `fake` (bench/_plain_sdk.py)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *(str(ROOT / "bench" / "_plain_sdk.py"), fake.url, "--calls", str(calls)),
        *("--concurrency", str(min(calls, 1000))),
        stdout=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    if proc.returncode:
        raise RuntimeError(f"bench/_plain_sdk.py failed with exit code {proc.returncode}")
    return float(json.loads(out)["cpu_ms_per_call"])


async def bench(n: int, n_base: int, fake: FakeGemini, profile: Path | None) -> dict[str, Any]:
    with environment() as env:
        return {
            "offline": await run(env, n, 1000, "J"),
            "gemini": await run(env, n, 1000, "G", fake, profile),
            "base": await run(env, n_base, 4, "K"),
            "plain_ms": await plain_sdk_ms_per_call(fake, 3 * n),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--profile", type=Path, help="py-spy (pip install py-spy) the Gemini run's worker into FILE"
    )
    args = parser.parse_args()
    n, n_base = (100, 8) if args.quick else (1000, 40)
    with FakeGemini(latency_s=LATENCY_S) as fake:
        results = asyncio.run(bench(n, n_base, fake, args.profile))
    offline, gemini, base = results["offline"], results["gemini"], results["base"]
    extrapolated = base["wall"] * n / n_base
    print(
        f"{n} jobs x 3 batches (15 x 3 scenarios), model latency {LATENCY_S:g} s per call, one worker process"
    )
    rows = [
        [
            f"{label}, {r['n']} jobs",
            f"{r['wall']:.1f}",
            f"{r['enq']:.2f}",
            f"{r['cpu']:.1f}",
            f"{r['cpu'] / r['n'] * 1000:.1f}",
            f"{r['cpu'] / r['calls'] * 1000:.2f}",
            f"{r['own']:.1f}",
            f"{r['peak']:.0f}",
            r["failed"],
        ]
        for label, r in (
            ("offline, 1000 at a time", offline),
            ("gemini via google-genai + fake, 1000 at a time", gemini),
            ("offline, 4 at a time", base),
        )
    ]
    table(
        [
            "run",
            "wall s",
            "enqueue s",
            "worker CPU s",
            "CPU ms/job",
            "CPU ms/call",
            "bench CPU s",
            "peak RSS MB",
            "not completed",
        ],
        rows,
    )
    ratio, speedup = gemini["wall"] / offline["wall"], extrapolated / offline["wall"]
    print(
        f"gemini / offline wall: {ratio:.2f}x; offline vs 4 at a time (extrapolated to {n}): {speedup:.0f}x"
    )
    plain = results["plain_ms"]
    ours = (gemini["cpu"] - offline["cpu"]) / gemini["calls"] * 1000
    bound = max(offline["wall"], offline["cpu"] + gemini["calls"] * plain / 1000)
    allowed = (GEMINI_TARGET * offline["wall"] - offline["cpu"]) / gemini["calls"] * 1000
    print(
        f"plain google-genai client (bench/_plain_sdk.py): {plain:.2f} ms of CPU per call; the worker's "
        f"Gemini run over its offline run: {ours:.2f} ms per call ({ours / plain:.2f}x the plain client)"
    )
    print(
        f"with the SDK's cost alone: {bound:.1f} s, {bound / offline['wall']:.2f}x offline "
        f"(the {GEMINI_TARGET:g}x target leaves {allowed:.2f} ms of CPU per call)"
    )
    if args.quick:
        print("targets: they apply to the full run (1,000 jobs), not to --quick")
    else:
        print(
            f"targets: gemini / offline <= {GEMINI_TARGET}x {verdict(ratio <= GEMINI_TARGET)}; "
            f"offline vs 4 at a time >= {SPEEDUP_TARGET:g}x {verdict(speedup >= SPEEDUP_TARGET)}"
        )
    return 1 if offline["failed"] or gemini["failed"] or base["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
