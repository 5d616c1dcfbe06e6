"""A fake GitHub REST API (issues, version 2022-11-28) on 127.0.0.1, on the fake tools' server
(tests/support/fake_xray.py), for one repository.

It speaks the documented contract: `Authorization: Bearer <token>` (else 401 `{"message": "Bad
credentials"}`); `GET /repos/{owner}/{repo}`; `GET /repos/{owner}/{repo}/issues` with `state`
(open, closed, all; else 422 "Validation Failed"), `labels` (comma-separated, every one must match),
`milestone` (a number, `*` or `none`), `per_page` (at most 100) and `page`, newest first, pull requests
included (they carry `pull_request`), paged by a `Link` header with absolute `next`/`last`/`prev`/
`first` URLs. Every answer carries `x-ratelimit-limit/remaining/used/reset/resource`.

It can misbehave like GitHub: the primary limit used up (`exhaust_next`: 403 "API rate limit exceeded"
with `x-ratelimit-remaining: 0` and the reset time), a secondary limit (`secondary_next`: 403 with
`retry-after`), 429s with `retry-after` (`throttle_next`), and a `Link` to another host (`foreign_next`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.support.fake_xray import Refusal, Request, ToolServer

DOCS = "https://docs.github.com/rest"


def issue(
    number: int,
    title: str,
    body: str | None,
    *,
    labels: tuple[str, ...] = (),
    milestone: int | None = None,
    state: str = "open",
    pull: bool = False,
) -> dict[str, Any]:
    """An issue (or, with `pull`, a pull request) as the list answers it."""
    item: dict[str, Any] = {
        "id": 1_000_000 + number,
        "node_id": f"I_kwDO{number:08d}",
        "number": number,
        "html_url": f"https://github.com/acme/shop/{'pull' if pull else 'issues'}/{number}",
        "title": title,
        "body": body,
        "state": state,
        "labels": [{"id": 100 + n, "name": name, "color": "ededed"} for n, name in enumerate(labels)],
        "milestone": {"number": milestone, "title": f"Sprint {milestone}"} if milestone else None,
        "user": {"login": "octocat", "id": 1},
        "comments": 0,
        "created_at": f"2026-03-{1 + number % 27:02d}T09:00:00Z",
        "updated_at": f"2026-03-{1 + number % 27:02d}T10:00:00Z",
    }
    if pull:
        item["pull_request"] = {"url": "…", "html_url": "…"}
    return item


@dataclass
class FakeGitHub(ToolServer):
    token: str = "github_pat_11AAAAAAA0s3cr3tT0k3nZ9y8x7w6v5u4t3s2r1q0"
    owner: str = "acme"
    repo: str = "shop"
    issues: list[dict[str, Any]] = field(default_factory=list)
    exhaust_next: int = 0  # answer 403 "API rate limit exceeded" (remaining 0) to this many requests
    secondary_next: int = 0  # answer 403 with retry-after (a secondary limit) to this many requests
    reset_in: int = 42  # seconds from `epoch()` to the reset of a used-up limit
    foreign_next: bool = False  # the first page's next link points at another host
    per_page_cap: int = 100  # GitHub's; lower, to page a few issues
    epoch: Callable[[], float] = time.time

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.repo}"

    @property
    def settings(self) -> dict[str, Any]:
        return {"kind": "github", "repository": self.repository, "api_url": self.api_url}

    @property
    def secrets(self) -> dict[str, str]:
        return {"token": self.token}

    def issue_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/issues")]

    # --- the server -------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> Any:
        return {"message": message, "documentation_url": DOCS, "status": str(status)}

    def _reset(self) -> int:
        return int(self.epoch()) + self.reset_in

    def _limit_headers(self, wait: int) -> dict[str, str]:
        return {"retry-after": str(wait), **self._rate(remaining=4000)}

    def _rate(self, remaining: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(5000 - remaining),
            "x-ratelimit-reset": str(self._reset()),
            "x-ratelimit-resource": "core",
        }

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token != self.token:
            raise Refusal(401, self._error(401, "Bad credentials"))
        if self.exhaust_next > 0:
            self.exhaust_next -= 1
            message = "API rate limit exceeded for user ID 1. If you reach out to GitHub Support…"
            raise Refusal(403, self._error(403, message), self._rate(remaining=0))
        if self.secondary_next > 0:
            self.secondary_next -= 1
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            )
            raise Refusal(403, self._error(403, message), {"retry-after": "7", **self._rate(remaining=4000)})

    def _answer_headers(self, request: Request) -> dict[str, str]:
        headers = self._rate(remaining=4000)
        link = getattr(request, "link", None)
        if link:
            headers["Link"] = link
        return headers

    def _answer(self, request: Request) -> tuple[int, Any]:
        base = f"/repos/{self.owner}/{self.repo}"
        if request.method == "GET" and request.path == base:
            return 200, {"id": 1296269, "name": self.repo, "full_name": self.repository, "private": True}
        if request.method == "GET" and request.path == f"{base}/issues":
            return 200, self._list(request)
        raise Refusal(404, self._error(404, "Not Found"))

    def _list(self, request: Request) -> list[dict[str, Any]]:
        query = request.query
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise Refusal(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [{"resource": "Issue", "field": "state", "code": "invalid"}],
                    "documentation_url": DOCS,
                    "status": "422",
                },
            )
        wanted = [label for label in query.get("labels", "").split(",") if label]
        milestone = query.get("milestone")
        chosen = []
        for item in sorted(self.issues, key=lambda i: -int(i["number"])):
            names = {label["name"] for label in item["labels"]}
            if state != "all" and item["state"] != state:
                continue
            if any(label not in names for label in wanted):
                continue
            number = (item.get("milestone") or {}).get("number")
            if milestone == "none" and number is not None:
                continue
            if milestone == "*" and number is None:
                continue
            if milestone not in (None, "*", "none") and str(number) != milestone:
                continue
            chosen.append(item)
        per_page = min(self.per_page_cap, max(1, int(query.get("per_page", "30"))))
        page = max(1, int(query.get("page", "1")))
        last = max(1, -(-len(chosen) // per_page))
        links = []

        def at(n: int) -> str:
            return f"{self.url}{request.path}?{urlencode({**query, 'page': str(n)})}"

        if page < last:
            following = at(page + 1)
            if self.foreign_next:
                following = following.replace("127.0.0.1", "localhost")
            links += [f'<{following}>; rel="next"', f'<{at(last)}>; rel="last"']
        if page > 1:
            links += [f'<{at(page - 1)}>; rel="prev"', f'<{at(1)}>; rel="first"']
        request.link = ", ".join(links)  # type: ignore[attr-defined]
        return [dict(i) for i in chosen[(page - 1) * per_page : page * per_page]]
