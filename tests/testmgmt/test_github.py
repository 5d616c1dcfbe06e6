"""The GitHub issues connector through its real HTTP client against the fake GitHub on 127.0.0.1:
paging by `Link`, the filter, pull requests left out, and each kind of rate limit honoured as GitHub
documents it (the waits recorded on an injected sleep)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from testgen.domain.connections import ConnectionKind
from testgen.testmgmt.base import ToolAuthError, ToolRefused, ToolUnavailable
from testgen.testmgmt.factory import HttpOptions, connect
from testgen.testmgmt.github import GitHubIssues, IssuePage
from tests.support.echoes import assert_no_echo
from tests.support.fake_github import FakeGitHub, issue
from tests.testmgmt.test_xray import FAST, Sleeps

NAME = "Shop issues"
Connect = Callable[..., GitHubIssues]


def seeded() -> list[dict[str, Any]]:
    made = [
        issue(
            n, f"Story {n}", f"- [ ] criterion {n}", labels=("story",) if n % 2 else ("bug",), milestone=n % 3
        )
        for n in range(1, 8)
    ]
    made.append(issue(8, "A pull request", "- [ ] x", labels=("story",), pull=True))
    made.append(issue(9, "Closed story", "- [ ] y", labels=("story",), state="closed"))
    return made


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(issues=seeded(), per_page_cap=2) as server:
        yield server


@pytest.fixture
async def connector(fake: FakeGitHub) -> AsyncIterator[Connect]:
    made: list[GitHubIssues] = []

    def make(sleep: Sleeps | None = None, max_wait_s: float = 120.0, **settings: Any) -> GitHubIssues:
        secrets = settings.pop("secrets", fake.secrets)
        options = HttpOptions(timeout_s=10, sleep=sleep or Sleeps(), max_wait_s=max_wait_s)
        values = {**fake.settings, "requests_per_minute": FAST, **settings}
        one = connect(ConnectionKind.github, values, secrets, NAME, options)
        assert isinstance(one, GitHubIssues)
        made.append(one)
        return one

    yield make
    for one in made:
        await one.aclose()


async def read_all(github: GitHubIssues, **chosen: Any) -> list[IssuePage]:
    values: dict[str, Any] = {"state": "open", "labels": [], "milestone": None, "max_issues": 1000, **chosen}
    return [page async for page in github.issues(**values)]


async def test_check_names_the_repository(fake: FakeGitHub, connector: Connect) -> None:
    assert await connector().check() == "GitHub repository acme/shop"
    request = fake.requests[-1]
    assert request.authorization == f"Bearer {fake.token}"


async def test_pages_follow_the_link_header_and_leave_pull_requests_out(
    fake: FakeGitHub, connector: Connect
) -> None:
    pages = await read_all(connector(), labels=["story"])
    numbers = [[i["number"] for i in page.issues] for page in pages]
    assert numbers == [[7], [5, 3], [1]]  # 8 (a pull request) shared the first page; 9 is closed
    assert [page.pulls for page in pages] == [1, 0, 0]
    first, *following = fake.issue_requests()
    assert first.query == {"state": "open", "per_page": "100", "labels": "story"}
    assert [r.query["page"] for r in following] == ["2", "3"]  # the Link URLs, as given


async def test_the_filter_goes_to_github(fake: FakeGitHub, connector: Connect) -> None:
    pages = await read_all(connector(), state="all", milestone="1", labels=["story"])
    assert [i["number"] for page in pages for i in page.issues] == [7, 1]
    assert fake.issue_requests()[0].query["milestone"] == "1"
    pages = await read_all(connector(), state="closed")
    assert [i["number"] for page in pages for i in page.issues] == [9]


async def test_at_most_max_issues_are_read(fake: FakeGitHub, connector: Connect) -> None:
    pages = await read_all(connector(), state="all", max_issues=3)
    assert sum(len(page.issues) for page in pages) == 3
    assert len(fake.issue_requests()) == 2


async def test_a_used_up_limit_waits_for_its_reset(fake: FakeGitHub, connector: Connect) -> None:
    fake.exhaust_next, fake.reset_in = 1, 42
    sleeps = Sleeps()
    pages = await read_all(connector(sleep=sleeps), labels=["story"])
    assert len(pages) == 3
    long_waits = [w for w in sleeps.waits if w >= 1]
    assert len(long_waits) == 1 and 40 <= long_waits[0] <= 42  # until x-ratelimit-reset
    assert fake.statuses()[403] == 1


async def test_a_secondary_limit_waits_its_retry_after(fake: FakeGitHub, connector: Connect) -> None:
    fake.secondary_next = 1
    sleeps = Sleeps()
    await read_all(connector(sleep=sleeps))
    assert [w for w in sleeps.waits if w >= 1] == [7.0]


async def test_a_429_waits_its_retry_after(fake: FakeGitHub, connector: Connect) -> None:
    fake.throttle_next, fake.retry_after = 2, 3
    sleeps = Sleeps()
    await read_all(connector(sleep=sleeps))
    assert [w for w in sleeps.waits if w >= 1] == [3.0, 3.0]


async def test_a_reset_too_far_away_fails_at_once_saying_so(fake: FakeGitHub, connector: Connect) -> None:
    fake.exhaust_next, fake.reset_in = 1, 3600
    sleeps = Sleeps()
    with pytest.raises(ToolUnavailable) as failed:
        await read_all(connector(sleep=sleeps, max_wait_s=900))
    assert "rate limited for" in failed.value.message and "API rate limit exceeded" in failed.value.message
    assert not [w for w in sleeps.waits if w >= 1]
    assert len(fake.issue_requests()) == 1


async def test_refused_token_is_an_auth_error_without_the_token(fake: FakeGitHub, connector: Connect) -> None:
    wrong = "github_pat_wrong0000000000000000000000000"
    with pytest.raises(ToolAuthError) as refused:
        await read_all(connector(secrets={"token": wrong}))
    assert "Bad credentials" in refused.value.message
    assert_no_echo(refused.value.message, wrong)


async def test_a_next_page_on_another_host_is_not_followed(fake: FakeGitHub, connector: Connect) -> None:
    fake.foreign_next = True
    with pytest.raises(ToolRefused, match="another host"):
        await read_all(connector())
    assert len(fake.requests) == 1


async def test_a_github_connection_is_not_a_push_target(connector: Connect) -> None:
    from testgen.testmgmt.base import Remote

    with pytest.raises(ToolRefused, match="source of stories"):
        await connector().version(Remote(id="1"))
