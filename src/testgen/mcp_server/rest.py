"""The REST API as a tool calls it: one HTTP client carrying the caller's credentials, the API's error
answers turned into tool errors with the API's own message, and a job's events followed to its end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import TypeAdapter, ValidationError

from testgen.api.schemas.jobs import JobOut as JobOut
from testgen.api.schemas.jobs import JobStatusOut
from testgen.api.schemas.jobs import RegenerationJobOut as RegenerationJobOut
from testgen.data.job_states import TERMINAL

T = TypeVar("T")
JOB: TypeAdapter[JobOut] = TypeAdapter(JobStatusOut)
MAX_ERROR_CHARS = 2000  # of an error answer's text, when it is not the API's JSON


class ApiError(ToolError):
    """An error answer of the API, as the tool's error: its message, status and retry hint."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        hint = f"; retry after {retry_after_s} s" if retry_after_s is not None else ""
        super().__init__(f"{message} (HTTP {status}{hint})")
        self.status = status
        self.retry_after_s = retry_after_s


def api_error(response: httpx.Response) -> ApiError:
    """The error of an answer the API refused with: `detail` as the API wrote it (validation errors as
    `field: message`), the HTTP status, and Retry-After when it gave one."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        message = "; ".join(_validation_line(item) for item in detail)
    elif isinstance(detail, str) and detail:
        message = detail
    else:
        message = response.text[:MAX_ERROR_CHARS].strip() or response.reason_phrase or "error"
    retry = response.headers.get("retry-after", "")
    return ApiError(response.status_code, message, int(retry) if retry.isdigit() else None)


def _validation_line(item: Any) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
    return f"{where}: {item.get('msg')}" if where else str(item.get("msg"))


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream: its name (queued, started, progress, completed, ...) and state."""

    event: str
    job: JobOut

    @property
    def final(self) -> bool:
        return self.event in TERMINAL


class JobEvents(Protocol):
    """How a transport follows a job's events (the caller may read the job: checked by the API)."""

    def follow(self, api: Api, task_id: str) -> AsyncIterator[JobEvent]: ...


class Api:
    """The REST API with the caller's credentials (`client`), and how its job events are followed."""

    def __init__(self, client: httpx.AsyncClient, events: JobEvents) -> None:
        self.client = client
        self.events = events

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """The answer of a 2xx; any other answer raises the API's error."""
        try:
            response = await self.client.request(
                method,
                path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                json=body,
            )
        except httpx.TransportError as exc:
            raise ToolError(f"The testgen API cannot be reached ({type(exc).__name__})") from exc
        if response.status_code >= 300:
            raise api_error(response)
        return response

    async def read(
        self,
        adapter: TypeAdapter[T],
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> T:
        """A 2xx answer read into the API's own model."""
        response = await self.call(method, path, params=params, body=body)
        try:
            return adapter.validate_json(response.content)
        except ValidationError as exc:
            raise ToolError("The testgen API sent an answer this version cannot read") from exc

    async def job(self, task_id: str) -> JobOut:
        return await self.read(JOB, "GET", f"/generate-test-cases/status/{task_id}")

    def follow(self, task_id: str) -> AsyncIterator[JobEvent]:
        """The job's events from its first, up to its final one."""
        return self.events.follow(self, task_id)


def read_event(event: str, data: str) -> JobEvent:
    try:
        return JobEvent(event, JOB.validate_json(data))
    except ValidationError as exc:
        raise ToolError("The testgen API sent a job event this version cannot read") from exc
