"""GitHub issues as a story source: the connector of a `github` connection tries its token on the
repository and reads the repository's issues, page by page. It is not a push target.

- `GET /repos/{owner}/{repo}/issues?state=&labels=a,b&milestone=&per_page=100`, then the URL of each
  answer's `Link: <…>; rel="next"` as given, only on the API's own host (the token goes nowhere else).
  Pull requests come in the list too (they carry `pull_request`): the caller leaves them out.
- Headers: `Authorization: Bearer <token>`, `Accept: application/vnd.github+json`,
  `X-GitHub-Api-Version: 2022-11-28`.
- Rate limits: a 403 or 429 with `retry-after` waits that long; with `x-ratelimit-remaining: 0`, until
  `x-ratelimit-reset` (epoch seconds); a 429 (or a 403 saying "rate limit") without either waits at
  least a minute, doubling. A 403 that is none of these refuses the token. A wait longer than the
  server's IMPORT_MAX_RATE_LIMIT_WAIT_S fails the import, saying when to try again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from testgen.domain.connections import ConnectionKind, GitHubSettings, requests_per_minute
from testgen.testmgmt.base import CaseDoc, Remote, StoryRef, ToolRefused
from testgen.testmgmt.factory import HttpOptions
from testgen.testmgmt.http import ToolHttp

API_VERSION = "2022-11-28"
PAGE_SIZE = 100  # GitHub's largest
MIN_UNTOLD_WAIT_S = 60.0  # a rate limit that says nothing of when it ends
NOT_A_TOOL = "A GitHub connection is a source of stories; push test cases to a test-management tool"


@dataclass(frozen=True)
class IssuePage:
    number: int  # 1-based
    issues: list[dict[str, Any]]  # pull requests left out
    pulls: int  # pull requests the page held


def rate_limit_wait(clock: Callable[[], float] = time.time) -> Callable[[httpx.Response, int], float | None]:
    """GitHub's reading of a refusal: how long to wait when it is a rate limit (None otherwise)."""

    def wait(response: httpx.Response, attempt: int) -> float | None:
        if response.status_code not in (403, 429):
            return None
        headers = response.headers
        retry_after = headers.get("retry-after", "").strip()
        if retry_after.isdigit():
            return float(retry_after)
        reset = headers.get("x-ratelimit-reset", "").strip()
        if headers.get("x-ratelimit-remaining", "").strip() == "0" and reset.isdigit():
            return max(1.0, float(reset) - clock())
        if response.status_code == 429 or "rate limit" in response.text[:2000].lower():
            return float(MIN_UNTOLD_WAIT_S * 2 ** (attempt - 1))
        return None

    return wait


class GitHubIssues:
    """The connector of a `github` connection."""

    kind = ConnectionKind.github

    def __init__(self, settings: GitHubSettings, token: str, name: str, options: HttpOptions) -> None:
        self.settings = settings
        self.api = settings.api_url.rstrip("/")
        owner, _, repo = settings.repository.partition("/")
        self.owner, self.repo = owner, repo
        self.what = f"GitHub connection '{name}'"
        client = httpx.AsyncClient(
            base_url=self.api,
            timeout=options.timeout_s,
            transport=options.transport,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            },
        )
        self.http = ToolHttp(
            client,
            self.what,
            requests_per_minute(settings, self.kind),
            sleep=options.sleep or asyncio.sleep,
            rate_limit=rate_limit_wait(),
            max_wait_s=options.max_wait_s,
        )

    @property
    def repo_path(self) -> str:
        return f"/repos/{quote(self.owner, safe='')}/{quote(self.repo, safe='')}"

    async def check(self) -> str:
        answer = (await self.http.request("GET", self.repo_path)).json()
        name = answer.get("full_name") if isinstance(answer, dict) else None
        return f"GitHub repository {name or self.settings.repository}"

    async def issues(
        self, *, state: str, labels: list[str], milestone: str | None, max_issues: int
    ) -> AsyncIterator[IssuePage]:
        """The pages of the repository's issues the filter finds, up to `max_issues` issues in all."""
        params: dict[str, str] = {"state": state, "per_page": str(PAGE_SIZE)}
        if labels:
            params["labels"] = ",".join(labels)
        if milestone is not None:
            params["milestone"] = milestone
        url: str | None = f"{self.repo_path}/issues"
        seen: set[str] = set()
        number = kept = 0
        while url is not None and kept < max_issues:
            response = await self.http.request("GET", url, params=params if number == 0 else None)
            answer = response.json()
            if not isinstance(answer, list):
                raise ToolRefused(f"{self.what}: GitHub's issue list is not a list", response.status_code)
            issues = [i for i in answer if isinstance(i, dict) and "pull_request" not in i]
            issues = issues[: max_issues - kept]
            number += 1
            kept += len(issues)
            yield IssuePage(number, issues, sum(1 for i in answer if isinstance(i, dict)) - len(issues))
            url = self._next(response, seen)

    def _next(self, response: httpx.Response, seen: set[str]) -> str | None:
        """The next page's URL, when it is on the API's host and was not read already."""
        following = (response.links.get("next") or {}).get("url")
        if not following:
            return None
        target, base = httpx.URL(following), httpx.URL(self.api)
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ToolRefused(f"{self.what}: GitHub's next page is on another host ({target.host})")
        if following in seen:
            raise ToolRefused(f"{self.what}: GitHub sent the same next page twice")
        seen.add(following)
        return following

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        raise ToolRefused(NOT_A_TOOL)

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        raise ToolRefused(NOT_A_TOOL)

    async def version(self, remote: Remote) -> str | None:
        raise ToolRefused(NOT_A_TOOL)

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        raise ToolRefused(NOT_A_TOOL)

    async def delete(self, remote: Remote) -> None:
        raise ToolRefused(NOT_A_TOOL)

    async def aclose(self) -> None:
        await self.http.aclose()


def connect(
    kind: ConnectionKind, settings: dict[str, Any], secrets: dict[str, str], name: str, options: HttpOptions
) -> GitHubIssues:
    return GitHubIssues(GitHubSettings.model_validate(settings), secrets["token"], name, options)
