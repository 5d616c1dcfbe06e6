"""What the model passes besides generation share (the automation fill, the deep story check): a free
JSON prompt to the job's provider with one re-ask on an unusable answer, the offline model's
deterministic answer in its place, and the hold of the job's tokens against its project's budget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from testgen.core import messages
from testgen.data import usage
from testgen.domain.job_errors import ErrorType
from testgen.generation.budget import CHARS_PER_TOKEN
from testgen.generation.llm.base import BadOutputError, CallStats, LLMError, extract_json
from testgen.generation.llm.factory import BoundProvider
from testgen.generation.llm.offline import OfflineProvider
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobRun

logger = logging.getLogger(__name__)

MAX_REASKS = 1  # an answer that is not the JSON asked for is asked once more
T = TypeVar("T")


@runtime_checkable
class JsonCompleter(Protocol):
    """A provider that answers a free prompt with JSON (the text of its answer, and its usage)."""

    async def complete_json(
        self, system: str, prompt: str, schema: dict[str, Any], *, model: str, label: str
    ) -> tuple[str, CallStats]: ...


async def ask_json(
    provider: BoundProvider,
    call: tuple[str, str, dict[str, Any]],
    parse: Callable[[Any], T],
    offline: Callable[[], str],
    *,
    label: str,
    stats: CallStats,
    what: str,
) -> T:
    """`parse` of the provider's JSON answer to `call` (system rules, prompt, answer schema), asked
    again once with the reason when it is unusable (`parse` raises ValueError); the offline model
    answers `offline()`. Every call is added to `stats`. `what` names the pass in errors."""
    system, prompt, schema = call
    inner = provider.provider
    feedback = ""
    for attempt in range(MAX_REASKS + 1):
        if attempt:
            stats.reasks += 1
        if isinstance(inner, OfflineProvider):
            text = offline()
            tokens_in, tokens_out = len(system + prompt) // CHARS_PER_TOKEN, len(text) // CHARS_PER_TOKEN
            stats.add(CallStats(1, 0, 0, tokens_in, tokens_out, tokens_in + tokens_out))
        elif isinstance(inner, JsonCompleter):
            asked = prompt + (f"\n\nYour previous answer was unusable: {feedback}" if feedback else "")
            text, used = await inner.complete_json(system, asked, schema, model=provider.model, label=label)
            stats.add(used)
        else:
            raise LLMError(
                ErrorType.configuration,
                f"LLM provider '{provider.name}' cannot {what}; queue it with another provider",
            )
        try:
            return parse(extract_json(text))
        except ValueError as exc:  # json.JSONDecodeError is one
            feedback = f"not the JSON asked for ({exc})"[:300]
            logger.warning("%s: unusable answer (%s)", label, feedback)
    raise BadOutputError(f"{label}: the model gave unusable output {MAX_REASKS + 1} times in a row")


async def hold_budget(
    res: WorkerResources, run: JobRun, project_id: int | None, budget: int | None, needed: int
) -> None:
    """Hold the job's estimated tokens against its project's daily budget, or fail it before any call."""
    if budget is None or project_id is None:
        return
    day = usage.today()
    held = await res.holds.hold(project_id, run.job.id, needed, day)
    spent = await res.rows.spent_today(project_id)
    if spent + held + needed > budget:
        await res.holds.release(project_id, run.job.id, day)
        raise JobFailed(ErrorType.budget, messages.budget_too_small(project_id, budget, spent, held, needed))
