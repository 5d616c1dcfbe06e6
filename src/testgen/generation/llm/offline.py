"""A deterministic provider that needs no network: scenarios built from the acceptance criteria."""

from __future__ import annotations

import asyncio
import math
import re
import time

from opentelemetry.trace import SpanKind

from testgen.core.config import OFFLINE_MODEL
from testgen.core.metrics import CALL_OK, service_metrics
from testgen.core.tracing import tracer
from testgen.data.schemas import Priority, Scenario, TestCaseDraft, TestType
from testgen.generation.llm.base import BatchRequest, BatchResult, CallStats, TestCaseSlot
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt

VARIANTS = ("positive", "negative", "boundary")
_CHECK_NUMBER = re.compile(r" check (\d+) \(")

_INTENT = {
    "functional": "works as specified",
    "negative": "rejects invalid use",
    "boundary": "holds at its limits",
    "security": "resists misuse",
    "usability": "is clear to the user",
    "performance": "stays responsive",
}


def _criterion(request: BatchRequest, slot: TestCaseSlot) -> tuple[str, int | None]:
    criteria = request.story.acceptance_criteria
    if not slot.criteria:
        return request.story.title, None
    index = slot.criteria[0]
    return criteria[index][:1500], index


def _scenario(request: BatchRequest, slot: TestCaseSlot, n: int) -> Scenario:
    text, index = _criterion(request, slot)
    label = f"AC{index + 1}" if index is not None else "the story"
    variant = VARIANTS[(n + VARIANTS.index(_first_variant(slot.test_type))) % len(VARIANTS)]
    given = [
        f'the feature "{request.story.title}" is available',
        f"test data set {slot.index + 1}.{n + 1} is prepared",
    ]
    if variant == "positive":
        when = [f"the user does what {label} describes: {text}"]
        then = [f"the outcome matches {label}: {text}", "no error is shown"]
    elif variant == "negative":
        when = [f"the user attempts what {label} describes with invalid or missing input"]
        then = [f"the system refuses the request and does not violate {label}", "a clear error is shown"]
    else:
        when = [f"the user does what {label} describes with values at the edge of the allowed range"]
        then = [f"values at the limit are accepted and values past it are refused, per {label}"]
    title = f"{label} {variant} check {n + 1} ({slot.test_type}, test case {slot.index + 1})"
    return Scenario(title=title, given=given, when=when, then=then)


def _first_variant(test_type: str) -> str:
    return {"negative": "negative", "boundary": "boundary"}.get(test_type, "positive")


def _variant_offset(request: BatchRequest, slot: TestCaseSlot) -> int:
    """Where the slot's scenario numbering starts: past every one of its scenarios in `avoid_titles`,
    so asking again with the current titles moves on to the next variant instead of back to the first.
    """
    suffix = f" ({slot.test_type}, test case {slot.index + 1})"
    saved = [title for test in request.saved_tests for title in test.scenario_titles]
    taken = [
        int(match.group(1))
        for title in [*request.avoid_titles, *saved]
        if title.endswith(suffix) and (match := _CHECK_NUMBER.search(title))
    ]
    if not taken:
        return 0
    per_case = request.scenarios_per_test_case
    return math.ceil(max(taken) / per_case) * per_case


def build_test_case(request: BatchRequest, slot: TestCaseSlot) -> TestCaseDraft:
    text, _ = _criterion(request, slot)
    offset = _variant_offset(request, slot)
    scenarios = [_scenario(request, slot, offset + n) for n in range(request.scenarios_per_test_case)]
    summary = text if len(text) <= 80 else text[:77] + "..."
    variant = f" (variant {offset // request.scenarios_per_test_case + 1})" if offset else ""
    return TestCaseDraft(
        title=f"TC{slot.index + 1:02d} {slot.test_type.title()}{variant}: {summary}",
        description=f"Checks that {request.story.title!r} {_INTENT[slot.test_type]}."
        + (f" Designed with {request.technique}." if request.technique else ""),
        preconditions=[f'The feature "{request.story.title}" is deployed'],
        priority=Priority.high if slot.test_type in ("functional", "security") else Priority.medium,
        test_type=TestType(slot.test_type),
        scenarios=scenarios,
        covered_criteria=list(slot.criteria),
    )


class OfflineProvider:
    name = "offline"
    model = OFFLINE_MODEL

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
        """One "model call", measured and traced like a remote one."""
        model = model or self.model
        with tracer().start_as_current_span(
            "model call",
            kind=SpanKind.CLIENT,
            attributes={"gen_ai.system": self.name, "gen_ai.request.model": model, "testgen.retries": 0},
        ) as span:
            started = time.monotonic()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            cases = [build_test_case(request, slot) for slot in request.slots]
            service_metrics().model_call(self.name, model, CALL_OK, time.monotonic() - started)
            span.set_attribute("testgen.outcome", CALL_OK)
        # Tokens as a model would count them (about four characters each), so budgets work offline too.
        prompt = (len(SYSTEM_INSTRUCTION) + len(build_prompt(request))) // 4
        output = sum(len(case.model_dump_json()) for case in cases) // 4
        stats = CallStats(calls=1, prompt_tokens=prompt, output_tokens=output, total_tokens=prompt + output)
        return BatchResult(test_cases=cases, stats=stats)

    async def aclose(self) -> None:
        return None
