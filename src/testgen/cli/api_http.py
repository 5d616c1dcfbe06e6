"""The CLI's HTTP client of the testgen API, how its errors end a command, and the job states it
reads (validated into the API's models)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from testgen.api.schemas.jobs import JobOut as JobOut
from testgen.api.schemas.jobs import JobStatusOut

JOB_STATE: TypeAdapter[JobOut] = TypeAdapter(JobStatusOut)


class CliError(Exception):
    """Ends a client command: the message goes to stderr, `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@contextmanager
def api_client(base_url: str, api_key: str | None) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = httpx.Timeout(30.0, connect=10.0)
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
        try:
            yield client
        except httpx.TransportError as exc:
            raise CliError(
                f"cannot reach the testgen API at {base_url} ({type(exc).__name__}); "
                "start it with `testgen dev`, or point --api at it"
            ) from exc


def detail(response: httpx.Response) -> str:
    """The API's explanation of an error answer."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # validation errors
        return "; ".join(
            ".".join(str(p) for p in d.get("loc", []) if p != "body") + f": {d.get('msg')}" for d in detail
        )
    if detail:
        return str(detail)
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def check(response: httpx.Response, what: str, ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
    if response.status_code not in ok:
        raise CliError(f"{what}: {detail(response)}")
    data: dict[str, Any] = response.json()
    return data


def read_job(state: dict[str, Any]) -> JobOut:
    """A job's state as the API sends it (an answer or an event), read into the API's own models."""
    try:
        return JOB_STATE.validate_python(state)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CliError(
            f"the API sent a job state this version cannot read ({where}: {first['msg']})"
        ) from exc
