"""Pacing to a quota of requests and tokens a minute: 4 workers calling through GeminiProvider (the real
google-genai SDK) against the fake Gemini keeping 600 requests and 300,000 tokens a minute, answering
429 past either (QuotaFailure and RetryInfo, as the API does).

    .venv/bin/python bench/bench_quota.py [--quick] [--calls N] [--baseline REV]

The minute is scaled: the fake's window and the workers' (the injected `rpm_window_s`) last
`--window-s` (6 s; `--quick`: 2 s, with the limits scaled by the same third), so a run takes under a
minute. Three sides in one run, each in its own process of 4 worker loops sharing one Redis:

- *current*: the code at `--baseline` (git), paced to requests a minute only (`LLM_RPM=600`);
- *ours*: this tree, `LLM_RPM=600` and `LLM_TPM=300000`;
- *ours, RPM only*: this tree with `LLM_RPM=600` alone, learning the token quota from the 429s.

Throughput is measured against what the tighter limit allows, its rate: N calls take N / per window
windows, with per window = min(requests, tokens / the mean tokens of an answered call), as
bench_push.py's floor is requests x 60 s / the limit. (A side that bursts a first window's worth at
once may beat it by that much in a short run.)
Targets (ours): throughput >= 0.95x that, and at most 1% of the calls answered 429.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
CONCURRENCY = 16  # LLM_MAX_CONCURRENCY of each worker
LATENCY_S = 0.05  # the fake's answer time
RPM, TPM = 600, 300_000
MODEL = "gemini-2.5-flash"  # the model the fake keeps a quota for; the warm-up calls ask another
BASELINE = "761107a"  # the last revision paced to requests a minute only
TARGET_THROUGHPUT = 0.95
TARGET_REFUSED = 0.01


async def _side(args: argparse.Namespace) -> dict[str, Any]:
    """One side: 4 worker loops (a provider each, as 4 worker processes would have) taking calls
    from one shared count until `calls` were made. Runs in its own process, on the code of its
    PYTHONPATH."""
    from redis.asyncio import Redis

    from testgen.core.config import Settings
    from testgen.generation.llm.base import BatchRequest, LLMError, StoryText
    from testgen.generation.llm.gemini import GeminiProvider
    from testgen.generation.planning import plan_batches

    story = StoryText(
        id="BENCH-Q",
        title="Checkout with saved cards",
        description="As a shopper I want to pay with a saved card so that checkout is fast.",
        acceptance_criteria=[
            "Saved cards are listed with brand and last 4 digits",
            "Paying with a saved card asks for the CVC",
            "An expired card cannot be selected",
        ],
    )
    batch: BatchRequest = plan_batches(story, 3, 1, 3)[0]
    limits = {"llm_rpm": args.rpm, **({"llm_tpm": args.tpm} if args.tpm else {})}
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        llm_provider="gemini",
        gemini_api_key="bench-key",
        gemini_base_url=args.fake,
        gemini_timeout_s=60,
        gemini_model=MODEL,
        llm_max_concurrency=CONCURRENCY,
        llm_max_attempts=10,
        redis_url=args.redis,
        **limits,
    )
    redis = Redis.from_url(args.redis)
    providers = [GeminiProvider(settings, redis, rpm_window_s=args.window_s) for _ in range(WORKERS)]
    # One call per worker first, of a model without a quota: one-time setup inside the SDK (its
    # client, the first connection) is neither timed nor seen late by the fake's window.
    await asyncio.gather(*(p.generate_batch(batch, "warm-up") for p in providers))
    taken, failed = 0, 0

    async def loop(provider: GeminiProvider) -> None:
        nonlocal taken, failed
        while taken < args.calls:
            taken += 1
            try:
                await provider.generate_batch(batch)
            except LLMError:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(p) for p in providers for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    for provider in providers:
        await provider.aclose()
    await redis.aclose()
    return {"wall_s": wall, "failed": failed}


def run_side(
    name: str, src: Path, args: argparse.Namespace, fake: Any, redis_url: str, tpm: int
) -> dict[str, Any]:
    """Run one side in a process on the code in `src`; the fake's counts are read after."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    fake.reset()
    fake.latency_s = LATENCY_S
    fake.enforce(rpm=args.rpm, tpm=args.tpm, window_s=args.window_s, model=MODEL)
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    command = [
        sys.executable,
        __file__,
        "--side",
        "--fake",
        fake.url,
        "--redis",
        redis_url,
        "--calls",
        str(args.calls),
        "--window-s",
        str(args.window_s),
        "--rpm",
        str(args.rpm),
        "--tpm",
        str(tpm),
    ]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    answered = [r for r in fake.requests if r.usage]
    result["requests"] = fake.calls
    result["refused"] = fake.quota_refusals
    result["tokens_per_call"] = sum(r.usage["totalTokenCount"] for r in answered) / max(1, len(answered))
    return result


def report(name: str, result: dict[str, Any], args: argparse.Namespace) -> tuple[float, float]:
    per_window = min(args.rpm, args.tpm / result["tokens_per_call"])
    floor_s = args.calls / per_window * args.window_s
    throughput = floor_s / result["wall_s"]
    refused = result["refused"] / max(1, result["requests"])
    print(
        f"{name:<16} {result['wall_s']:7.2f} s  throughput {throughput:5.3f}x of the limit "
        f"(floor {floor_s:.2f} s, {per_window:.0f} calls a window, "
        f"{result['tokens_per_call']:.0f} tokens each)  "
        f"429s {result['refused']:5d} of {result['requests']:5d} requests ({refused:6.2%})  "
        f"failed calls {result['failed']}"
    )
    return throughput, refused


def baseline_src(rev: str, into: Path) -> Path | None:
    """The `src` tree at `rev`, extracted from git; None when git does not have it."""
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        print(f"no baseline: git has no {rev} ({archive.stderr.decode().strip()})")
        return None
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500 calls in 2 s windows, a smoke run")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--window-s", type=float, default=None)
    parser.add_argument("--baseline", default=BASELINE, help="the git revision of the current code")
    parser.add_argument("--ours-rev", help="a git revision to bench as ours (default: the working tree)")
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fake", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--rpm", type=int, default=RPM, help=argparse.SUPPRESS)
    parser.add_argument("--tpm", type=int, default=TPM, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(asyncio.run(_side(args))))
        return 0
    scale = 1 / 3 if args.quick else 1.0
    args.calls = min(args.calls or (500 if args.quick else 2000), 20_000)
    args.window_s = args.window_s or (2.0 if args.quick else 6.0)
    args.rpm, args.tpm = round(RPM * scale), round(TPM * scale)

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))
    from testgen.core import embedded_redis
    from tests.support.fake_gemini import FakeGemini

    print(
        f"{args.calls} calls, 4 workers x {CONCURRENCY} at once, fake quota {args.rpm} requests and "
        f"{args.tpm} tokens per {args.window_s:g} s window (the minute scaled), answers in {LATENCY_S:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="testgen-bench-quota-") as tmp:
        server = embedded_redis.start(data_dir=Path(tmp) / "redis", persist=False)
        try:
            with FakeGemini() as fake:
                fake.echo_key = False
                old = baseline_src(args.baseline, Path(tmp) / "current")
                ours = baseline_src(args.ours_rev, Path(tmp) / "ours") if args.ours_rev else ROOT / "src"
                if ours is None:
                    return 1
                results = {}
                if old is not None:
                    results["current"] = run_side("current", old, args, fake, server.url, 0)
                results["ours"] = run_side("ours", ours, args, fake, server.url, args.tpm)
                results["ours, RPM only"] = run_side("ours, RPM only", ours, args, fake, server.url, 0)
        finally:
            server.stop()
    measured = {name: report(name, result, args) for name, result in results.items()}
    throughput, refused = measured["ours"]
    ok = throughput >= TARGET_THROUGHPUT and refused <= TARGET_REFUSED
    verdict = "met" if ok else "MISSED"
    if args.quick:  # 2 s windows magnify the workers' own delays tenfold against the guard
        verdict += " (the targets are the full run's)"
    print(
        f"ours: throughput {throughput:.3f}x (target >= {TARGET_THROUGHPUT}), 429s {refused:.2%} "
        f"(target <= {TARGET_REFUSED:.0%}): {verdict}"
    )
    if "current" in measured:
        print(f"current code: throughput {measured['current'][0]:.3f}x, 429s {measured['current'][1]:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
