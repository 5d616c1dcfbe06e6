"""What the pipeline asks of an LLM provider, and what it gets back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from testgen.core.languages import DEFAULT_LANGUAGE
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_results import CallSummary, TokenCounts
from testgen.domain.techniques import Technique
from testgen.domain.test_cases import Scenario, TestCaseDraft, TestType
from testgen.generation.llm.story_files import StoryFiles
from testgen.generation.llm.story_tracker import TrackerContext, tracker_of
from testgen.generation.pairwise import complete_outline


@dataclass(frozen=True)
class StoryText:
    id: str
    title: str
    description: str
    acceptance_criteria: list[str]
    language: str = DEFAULT_LANGUAGE  # BCP 47: the language the test cases are written in
    tracker: TrackerContext = field(default_factory=TrackerContext)  # comments, links, sub-tasks


def story_text(story: Any, language: str = DEFAULT_LANGUAGE) -> StoryText:
    return StoryText(
        id=story.id,
        title=story.title,
        description=story.description,
        acceptance_criteria=list(story.acceptance_criteria),
        language=language,
        tracker=tracker_of(story),
    )


@dataclass(frozen=True)
class TestCaseSlot:
    """One test case a batch must write: its place in the result, its type and its criteria focus."""

    __test__ = False

    index: int
    test_type: str
    criteria: list[int]
    technique: Technique | None = None  # a technique the job named; None: the batch's own mix


@dataclass(frozen=True)
class CoveredTest:
    """A saved test case of the story, given to the model as already covered."""

    id: int
    title: str
    scenario_titles: list[str]


@dataclass(frozen=True)
class BatchRequest:
    story: StoryText
    batch_index: int
    batch_count: int
    slots: list[TestCaseSlot]
    scenarios_per_test_case: int
    total_test_cases: int = 0
    avoid_titles: list[str] = field(default_factory=list)
    # The batch's test-design technique (boundary values, ...): each batch of a job has its own.
    technique: str = ""
    saved_tests: list[CoveredTest] = field(default_factory=list)
    instructions: str = ""  # the project's instructions (house style, method, vocabulary)
    instruction: str = ""  # a reviewer's instruction for this batch ("add boundary cases for ...")
    files: StoryFiles = field(default_factory=StoryFiles)  # the story's attachments, as sent
    job_techniques: tuple[Technique, ...] = ()  # every technique the job named (its batches share them)
    # A provider's cache holding the job's shared prompt prefix (Gemini's cachedContents name), if any.
    cached_context: str = ""

    @property
    def scenario_count(self) -> int:
        return len(self.slots) * self.scenarios_per_test_case

    @property
    def techniques(self) -> list[Technique]:
        """The named techniques of the batch's test cases, each once."""
        return list(dict.fromkeys(s.technique for s in self.slots if s.technique is not None))


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    reasks: int = 0
    prompt_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the provider served from its cache (part of prompt_tokens)
    # Batches whose answer stayed in another language than the story's after the last re-ask.
    language_mismatches: int = 0

    def summary(self) -> CallSummary:
        """The usage figures a job result records."""
        return CallSummary(
            llm_calls=self.calls,
            retries=self.retries,
            reasks=self.reasks,
            tokens=TokenCounts(
                prompt=self.prompt_tokens,
                output=self.output_tokens,
                total=self.total_tokens,
                cached=self.cached_tokens or None,
            ),
        )

    def add(self, other: CallStats) -> None:
        self.calls += other.calls
        self.retries += other.retries
        self.reasks += other.reasks
        self.prompt_tokens += other.prompt_tokens
        self.output_tokens += other.output_tokens
        self.total_tokens += other.total_tokens
        self.cached_tokens += other.cached_tokens
        self.language_mismatches += other.language_mismatches


@dataclass
class BatchResult:
    test_cases: list[TestCaseDraft]
    stats: CallStats


class LLMError(Exception):
    """A failure the job reports to the user; `type` says which for programs and the page."""

    def __init__(self, type_: ErrorType, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


class BadOutputError(LLMError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorType.bad_output, message)


class LLMProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str:
        """The model used when a call names none."""

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult: ...

    async def aclose(self) -> None: ...


def _labelled(scenario: Scenario, slot: TestCaseSlot) -> Scenario:
    """A scenario labelled with its slot's technique when the job named techniques and the model gave
    none (a label of its own is kept)."""
    if slot.technique is None or scenario.technique is not None:
        return scenario
    return scenario.model_copy(update={"technique": slot.technique})


class BatchOutput(BaseModel):
    """The JSON shape a model must answer with for one batch."""

    test_cases: list[TestCaseDraft] = Field(min_length=1)


_REASONING = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_MARKDOWN_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)
MAX_JSON_STARTS = 50  # where a JSON object may start after prose: tried at most this many


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer: the whole text, else a Markdown-fenced block, else the first
    object after reasoning or prose (local models often add both). Raises the whole text's JSONDecodeError
    when none is found."""
    stripped = _REASONING.sub("", text).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        error = exc
    for match in _MARKDOWN_FENCE.finditer(stripped):
        try:
            return json.loads(match.group(1))
        except json.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    start = stripped.find("{")
    for _ in range(MAX_JSON_STARTS):
        if start == -1:
            break
        try:
            return decoder.raw_decode(stripped, start)[0]  # an object: it starts with "{"
        except json.JSONDecodeError:
            start = stripped.find("{", start + 1)
    raise error


def parse_batch_output(text: str, request: BatchRequest) -> list[TestCaseDraft]:
    """Validate a model's raw answer against our models and the batch's counts.

    Extra test cases or scenarios are trimmed; too few of either raise BadOutputError.
    Test types and criteria come from the plan when the model leaves them out.
    """
    try:
        output = BatchOutput.model_validate(extract_json(text))
    except json.JSONDecodeError as exc:
        raise BadOutputError(f"model output is not JSON ({exc.msg}, char {exc.pos})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadOutputError(f"model output has the wrong shape: {where}: {first['msg']}") from exc
    wanted, per_case = len(request.slots), request.scenarios_per_test_case
    if len(output.test_cases) < wanted:
        raise BadOutputError(f"model wrote {len(output.test_cases)} test cases, {wanted} were asked")
    cases = output.test_cases[:wanted]
    for case in cases:
        if len(case.scenarios) < per_case:
            raise BadOutputError(
                f"model wrote {len(case.scenarios)} scenarios for '{case.title}', {per_case} were asked"
            )
    n_criteria = len(request.story.acceptance_criteria)
    drafts = []
    for case, slot in zip(cases, request.slots, strict=True):
        covered = sorted({i for i in case.covered_criteria if i < n_criteria}) or list(slot.criteria)
        scenarios = [_labelled(s, slot) for s in case.scenarios[:per_case]]
        if case.parameters and slot.technique is Technique.pairwise:
            scenarios = [complete_outline(s, case.parameters) for s in scenarios]
        update = {
            "scenarios": scenarios,
            "covered_criteria": covered,
            "test_type": TestType(slot.test_type),
        }
        drafts.append(case.model_copy(update=update))
    return drafts
