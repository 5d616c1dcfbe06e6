"""Prompt tokens per generated scenario, and the share providers serve from their prompt cache, on a
fixed set of 50 stories: this tree's prompt layout (one prefix shared by every batch of a job, the
batch's own part after it) against the layout of `--baseline` (git), in the same run.

    .venv/bin/python bench/bench_tokens.py [--quick] [--baseline REV]

Each story is generated as a job of 15 test cases x 3 scenarios in batches of at most 15 scenarios
(three calls, BATCH_MAX_SCENARIOS' default); some stories carry project instructions, a text
attachment or saved test cases. Each side's prompts are built by its own code (a process with that
tree on its path) and counted by the rule the tests' fakes use (4 characters a token, system
instruction included). Cached tokens follow the providers' documented implicit caching
(tests/support/prompt_cache.py): a call's prefix shared with an earlier call of the job, counted from
1,024 tokens (Gemini; OpenAI also rounds down to steps of 128), the job's calls in batch order: a
job's batches sent at once are served from the cache only once the first has been read, which is
what an explicit cache (GEMINI_CACHE_MIN_TOKENS) guarantees for a large prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.prompt_cache import Piece, PromptCache  # noqa: E402

BASELINE = "0585b69"  # a layout whose batches part right after the story and its files
STORIES = 50
NUM_TEST_CASES, PER_CASE, BATCH_MAX = 15, 3, 15
WORDS = [
    "basket",
    "checkout",
    "payment",
    "card",
    "order",
    "invoice",
    "customer",
    "account",
    "address",
    "delivery",
    "discount",
    "voucher",
    "total",
    "tax",
    "refund",
    "stock",
    "warehouse",
    "email",
    "notification",
    "password",
    "session",
    "admin",
    "report",
    "export",
    "filter",
    "search",
    "page",
    "limit",
    "error",
    "message",
    "retry",
    "timeout",
    "currency",
    "price",
    "quantity",
    "item",
    "shipping",
    "return",
]

BUILD = r"""
import dataclasses, json, sys
from testgen.generation.llm.base import CoveredTest, StoryText
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt
from testgen.generation.llm.story_files import StoryFiles, TextPart
from testgen.generation.planning import plan_batches

out = []
for s in json.load(sys.stdin):
    story = StoryText(s["id"], s["title"], s["description"], s["criteria"], s["language"])
    files = StoryFiles(texts=tuple(TextPart(n, t) for n, t in s["files"]))
    saved = [CoveredTest(i, t, titles) for i, t, titles in s["saved"]]
    batches = plan_batches(story, s["cases"], s["per_case"], s["batch_max"])
    batches = [
        dataclasses.replace(b, instructions=s["instructions"], saved_tests=saved, files=files)
        for b in batches
    ]
    out.append({"system": SYSTEM_INSTRUCTION, "prompts": [build_prompt(b) for b in batches]})
json.dump(out, sys.stdout)
"""


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def stories(count: int) -> list[dict[str, Any]]:
    """The fixed set: seeded, so every run and both sides see the same stories."""
    rng = random.Random(20261207)
    found = []
    for i in range(count):
        criteria = [sentence(rng, rng.randint(8, 20)) for _ in range(rng.randint(3, 8))]
        description = " ".join(sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(3, 40)))
        instructions = " ".join(sentence(rng, 12) for _ in range(8)) if i % 3 == 0 else ""
        spec = "\n".join(sentence(rng, 14) for _ in range(rng.randint(30, 200)))
        files = [("spec.md", spec)] if i % 4 == 0 else []
        saved = [(n, sentence(rng, 4), [sentence(rng, 6) for _ in range(3)]) for n in range(i % 5 * 2)]
        found.append(
            {
                "id": f"US-{i + 1:03}",
                "title": sentence(rng, 5),
                "description": description,
                "criteria": criteria,
                "language": "en",
                "instructions": instructions,
                "files": files,
                "saved": saved,
                "cases": NUM_TEST_CASES,
                "per_case": PER_CASE,
                "batch_max": BATCH_MAX,
            }
        )
    return found


def prompts(src: Path, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The system instruction and each batch's prompt per story, built by the code under `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-c", BUILD]
    run = subprocess.run(command, input=json.dumps(data), capture_output=True, text=True, env=env, check=True)
    return list(json.loads(run.stdout))


def measure(jobs: list[dict[str, Any]], step: int) -> dict[str, float]:
    """Prompt tokens per scenario, the cached share of them, and the uncached ones per scenario."""
    prompt = cached = 0
    scenarios = len(jobs) * NUM_TEST_CASES * PER_CASE
    for job in jobs:
        cache = PromptCache(min_tokens=1024, step=step)  # one job's calls; another job starts cold
        for text in job["prompts"]:
            pieces = [Piece(job["system"]), Piece(text)]
            prompt += sum(p.count() for p in pieces)
            cached += cache.cached("model", pieces)
    return {
        "prompt_per_scenario": prompt / scenarios,
        "cached_share": cached / prompt,
        "uncached_per_scenario": (prompt - cached) / scenarios,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 stories")
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args()
    count = 10 if args.quick else STORIES
    data = stories(count)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(tree), args.baseline], cwd=ROOT, check=True
        )
        try:
            sides = {"baseline": prompts(tree / "src", data), "ours": prompts(ROOT / "src", data)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    calls = sum(len(job["prompts"]) for job in sides["ours"])
    print(f"{count} stories, {calls} calls, {NUM_TEST_CASES * PER_CASE} scenarios a story")
    head = f"{'layout':<10} {'provider':<8} {'prompt tok/scenario':>20} {'cached share':>13}"
    print(f"{head} {'uncached tok/scenario':>22}")
    for name, jobs in sides.items():
        for provider, step in (("gemini", 1), ("openai", 128)):
            m = measure(jobs, step)
            print(
                f"{name:<10} {provider:<8} {m['prompt_per_scenario']:>20.1f} {m['cached_share']:>12.1%} "
                f"{m['uncached_per_scenario']:>22.1f}"
            )
    if args.quick:
        print("(quick: 10 stories; the figures of record are the full run's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
