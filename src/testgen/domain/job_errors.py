"""Every error type a failed job carries in its `error.type`, in one place, and the error itself.

The page shows a hint per type (messages `hint.<type>` in core/locales) and the metrics count
failed jobs by it; producers raise `LLMError`, `JiraError` or `JobFailed` with one of these.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, field_validator


class ErrorType(StrEnum):
    # The model server (generation/llm)
    auth = "auth"  # the key was refused (also Jira's credentials)
    rate_limit = "rate_limit"  # still rate-limited after the retries, or the quota is used up
    timeout = "timeout"  # no answer in time (also the whole job past JOB_TIMEOUT_S)
    upstream = "upstream"  # the server failed or could not be reached
    invalid_request = "invalid_request"  # the server refused the request
    model_not_found = "model_not_found"
    input_too_long = "input_too_long"  # the prompt is past the model's context
    bad_output = "bad_output"  # unusable answers, every re-ask included
    configuration = "configuration"  # a provider or Jira this worker has not configured
    # The job itself (worker)
    budget = "budget"  # the project's daily token budget would be passed
    nothing_changed = "nothing_changed"  # an update with no criterion to regenerate
    conflict = "conflict"  # a regeneration whose draft was saved or discarded meanwhile
    worker_lost = "worker_lost"  # the reaper gave up after the job's worker vanished too often
    internal = "internal"  # a bug, a malformed task, or a run that ended unrecorded: see the worker log
    # Jira import (jira/client.py)
    jql = "jql"  # Jira rejected the search
    rate_limited = "rate_limited"  # Jira kept answering 429/503
    unreachable = "unreachable"  # Jira could not be reached
    jira = "jira"  # any other failure of Jira
    # A type this code does not know (a row written by another version)
    unknown = "unknown"


class JobError(BaseModel):
    """Why a job failed: `type` for programs (and the page's hint), `message` for people."""

    type: ErrorType
    message: str

    @field_validator("type", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        """A type this code does not know loads as `unknown` rather than failing the read."""
        known = isinstance(value, str) and value in ErrorType._value2member_map_
        return value if known else ErrorType.unknown


class JobRowLost(Exception):
    """A worker could not read or write its job's row (the database failed or its pool timed out).
    Raised to arq, whose kept result names it, so that whoever finds the row still active later (the
    reaper, the next enqueue) says why it failed (`given_up_error`)."""


def given_up_error(*, finished: bool, failure: str | None) -> JobError:
    """Why a job failed whose row stayed active after arq gave up on it: arq `finished` it (`failure`:
    the exception type of its failed result, None if it did not fail), or holds nothing of it."""
    if not finished:
        message = (
            "This job is no longer on the queue (Redis lost it, or it was never handed to a worker); "
            "queue the story again"
        )
    elif failure == JobRowLost.__name__:
        message = (
            "The worker lost its database connection and could not record how this job ended; "
            "check that the database is reachable, then queue the story again"
        )
    elif failure is not None:
        message = (
            f"The worker gave up on this job ({failure}) without recording why; "
            "see the worker log, then queue the story again"
        )
    else:
        message = (
            "The worker ended this job without recording its result; see the worker log, "
            "then queue the story again"
        )
    return JobError(type=ErrorType.internal, message=message)
