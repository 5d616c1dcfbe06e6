"""The call loop every remote provider shares: the concurrency bound, the pacing shared by all
workers (requests and tokens a minute, requests a day, and what the server's 429s taught), a
wall-clock deadline per call, and retries of transient faults with backoff (the server's own delay
when it gives one). What counts as transient is the provider's `classify`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.core.metrics import ABORTED, CALL_OK, service_metrics
from testgen.core.redaction import Scrubber
from testgen.core.redis_keys import llm_rate_key
from testgen.core.tracing import fail, tracer
from testgen.domain.job_errors import ErrorType
from testgen.domain.test_cases import TestCaseDraft
from testgen.generation.language_check import wrong_language
from testgen.generation.llm.base import (
    BadOutputError,
    BatchRequest,
    CallStats,
    LLMError,
    parse_batch_output,
)
from testgen.generation.llm.clock import SYSTEM_CLOCK, Clock
from testgen.generation.llm.quota import Quota, duration_s
from testgen.generation.llm.ratelimit import Limits, RateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Usage(NamedTuple):
    """The tokens of one answer; `cached`: of the prompt's, those served from the provider's cache."""

    prompt: int = 0
    output: int = 0
    total: int = 0
    cached: int = 0


@dataclass(frozen=True)
class Fault:
    """A failed attempt that may succeed if tried again."""

    type: ErrorType
    description: str
    retry_after_s: float | None = None
    quota: Quota | None = None  # what a 429 said about the quota it hit


class RetryingCaller:
    """One provider's calls: bounded, paced, deadlined and retried. `display` names the provider
    in messages ("Gemini"); `timeout_setting` is the setting a user raises when calls time out; the
    backoff and the pacing wait on `clock`, whose minute lasts `rpm_window_s`. With Redis, a 429
    that names a quota or a delay paces every worker, whatever the configured limits."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis | None,
        *,
        provider: str,
        display: str,
        timeout_s: float,
        timeout_setting: str,
        redact: Scrubber,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_delay_cap_s: float = 60.0,
        rpm_window_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.display = display
        self.timeout_s = timeout_s
        self._provider = provider
        self._timeout_setting = timeout_setting
        self._redact = redact
        self._max_attempts = settings.llm_max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._retry_delay_cap_s = retry_delay_cap_s
        self._semaphore = asyncio.Semaphore(settings.llm_max_concurrency)
        self._limits = Limits(settings.llm_rpm, settings.llm_tpm, settings.llm_rpd)
        self._rpm_window_s = rpm_window_s
        self._redis = redis
        self._limiters: dict[str, RateLimiter] = {}
        self._clock = clock
        if self._limits != Limits() and redis is None:
            raise ConfigurationError(
                "LLM_RPM, LLM_TPM and LLM_RPD need Redis to share the budget between workers"
            )

    @property
    def deadline_s(self) -> float:
        """A wall-clock bound per call: HTTP timeouts apply per read, not to a slowly trickling answer."""
        return self.timeout_s * 1.5 + 1.0

    def _limiter(self, model: str) -> RateLimiter | None:
        if self._redis is None:
            return None
        limiter = self._limiters.get(model)
        if limiter is None:
            key = llm_rate_key(self._provider, model)
            limiter = RateLimiter(
                self._redis, key, self._limits, window_s=self._rpm_window_s, clock=self._clock
            )
            self._limiters[model] = limiter
        return limiter

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        classify: Callable[[Exception], Fault | None],
        *,
        model: str,
        stats: CallStats,
        label: str,
        usage: Callable[[T], Usage] | None = None,
        tokens: int = 0,
    ) -> T:
        """`send()`'s answer, retrying what `classify` calls transient. `classify` raises LLMError for a
        final failure and returns None for an exception that is not a provider fault (it propagates).
        `usage` reads the tokens an answer used; `tokens` is the call's estimate, charged to the
        pacing before it is sent and replaced by the real usage after. Each attempt is a sample of
        the model-call metrics; the whole call (retries included) is one span."""
        with tracer().start_as_current_span(
            "model call",
            kind=SpanKind.CLIENT,
            attributes={"gen_ai.system": self._provider, "gen_ai.request.model": model},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            retries_before = stats.retries
            outcome = "error"
            try:
                result, charged = await self._call(
                    send, classify, model=model, stats=stats, label=label, tokens=tokens
                )
                outcome = CALL_OK
            except LLMError as exc:
                outcome = exc.type
                fail(span, exc.message)
                raise
            except asyncio.CancelledError:
                outcome = ABORTED
                raise
            except Exception as exc:
                fail(span, type(exc).__name__)
                raise
            finally:
                span.set_attribute("testgen.retries", stats.retries - retries_before)
                span.set_attribute("testgen.outcome", outcome)
            if usage is not None:
                prompt, output, total, cached = usage(result)
                limiter = self._limiter(model)
                if limiter is not None:
                    await limiter.settle(charged, total)
                stats.prompt_tokens += prompt
                stats.output_tokens += output
                stats.total_tokens += total
                stats.cached_tokens += cached
                service_metrics().tokens(self._provider, model, prompt, output)
                span.set_attribute("gen_ai.usage.input_tokens", prompt)
                span.set_attribute("gen_ai.usage.output_tokens", output)
                span.set_attribute("gen_ai.usage.cache_read_input_tokens", cached)
            return result

    def reasked(self, model: str) -> None:
        """Count a re-ask of `model` (a malformed or short answer asked again)."""
        service_metrics().reasked(self._provider, model)

    def _observe(self, model: str, outcome: str, started: float | None) -> None:
        if started is not None:  # the attempt reached the model (not refused by our own limits)
            service_metrics().model_call(self._provider, model, outcome, time.monotonic() - started)

    async def _call(
        self,
        send: Callable[[], Awaitable[T]],
        classify: Callable[[Exception], Fault | None],
        *,
        model: str,
        stats: CallStats,
        label: str,
        tokens: int,
    ) -> tuple[T, str]:
        """The answer and the id its pacing charged ('' when none)."""
        limiter = self._limiter(model)
        for attempt in range(1, self._max_attempts + 1):
            started: float | None = None
            charged = ""
            try:
                async with self._semaphore:
                    if limiter is not None:
                        charged = await limiter.acquire(label, tokens)
                    stats.calls += 1
                    started = time.monotonic()
                    async with asyncio.timeout(self.deadline_s):
                        result = await send()
                self._observe(model, CALL_OK, started)
                return result, charged
            except TimeoutError as exc:
                fault = Fault(ErrorType.timeout, f"no answer within {self.timeout_s:g}s")
                cause: Exception = exc
            except LLMError as exc:
                self._observe(model, exc.type, started)
                raise
            except asyncio.CancelledError:
                self._observe(model, ABORTED, started)
                raise
            except Exception as exc:
                try:
                    classified = classify(exc)
                except LLMError as final:
                    self._observe(model, final.type, started)
                    raise
                except Exception:
                    self._observe(model, "refused", started)
                    raise
                if classified is None:
                    self._observe(model, "error", started)
                    raise
                fault, cause = classified, exc
            self._observe(model, fault.type, started)
            if limiter is not None and fault.type is ErrorType.rate_limit:
                await self._paced_by(limiter, fault, charged)
            if attempt == self._max_attempts:
                raise self._exhausted(fault, label) from self._redact.safe_cause(cause)
            said = fault.quota.pause_s if fault.quota is not None else None
            delay = self.backoff(attempt, said if said is not None else fault.retry_after_s)
            stats.retries += 1
            service_metrics().retried(self._provider, model, fault.type)
            logger.warning(
                "%s: %s call attempt %d/%d failed (%s), retrying in %.1fs",
                label,
                self.display,
                attempt,
                self._max_attempts,
                self._redact(fault.description),
                delay,
            )
            await self._clock.sleep(delay)
        raise AssertionError("unreachable")

    async def _paced_by(self, limiter: RateLimiter, fault: Fault, charged: str) -> None:
        """A 429: the refused call used no tokens, and what it said paces every worker (the limits
        it named; no call before its reset)."""
        await limiter.settle(charged, 0)
        quota = fault.quota or Quota()
        pause = quota.pause_s if quota.pause_s is not None else fault.retry_after_s
        if pause is not None:
            pause = min(pause, self._retry_delay_cap_s)
        await limiter.learn(Quota(quota.rpm, quota.tpm, quota.rpd, pause))

    def _exhausted(self, fault: Fault, label: str) -> LLMError:
        tries = f"{self._max_attempts} attempt{'s' if self._max_attempts > 1 else ''}"
        what = self._redact(fault.description)
        if fault.type is ErrorType.rate_limit:
            message = (
                f"{label}: {self.display} kept rate-limiting the calls ({what}) after {tries}. "
                "Wait for the quota to refill, or lower LLM_MAX_CONCURRENCY / set LLM_RPM, LLM_TPM and "
                "LLM_RPD to your quota."
            )
        elif fault.type is ErrorType.timeout:
            message = (
                f"{label}: {self.display} did not answer in time ({what}) after {tries}. "
                f"Raise {self._timeout_setting} or lower BATCH_MAX_SCENARIOS."
            )
        else:
            message = f"{label}: {self.display} kept failing ({what}) after {tries}. Try again later."
        return LLMError(fault.type, message)

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """The server's delay when given (capped), else exponential backoff with full jitter."""
        if retry_after_s is not None:
            return min(retry_after_s, self._retry_delay_cap_s) + random.uniform(0, self._backoff_base_s)
        return random.uniform(0, min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1)))


async def ask_until_valid(
    ask: Callable[[str | None], Awaitable[str]],
    request: BatchRequest,
    *,
    max_reasks: int,
    display: str,
    label: str,
    stats: CallStats,
    redact: Scrubber,
    on_reask: Callable[[], None] | None = None,
) -> list[TestCaseDraft]:
    """Ask (`ask(feedback)` returns the model's text) until the answer validates against the batch, at
    most `max_reasks` times more; a bad or short answer is asked again with what was wrong with it. An
    answer in another language than the story's is asked again within the same bound; if the last one
    still is, it is kept and counted in `stats.language_mismatches`."""
    feedback: str | None = None
    for reask in range(max_reasks + 1):
        if reask:
            stats.reasks += 1
            if on_reask is not None:
                on_reask()
        try:
            drafts = parse_batch_output(await ask(feedback), request)
        except BadOutputError as exc:
            feedback = redact(exc.message)
            drafts = None
        if drafts is not None:
            wrong = await wrong_language(drafts, request.story.language)
            if wrong is None:
                return drafts
            if reask == max_reasks:
                stats.language_mismatches += 1
                logger.warning("%s: %s answer kept in another language (%s)", label, display, wrong)
                return drafts
            feedback = wrong
        if reask < max_reasks:
            logger.warning(
                "%s: %s answer rejected (%s), asking again (re-ask %d/%d)",
                label,
                display,
                feedback,
                reask + 1,
                max_reasks,
            )
    raise LLMError(
        ErrorType.bad_output,
        f"{label}: {display} gave unusable output {max_reasks + 1} times in a row "
        f"(last: {feedback}). Try again, or lower BATCH_MAX_SCENARIOS.",
    )


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """How long an HTTP 429/503 asks us to wait: `retry-after-ms`, else `Retry-After` (seconds or a
    date), else the longest of the `x-ratelimit-reset-*` headers (OpenAI's `6m0s` durations)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        ms = duration_s(lowered["retry-after-ms"])
        if ms is not None:
            return ms / 1000
    if "retry-after" in lowered:
        seconds = duration_s(lowered["retry-after"])
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(lowered["retry-after"])
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    resets = [
        s
        for k, v in lowered.items()
        if k.startswith("x-ratelimit-reset-") and (s := duration_s(v)) is not None
    ]
    return max(resets) if resets else None
