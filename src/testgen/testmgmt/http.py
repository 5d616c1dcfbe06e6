"""One HTTP client per connection, shared by its connector: paced to the tool's rate limit, retrying
429 and 503 after `Retry-After`, 5xx and connection errors with backoff, and turning the rest into
ToolError types (credentials refused, one case refused)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from testgen.testmgmt.base import ToolAuthError, ToolRefused, ToolUnavailable

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
# How long a refusal asks to wait when it is a rate limit (a 403 can be one), from its headers and the
# attempt it answered; None: not a rate limit.
RateLimitWait = Callable[[httpx.Response, int], float | None]
MAX_ATTEMPTS = 6
MAX_WAIT_S = 120.0
MAX_ERROR_CHARS = 300


class Pacer:
    """At most `per_minute` requests a minute, spaced evenly: the limit is kept, not discovered."""

    def __init__(self, per_minute: int, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = self.clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await self.sleep(start - now)

    def hold(self, seconds: float) -> None:
        """The tool asked to wait (`Retry-After`): no request leaves before then."""
        self._next = max(self._next, self.clock() + seconds)


def retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(MAX_WAIT_S, max(0.0, float(value)))
    except ValueError:
        return None


def error_text(response: httpx.Response) -> str:
    """What the tool said about a refusal, short (its JSON `error`/`message`/`errorMessages`, else text)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        for name in ("error", "message", "errorMessages", "errors"):
            if body.get(name):
                body = body[name]
                break
    text = body if isinstance(body, str) else str(body)
    return f"{response.status_code}: {text[:MAX_ERROR_CHARS]}"


class ToolHttp:
    def __init__(
        self,
        client: httpx.AsyncClient,
        what: str,
        per_minute: int,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        max_attempts: int = MAX_ATTEMPTS,
        rate_limit: RateLimitWait | None = None,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        """`what` names the connection in messages (its name and kind, never a secret). `rate_limit`:
        the tool's own reading of a rate-limited answer, honoured up to `max_wait_s` (a longer wait
        fails the request at once, saying how long)."""
        self.client = client
        self.rate_limit = rate_limit
        self.max_wait_s = max_wait_s
        self.what = what
        self.pacer = Pacer(per_minute, clock, sleep)
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.requests = 0  # sent, retries included (the bench counts them)
        self.throttled = 0  # answers 429

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The tool's 2xx answer; ToolAuthError on 401/403, ToolRefused on another 4xx, ToolUnavailable
        when 429/5xx/connection errors outlast the retries."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            await self.pacer.wait()
            self.requests += 1
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last = type(exc).__name__
                await self.sleep(_backoff(attempt))
                continue
            if response.status_code < 400:
                return response
            limited = self.rate_limit(response, attempt) if self.rate_limit is not None else None
            if limited is not None:
                self.throttled += 1
                if limited > self.max_wait_s:
                    raise ToolUnavailable(
                        f"{self.what} is rate limited for {round(limited)} s more ({error_text(response)}); "
                        "try again then"
                    )
                last = error_text(response)
                await self.sleep(limited)
                continue
            if response.status_code in (401, 403):
                raise ToolAuthError(
                    f"{self.what} refused the credentials ({error_text(response)}): check them in the "
                    "connection",
                    response.status_code,
                )
            if response.status_code in (429, 503) or response.status_code >= 500:
                self.throttled += response.status_code == 429
                last = error_text(response)
                wait = retry_after_s(response)
                if wait is not None:
                    self.pacer.hold(wait)
                else:
                    await self.sleep(_backoff(attempt))
                continue
            raise ToolRefused(
                f"{self.what} refused the request ({error_text(response)})", response.status_code
            )
        raise ToolUnavailable(f"{self.what} did not answer after {self.max_attempts} attempts ({last})")

    async def aclose(self) -> None:
        await self.client.aclose()


def _backoff(attempt: int) -> float:
    base: float = min(30.0, 0.5 * 2.0 ** (attempt - 1))
    return base * (0.5 + random.random() / 2)  # jitter
