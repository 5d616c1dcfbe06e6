"""A small client of Jira's issue search: Cloud (REST v3 `/search/jql`, paged with `nextPageToken`,
basic auth with an e-mail and API token) or Data Center (REST v2 `/search`, paged with `startAt`,
bearer personal access token), on httpx.

Failures become `JiraError(type, message)`: "auth" (401/403), "jql" (400, with Jira's own text),
"rate_limited" (429 still refused after the retries, each honouring Retry-After), "unreachable"
(naming the base URL), "jira" (anything else). No message ever carries a credential: Jira's text is
scrubbed of every echo of it (core/redaction.py: any case, percent-encoded, spaced out, cut short,
base64 as in the Authorization header) before it is used, since a server may echo what it received.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from testgen.core.config import Settings
from testgen.core.redaction import Scrubber
from testgen.domain.job_errors import ErrorType

logger = logging.getLogger(__name__)

CLOUD_SEARCH = "/rest/api/3/search/jql"
DATACENTER_SEARCH = "/rest/api/2/search"
BASE_FIELDS = ("summary", "description", "priority")
MAX_ERROR_TEXT = 500
MAX_REDIRECTS = 3  # of an attachment's download


class JiraError(Exception):
    def __init__(self, type_: ErrorType, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    issues: list[Any]
    total: int | None  # Data Center says how many match; Cloud does not


def configuration_problem(settings: Settings) -> str | None:
    """What is missing for a Jira import, or None when it can run."""
    if not settings.jira_base_url:
        return "Jira is not configured: set JIRA_BASE_URL (and the credentials), then import again"
    if not settings.jira_base_url.startswith(("http://", "https://")):
        return "JIRA_BASE_URL must start with https:// (or http://); fix it, then import again"
    if settings.jira_deployment == "cloud" and not (settings.jira_email and settings.jira_api_token):
        return "Jira Cloud needs JIRA_EMAIL and JIRA_API_TOKEN; set them, then import again"
    if settings.jira_deployment == "datacenter" and not settings.jira_pat:
        return "Jira Data Center needs JIRA_PAT (a personal access token); set it, then import again"
    return None


class JiraClient:
    """One per worker process (built at start-up, closed at shutdown); safe to share between jobs. The
    waits between retries sleep on `sleep` (a test passes one that records them)."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        problem = configuration_problem(settings)
        if problem is not None:
            raise JiraError(ErrorType.configuration, problem)
        assert settings.jira_base_url is not None
        base = settings.jira_base_url.rstrip("/")
        url = httpx.URL(base)
        # Without any user:password part: the credentials are the settings' (httpx would otherwise send
        # the URL's instead), and messages name this URL.
        self.base_url = str(url.copy_with(username=None, password=None)) if url.userinfo else base
        self.deployment = settings.jira_deployment
        self.acceptance_field = settings.jira_acceptance_field
        self.page_size = settings.jira_page_size
        self.max_issues = settings.jira_max_issues
        self.max_retries = settings.jira_max_retries
        self.max_retry_wait_s = settings.jira_max_retry_wait_s
        self._sleep = sleep
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.deployment == "cloud":
            assert settings.jira_email is not None and settings.jira_api_token is not None
            token = settings.jira_api_token.get_secret_value()
            basic = base64.b64encode(f"{settings.jira_email}:{token}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
            # The token, and the header's base64 (the token's part of it is found whatever the e-mail).
            self.scrub = Scrubber(token, basic)
        else:
            assert settings.jira_pat is not None
            pat = settings.jira_pat.get_secret_value()
            headers["Authorization"] = f"Bearer {pat}"
            self.scrub = Scrubber(pat)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=settings.jira_timeout_s,
            follow_redirects=False,  # never carry the credentials to another host
            transport=transport,
        )
        # Where an attachment's download is redirected to (a signed address on another host): no
        # credentials, no cookies of Jira's.
        self._bare = httpx.AsyncClient(
            timeout=settings.jira_timeout_s, follow_redirects=False, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._bare.aclose()

    @property
    def fields(self) -> list[str]:
        extra = [self.acceptance_field] if self.acceptance_field else []
        return [*BASE_FIELDS, *extra]

    async def search(self, jql: str, extra_fields: Sequence[str] = ()) -> AsyncIterator[Page]:
        """The pages of issues matching `jql`, up to JIRA_MAX_ISSUES issues in all, each with the story's
        fields and `extra_fields` (comments, links, sub-tasks, attachments)."""
        seen = 0
        number = 0
        token: str | None = None
        start_at = 0
        while seen < self.max_issues:
            size = min(self.page_size, self.max_issues - seen)
            body: dict[str, Any] = {"jql": jql, "fields": [*self.fields, *extra_fields], "maxResults": size}
            if self.deployment == "cloud":
                if token is not None:
                    body["nextPageToken"] = token
                answer = await self._post(CLOUD_SEARCH, body)
            else:
                body["startAt"] = start_at
                answer = await self._post(DATACENTER_SEARCH, body)
            issues = answer.get("issues")
            if not isinstance(issues, list):
                raise JiraError(ErrorType.jira, f"Jira's search answer at {self.base_url} has no issue list")
            issues = issues[: self.max_issues - seen]
            number += 1
            seen += len(issues)
            total = answer.get("total")
            yield Page(number, issues, total if isinstance(total, int) else None)
            if not issues:
                return
            if self.deployment == "cloud":
                following = answer.get("nextPageToken")
                if answer.get("isLast") is True or not isinstance(following, str) or not following:
                    return
                if following == token:
                    raise JiraError(
                        ErrorType.jira, "Jira sent the same page token twice; stopping the import"
                    )
                token = following
            else:
                start_at += len(issues)
                if isinstance(total, int) and start_at >= total:
                    return

    async def attachment(self, attachment_id: str, max_bytes: int) -> bytes:
        """The content of attachment `attachment_id` (`GET …/attachment/content/{id}`), at most
        `max_bytes`. Cloud answers 303 to a signed address on another host: it is followed (up to
        MAX_REDIRECTS) without the credentials, which never leave Jira's host. `JiraError` "jira" when
        the file is gone, larger than `max_bytes`, or Jira refuses it."""
        version = "3" if self.deployment == "cloud" else "2"
        path = f"/rest/api/{version}/attachment/content/{quote(attachment_id, safe='')}"
        async with self._http.stream("GET", path) as response:
            if response.is_redirect:
                target = response.headers.get("Location", "")
                return await self._download_elsewhere(response.url.join(target), attachment_id, max_bytes)
            return await self._body(response, attachment_id, max_bytes)

    async def _download_elsewhere(self, url: httpx.URL, attachment_id: str, max_bytes: int) -> bytes:
        """Follow a redirect of a download with a client that holds no credentials."""
        for _ in range(MAX_REDIRECTS):
            if url.scheme not in ("http", "https"):
                raise JiraError(
                    ErrorType.jira, f"Jira sent attachment {attachment_id} to an unusable address"
                )
            async with self._bare.stream("GET", url) as response:
                if not response.is_redirect:
                    return await self._body(response, attachment_id, max_bytes)
                url = response.url.join(response.headers.get("Location", ""))
        raise JiraError(ErrorType.jira, f"Jira redirected attachment {attachment_id} too many times")

    async def _body(self, response: httpx.Response, attachment_id: str, max_bytes: int) -> bytes:
        if response.status_code != 200:
            raise JiraError(
                ErrorType.jira, f"attachment {attachment_id} could not be read (HTTP {response.status_code})"
            )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(attachment_id, max_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise JiraError(
                    ErrorType.jira, f"attachment {attachment_id} is larger than {max_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                response = await self._http.post(path, json=body)
            except httpx.TimeoutException:
                raise JiraError(
                    ErrorType.unreachable,
                    f"Jira at {self.base_url} did not answer in time; check JIRA_BASE_URL and the network "
                    "(or raise JIRA_TIMEOUT_S), then import again",
                ) from None
            except httpx.TransportError as exc:
                raise JiraError(
                    ErrorType.unreachable,
                    f"Cannot reach Jira at {self.base_url} ({type(exc).__name__}); check JIRA_BASE_URL "
                    "and the network, then import again",
                ) from None
            status = response.status_code
            if status in (429, 503) and attempt < self.max_retries:
                attempt += 1
                wait = self._retry_after(response, attempt)
                logger.info("Jira answered %d; retrying in %.1f s (attempt %d)", status, wait, attempt)
                await self._sleep(wait)
                continue
            if status == 200:
                try:
                    answer = response.json()
                except (ValueError, RecursionError):  # not JSON, or nested beyond reason
                    answer = None
                if not isinstance(answer, dict):
                    raise JiraError(
                        ErrorType.jira, f"Jira at {self.base_url} answered with something else than JSON"
                    )
                return answer
            raise self._error(response)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After", "").strip()
        wait: float | None = None
        if header.isdigit():
            wait = float(header)
        elif header:
            parsed = email.utils.parsedate_to_datetime(header) if "," in header else None
            if parsed is not None and parsed.tzinfo is not None:
                wait = max(0.0, parsed.timestamp() - time.time())
        if wait is None:
            wait = float(2 ** (attempt - 1))
        return min(wait, self.max_retry_wait_s)

    def _jira_text(self, response: httpx.Response) -> str:
        """Jira's error messages, scrubbed of credentials and bounded."""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        parts: list[str] = []
        if isinstance(answer, dict):
            messages = answer.get("errorMessages")
            if isinstance(messages, list):
                parts += [str(m) for m in messages]
            errors = answer.get("errors")
            if isinstance(errors, dict):
                parts += [f"{k}: {v}" for k, v in errors.items()]
        text = self.scrub(" ".join(" ".join(parts).split()))
        return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"

    def _error(self, response: httpx.Response) -> JiraError:
        status = response.status_code
        if status in (401, 403):
            what = "JIRA_EMAIL and JIRA_API_TOKEN" if self.deployment == "cloud" else "JIRA_PAT"
            return JiraError(
                ErrorType.auth,
                f"Jira at {self.base_url} refused the credentials (HTTP {status}); check {what} and that "
                "the account may browse these projects, then import again",
            )
        if status == 400:
            text = self._jira_text(response) or "no reason given"
            return JiraError(
                ErrorType.jql, f"Jira rejected the search: {text}. Fix the JQL, then import again"
            )
        if status == 429 or status == 503:
            return JiraError(
                ErrorType.rate_limited,
                f"Jira at {self.base_url} kept answering HTTP {status} (rate limit) after "
                f"{self.max_retries} retries; try again later",
            )
        if status == 404:
            return JiraError(
                ErrorType.jira,
                f"Jira at {self.base_url} has no search endpoint here (HTTP 404); check JIRA_BASE_URL "
                f"and JIRA_DEPLOYMENT ({self.deployment})",
            )
        text = self._jira_text(response)
        detail = f": {text}" if text else ""
        return JiraError(
            ErrorType.jira, f"Jira at {self.base_url} answered HTTP {status}{detail}; try again later"
        )


def _too_large(attachment_id: str, max_bytes: int) -> JiraError:
    return JiraError(ErrorType.jira, f"attachment {attachment_id} is larger than {max_bytes} bytes")
