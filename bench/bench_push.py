"""A push of 1,000 test cases to the fake TestRail, answering in 50 ms and allowing 3,000 requests a minute:
the run's time against the time the rate limit itself allows for the requests it needs (target ≤ 1.15x),
with 0 duplicates and 0 answers 429.

    .venv/bin/python bench/bench_push.py [--quick] [--path sync|direct] [--cases N] [--stories N]
        [--per-minute N] [--delay-s S] [--concurrency N]

The fake TestRail (tests/support/fake_testrail.py) runs in this process on 127.0.0.1; its limit is a
token bucket refilling per-minute/60 a second and holding a second's worth. The cases go through the
real TestRail connector (httpx, ToolHttp paced at the same per-minute figure): with `--path sync` (the
default) through the push's sync with its default
concurrency and an in-memory mapping store, and then pushed again unchanged (0 requests expected);
with `--path direct`, `--concurrency` creates at a time straight on the connector. `--quick`: 200 cases
at 600 a minute. Floor = requests the fake received x 60 / per-minute. Exits non-zero only when a case
fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from _harness import table, verdict

from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import CaseDoc, Connector, StoryRef
from testgen.testmgmt.factory import HttpOptions, connect
from testgen.testmgmt.sync import Outcome, SyncOptions, push_cases
from tests.support.fake_testrail import FakeTestRail
from tests.support.memory_tool import MemoryMappings

TARGET_RATIO = 1.15


@dataclass(frozen=True)
class Config:
    cases: int
    stories: int
    per_minute: int
    delay_s: float
    concurrency: int
    path: str


@dataclass(frozen=True)
class Result:
    label: str
    wall_s: float
    requests: int
    throttled: int
    failed: int


def workload(cases: int, stories: int) -> list[tuple[StoryRef, list[CaseDoc]]]:
    """`cases` test cases of 3 scenarios, spread evenly over `stories` stories."""
    refs = [StoryRef(id=f"B-{s:04d}", title=f"Checkout story {s}", language="en") for s in range(stories)]
    plan: list[tuple[StoryRef, list[CaseDoc]]] = [(ref, []) for ref in refs]
    for n in range(1, cases + 1):
        scenarios = [
            Scenario(
                title=f"Pay with saved card {n}.{k}",
                given=["a shopper with a saved card", f"a basket of {k + 1} items"],
                when=["the shopper pays with the saved card"],
                then=["the order is placed", "a receipt is emailed"],
            )
            for k in range(3)
        ]
        plan[(n - 1) * stories // cases][1].append(
            CaseDoc(
                test_case_id=n,
                title=f"Saved card payment {n}",
                description="Paying with a saved card asks for the CVC only.",
                preconditions=["The shopper is signed in", "A card is saved"],
                priority=("low", "medium", "high", "critical")[n % 4],
                test_type=("functional", "negative", "boundary")[n % 3],
                scenarios=scenarios,
                gherkin="",
            )
        )
    return plan


def new_connector(fake: FakeTestRail, per_minute: int) -> Connector:
    settings = fake.settings(requests_per_minute=per_minute)
    return connect(ConnectionKind.testrail, settings, fake.secrets, "bench TestRail", HttpOptions())


async def push_direct(connector: Connector, plan: list[tuple[StoryRef, list[CaseDoc]]], limit: int) -> int:
    """`limit` workers creating the cases in order, straight on the connector; while a story's first
    case (and its section) is being made, a worker takes a case of another story. Failures."""
    pending = [(story, case) for story, cases in plan for case in cases]
    opening: set[str] = set()
    opened: set[str] = set()
    changed = asyncio.Condition()
    failed = 0

    def ready(story: StoryRef) -> bool:
        return story.id in opened or story.id not in opening

    async def worker() -> None:
        nonlocal failed
        while True:
            async with changed:
                pick = None
                while pick is None:
                    if not pending:
                        return
                    pick = next((i for i, (story, _) in enumerate(pending) if ready(story)), None)
                    if pick is None:
                        await changed.wait()
                story, case = pending.pop(pick)
                first = story.id not in opening
                opening.add(story.id)
            try:
                await connector.create(story, case)
            except Exception as exc:
                failed += 1
                print(f"case {case.test_case_id} failed: {exc}", file=sys.stderr)
            finally:
                if first:
                    async with changed:
                        opened.add(story.id)
                        changed.notify_all()

    await asyncio.gather(*(worker() for _ in range(limit)))
    return failed


async def push_sync(
    connector: Connector, plan: list[tuple[StoryRef, list[CaseDoc]]], mappings: MemoryMappings
) -> int:
    async def progress(done: int, total: int) -> None:
        return None

    report = await push_cases(connector, plan, mappings, SyncOptions(), progress)
    for case in report.of(Outcome.failed):
        print(f"case {case.test_case_id} failed: {case.message}", file=sys.stderr)
    return len(report.of(Outcome.failed))


async def timed(label: str, fake: FakeTestRail, run: Any) -> Result:
    before = len(fake.requests)
    started = time.perf_counter()
    failed = await run
    wall = time.perf_counter() - started
    sent = fake.requests[before:]
    return Result(label, wall, len(sent), sum(r.status == 429 for r in sent), failed)


async def bench(config: Config) -> tuple[list[Result], FakeTestRail]:
    plan = workload(config.cases, config.stories)
    fake = FakeTestRail(per_minute=config.per_minute, delay_s=config.delay_s).start()
    try:
        connector = new_connector(fake, config.per_minute)
        try:
            if config.path == "direct":
                first = push_direct(connector, plan, config.concurrency)
                return [await timed("push (connector)", fake, first)], fake
            mappings = MemoryMappings(existing_ids={case.test_case_id for _, cases in plan for case in cases})
            results = [await timed("push (sync)", fake, push_sync(connector, plan, mappings))]
        finally:
            await connector.aclose()
        again = new_connector(fake, config.per_minute)  # a new job: nothing cached in the connector
        try:
            results.append(await timed("push again, unchanged", fake, push_sync(again, plan, mappings)))
        finally:
            await again.aclose()
        return results, fake
    finally:
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 cases at 600 requests a minute")
    parser.add_argument("--path", choices=["sync", "direct"], default="sync")
    parser.add_argument("--cases", type=int)
    parser.add_argument("--stories", type=int)
    parser.add_argument("--per-minute", type=int)
    parser.add_argument("--delay-s", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4, help="creates at a time (--path direct)")
    args = parser.parse_args()
    cases = args.cases or (200 if args.quick else 1000)
    config = Config(
        cases=max(1, min(cases, 20_000)),
        stories=max(1, min(args.stories or max(1, cases // 20), cases)),
        per_minute=max(1, args.per_minute or (600 if args.quick else 3000)),
        delay_s=max(0.0, args.delay_s),
        concurrency=max(1, min(args.concurrency, 64)),
        path=args.path,
    )
    results, fake = asyncio.run(bench(config))

    first = results[0]
    floor = first.requests * 60 / config.per_minute
    ratio = first.wall_s / floor
    stored = len(fake.cases)
    duplicates = sum(n - 1 for n in fake.duplicates().values())
    print(
        f"{config.cases:,} test cases in {config.stories} stories to the fake TestRail "
        f"({config.delay_s * 1000:.0f} ms an answer, {config.per_minute:,} requests a minute), "
        f"path: {config.path}"
    )
    rows = [
        [r.label, f"{r.wall_s:.2f}", r.requests, r.throttled, r.failed]
        + ([f"{ratio:.3f}x of {floor:.2f} s"] if r is first else ["-"])
        for r in results
    ]
    table(["run", "wall s", "requests", "429s", "failed", "wall / rate-limit floor"], rows)
    met = ratio <= TARGET_RATIO and duplicates == 0 and first.throttled == 0 and stored == config.cases
    print(
        f"cases in the tool: {stored:,} (duplicates: {duplicates}); target <= {TARGET_RATIO}x, "
        f"0 duplicates, 0 429s: {verdict(met)}"
    )
    if len(results) > 1:
        print(f"unchanged re-push: {results[1].requests} requests (expected 0)")
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
