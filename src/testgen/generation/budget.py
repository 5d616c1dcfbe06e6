"""What a job will cost before it runs: the tokens a daily budget is checked against."""

from __future__ import annotations

from collections.abc import Sequence

from testgen.generation.llm.base import BatchRequest
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt

CHARS_PER_TOKEN = 4
OUTPUT_TOKENS_PER_SCENARIO = 120  # a Gherkin scenario as JSON, with its share of the test case


def estimate_tokens(batches: Sequence[BatchRequest]) -> int:
    """The tokens of the job's first calls: prompts (system rules, attachment text and images included)
    and answers. Replacing duplicates may add at most as much again; the estimate counts the base only."""
    return sum(
        call_tokens(SYSTEM_INSTRUCTION, build_prompt(b), b.scenario_count) + b.files.image_tokens
        for b in batches
    )


def call_tokens(system: str, prompt: str, scenarios: int | None) -> int:
    """The tokens of one call: its prompt and its answer (`scenarios` scenarios, or None for a free
    answer, counted as long as the prompt). The model-call pacing charges it before the call."""
    asked = (len(system) + len(prompt)) // CHARS_PER_TOKEN
    return asked + (asked if scenarios is None else scenarios * OUTPUT_TOKENS_PER_SCENARIO)
