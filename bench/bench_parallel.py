"""Parallel vs sequential batches through each remote provider against its fake server: GeminiProvider
and the fake Gemini, OpenAIProvider (the real openai SDK) and the fake OpenAI-compatible server.

    .venv/bin/python bench/bench_parallel.py [--quick] [--provider gemini|openai|all]

The fake answers each call after `latency + per-scenario latency x scenarios asked`, like a model whose
time grows with the output. With enough concurrency, a job should take about as long as its slowest
batch (target: parallel / slowest <= 1.25). Exits non-zero only when a call fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testgen.core.config import Settings  # noqa: E402
from testgen.generation.llm.base import BatchRequest, LLMError, LLMProvider, StoryText  # noqa: E402
from testgen.generation.llm.gemini import GeminiProvider  # noqa: E402
from testgen.generation.llm.openai_compat import OpenAIProvider  # noqa: E402
from testgen.generation.planning import plan_batches  # noqa: E402
from tests.support.fake_gemini import FakeGemini  # noqa: E402
from tests.support.fake_openai import FakeOpenAI  # noqa: E402

TARGET_RATIO = 1.25
STORY = StoryText(
    id="BENCH-1",
    title="Checkout with saved cards",
    description="As a shopper I want to pay with a saved card so that checkout is fast.",
    acceptance_criteria=[
        "Saved cards are listed with brand and last 4 digits",
        "Paying with a saved card asks for the CVC",
        "An expired card cannot be selected",
        "A declined payment shows the bank's reason",
        "Cards can be removed from the list",
    ],
)


@dataclass(frozen=True)
class BenchConfig:
    test_cases: int = 50
    scenarios_per_test_case: int = 3
    batch_max_scenarios: int = 15
    latency_s: float = 0.5
    latency_per_scenario_s: float = 0.1
    max_concurrency: int = 32


@dataclass(frozen=True)
class RunResult:
    wall_s: float
    call_latencies_s: list[float]
    test_cases: int

    @property
    def slowest_s(self) -> float:
        return max(self.call_latencies_s)


Generate = Callable[[BatchRequest], Awaitable[int]]


def provider_runner(provider: LLMProvider) -> Generate:
    """A runner that calls the provider directly; the number of test cases it returned."""

    async def run(request: BatchRequest) -> int:
        result = await provider.generate_batch(request)
        return len(result.test_cases)

    return run


async def _timed(generate: Generate, request: BatchRequest) -> tuple[float, int]:
    started = time.perf_counter()
    count = await generate(request)
    return time.perf_counter() - started, count


async def run_parallel(generate: Generate, batches: list[BatchRequest]) -> RunResult:
    started = time.perf_counter()
    timed = await asyncio.gather(*(_timed(generate, b) for b in batches))
    return RunResult(time.perf_counter() - started, [t for t, _ in timed], sum(n for _, n in timed))


async def run_sequential(generate: Generate, batches: list[BatchRequest]) -> RunResult:
    started = time.perf_counter()
    timed = [await _timed(generate, b) for b in batches]
    return RunResult(time.perf_counter() - started, [t for t, _ in timed], sum(n for _, n in timed))


def make_provider(name: str, config: BenchConfig, fake: FakeGemini) -> LLMProvider:
    settings = Settings(
        _env_file=None,
        llm_provider=name,
        gemini_api_key="bench-key",
        gemini_base_url=fake.url,
        gemini_timeout_s=60,
        openai_api_key="bench-key",
        openai_base_url=fake.url,
        openai_model="bench-model",
        openai_timeout_s=60,
        llm_max_concurrency=config.max_concurrency,
        llm_rpm=0,
    )
    return OpenAIProvider(settings, None) if name == "openai" else GeminiProvider(settings, None)


async def bench(config: BenchConfig, fake: FakeGemini, name: str) -> tuple[RunResult, RunResult, int]:
    batches = plan_batches(
        STORY, config.test_cases, config.scenarios_per_test_case, config.batch_max_scenarios
    )
    provider = make_provider(name, config, fake)
    try:
        generate = provider_runner(provider)
        # One call first, so one-time imports and setup inside the SDK are not timed.
        fake.latency_s, fake.latency_per_scenario_s = 0.0, 0.0
        await generate(batches[0])
        fake.latency_s, fake.latency_per_scenario_s = config.latency_s, config.latency_per_scenario_s
        fake.reset()
        parallel = await run_parallel(generate, batches)
        max_in_flight = fake.max_in_flight
        sequential = await run_sequential(generate, batches)
    finally:
        await provider.aclose()
    return parallel, sequential, max_in_flight


def report(config: BenchConfig, parallel: RunResult, sequential: RunResult, max_in_flight: int) -> None:
    scenarios = config.test_cases * config.scenarios_per_test_case
    batches = len(parallel.call_latencies_s)
    slowest = sequential.slowest_s
    ratio = parallel.wall_s / slowest
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    if config.latency_s < 0.5:  # the target is for the workload, not the quick one
        verdict = "applies to the full run, not to --quick"
    rows = [
        ("job", f"{config.test_cases} test cases x {config.scenarios_per_test_case} = {scenarios} scenarios"),
        ("batches", f"{batches} (max {config.batch_max_scenarios} scenarios each)"),
        ("fake latency", f"{config.latency_s:g}s + {config.latency_per_scenario_s:g}s/scenario"),
        ("slowest single call", f"{slowest:.3f}s (alone); {parallel.slowest_s:.3f}s (in the parallel run)"),
        ("parallel wall time", f"{parallel.wall_s:.3f}s ({max_in_flight} calls in flight at most)"),
        (
            "parallel / slowest",
            f"{ratio:.3f} (target <= {TARGET_RATIO}: {verdict})",
        ),
        ("sequential wall time", f"{sequential.wall_s:.3f}s"),
        ("speedup", f"{sequential.wall_s / parallel.wall_s:.2f}x"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small latencies, for a CI smoke run")
    parser.add_argument("--test-cases", type=int, default=50)
    parser.add_argument("--scenarios-per-test-case", type=int, default=3)
    parser.add_argument("--batch-max-scenarios", type=int, default=15)
    parser.add_argument("--max-concurrency", type=int, default=32)
    parser.add_argument("--provider", choices=["gemini", "openai", "all"], default="all")
    args = parser.parse_args(argv)
    latency, per_scenario = (0.05, 0.01) if args.quick else (0.5, 0.1)
    config = BenchConfig(
        test_cases=args.test_cases,
        scenarios_per_test_case=args.scenarios_per_test_case,
        batch_max_scenarios=args.batch_max_scenarios,
        latency_s=latency,
        latency_per_scenario_s=per_scenario,
        max_concurrency=args.max_concurrency,
    )
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    names = ["gemini", "openai"] if args.provider == "all" else [args.provider]
    for n, name in enumerate(names):
        fake = FakeOpenAI() if name == "openai" else FakeGemini()
        with fake:
            try:
                parallel, sequential, max_in_flight = asyncio.run(bench(config, fake, name))
            except LLMError as exc:
                print(f"bench failed ({name}): {exc.type}: {exc.message}", file=sys.stderr)
                return 1
        print(("\n" if n else "") + f"provider: {name}")
        report(config, parallel, sequential, max_in_flight)
    return 0


if __name__ == "__main__":
    sys.exit(main())
