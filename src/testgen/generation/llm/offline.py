"""A deterministic provider that needs no network: scenarios built from the acceptance criteria."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import time

from opentelemetry.trace import SpanKind

from testgen.core.config import OFFLINE_MODEL
from testgen.core.metrics import CALL_OK, service_metrics
from testgen.core.tracing import tracer
from testgen.domain.stories import Priority
from testgen.domain.techniques import Technique
from testgen.domain.test_cases import Scenario, TestCaseDraft, TestType
from testgen.generation.llm.base import BatchRequest, BatchResult, CallStats, TestCaseSlot
from testgen.generation.llm.offline_techniques import (
    candidates,
    pairwise_summary,
    parameters,
    technique_in,
    technique_name,
)
from testgen.generation.llm.offline_templates import Templates, has_templates, templates_for
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt

VARIANTS = ("positive", "negative", "boundary")
_TRAILING_NUMBER = re.compile(r"(\d+)$")


def _criterion(request: BatchRequest, slot: TestCaseSlot) -> tuple[str, int | None]:
    criteria = request.story.acceptance_criteria
    named = _instructed_criterion(request)
    if named is not None:
        return criteria[named][:1500], named
    if not slot.criteria:
        lines = request.files.criteria_lines  # criteria-like lines of the story's text attachments
        return (lines[slot.index % len(lines)][:1500], None) if lines else (request.story.title, None)
    index = slot.criteria[0]
    return criteria[index][:1500], index


def _instructed_criterion(request: BatchRequest) -> int | None:
    """The criterion a reviewer's instruction is about: the one sharing the most of its words (of
    four letters or more), if any does."""
    words = {w for w in re.findall(r"\w{4,}", request.instruction.casefold())}
    if not words:
        return None
    shared = [
        (len(words & set(re.findall(r"\w{4,}", c.casefold()))), -i)
        for i, c in enumerate(request.story.acceptance_criteria)
    ]
    best = max(shared, default=(0, 0))
    return -best[1] if best[0] else None


def _suffix(words: Templates, slot: TestCaseSlot) -> str:
    return words.scenario_suffix.format(type=words.types[slot.test_type].lower(), case=slot.index + 1)


def _scenario(
    words: Templates, values: dict[str, object], given_feature: str, suffix: str, variant: str, n: int
) -> Scenario:
    """Scenario `n` (from 0) of a slot; `values`, `given_feature` and `suffix` are the slot's."""
    values = {**values, "n": n + 1}
    if variant == "positive":
        when, then = [words.positive_when], words.positive_then
    elif variant == "negative":
        when, then = [words.negative_when], words.negative_then
    else:
        when, then = [words.boundary_when], words.boundary_then
    title = words.scenario_title.format(variant=words.variants[variant], **values) + suffix
    return Scenario(
        title=title,
        given=[given_feature, words.given_data.format(**values)],
        when=[w.format(**values) for w in when],
        then=[t.format(**values) for t in then],
    )


def _first_variant(test_type: str) -> str:
    return {"negative": "negative", "boundary": "boundary"}.get(test_type, "positive")


def _variant_offset(request: BatchRequest, slot: TestCaseSlot, words: Templates) -> int:
    """Where the slot's scenario numbering starts: past every one of its scenarios in `avoid_titles`,
    so asking again with the current titles moves on to the next variant instead of back to the first.
    """
    suffix = _suffix(words, slot)
    saved = [title for test in request.saved_tests for title in test.scenario_titles]
    taken = [
        int(match.group(1))
        for title in [*request.avoid_titles, *saved]
        if title.endswith(suffix) and (match := _TRAILING_NUMBER.search(title[: -len(suffix)]))
    ]
    if not taken:
        return 0
    per_case = request.scenarios_per_test_case
    return math.ceil(max(taken) / per_case) * per_case


def _technique_scenarios(
    request: BatchRequest, technique: Technique, label: str, text: str, suffix: str, numbers: range
) -> list[Scenario]:
    """Scenarios `numbers` of a slot written with a named technique: its candidates in turn, each
    titled with its number (which `_variant_offset` reads back) and labelled with the technique."""
    story = request.story
    found = candidates(technique, story.language, label, text, story.title, story.acceptance_criteria)
    return [
        Scenario(
            title=f"{found[n % len(found)].title} {n + 1}{suffix}",
            given=found[n % len(found)].given,
            when=found[n % len(found)].when,
            then=found[n % len(found)].then,
            technique=technique,
            examples=found[n % len(found)].examples,
        )
        for n in numbers
    ]


def build_test_case(request: BatchRequest, slot: TestCaseSlot) -> TestCaseDraft:
    words = templates_for(request.story.language)
    text, index = _criterion(request, slot)
    offset = _variant_offset(request, slot, words)
    label = f"AC{index + 1}" if index is not None else words.the_story
    values = {"label": label, "text": text, "title": request.story.title, "case": slot.index + 1}
    given_feature, suffix = words.given_feature.format(**values), _suffix(words, slot)
    first = VARIANTS.index(_first_variant(slot.test_type))
    numbers = range(offset, offset + request.scenarios_per_test_case)
    # A reviewer's instruction naming a technique ("add boundary cases ...") takes the slot's place.
    slot = dataclasses.replace(slot, technique=technique_in(request.instruction) or slot.technique)
    if slot.technique is not None:
        scenarios = _technique_scenarios(request, slot.technique, label, text, suffix, numbers)
    else:
        scenarios = [
            _scenario(words, values, given_feature, suffix, VARIANTS[(n + first) % len(VARIANTS)], n)
            for n in numbers
        ]
    technique = (
        technique_name(slot.technique, request.story.language) if slot.technique else request.technique
    )
    summary = text if len(text) <= 80 else text[:77] + "..."
    number = offset // request.scenarios_per_test_case + 1
    variant = words.variant_suffix.format(n=number) if offset else ""
    title = request.story.title
    pairwise = slot.technique is Technique.pairwise
    found = (
        parameters([text, *request.story.acceptance_criteria], request.story.language) if pairwise else None
    )
    return TestCaseDraft(
        parameters=found,
        title=words.case_title.format(
            case=slot.index + 1, type=words.types[slot.test_type], variant=variant, summary=summary
        ),
        description=words.description.format(title=title, intent=words.intent[slot.test_type])
        + (words.technique.format(technique=technique) if technique else "")
        + (f" {pairwise_summary(found, request.story.language)}." if found else ""),
        preconditions=[words.precondition.format(title=title)],
        priority=Priority.high if slot.test_type in ("functional", "security") else Priority.medium,
        test_type=TestType(slot.test_type),
        scenarios=scenarios,
        covered_criteria=sorted({*slot.criteria, *([index] if index is not None else [])}),
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
        prompt = (len(SYSTEM_INSTRUCTION) + len(build_prompt(request))) // 4 + request.files.image_tokens
        output = sum(len(case.model_dump_json()) for case in cases) // 4
        # A language without a template set gets English: flagged, as a model's answer would be.
        mismatch = 0 if has_templates(request.story.language) else 1
        stats = CallStats(
            calls=1,
            prompt_tokens=prompt,
            output_tokens=output,
            total_tokens=prompt + output,
            language_mismatches=mismatch,
        )
        return BatchResult(test_cases=cases, stats=stats)

    async def aclose(self) -> None:
        return None
