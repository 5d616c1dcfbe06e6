"""The Jira client alone, against the fake Jira on 127.0.0.1: paging limits, wrong deployment, retry
delays (on a recorded sleep), and what its messages name."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from testgen.core.config import Settings
from testgen.jira.client import JiraClient, JiraError, configuration_problem
from tests.support.fake_jira import FakeJira, issue
from tests.worker.test_jira_import import use_jira


@pytest.fixture
def fake() -> Iterator[FakeJira]:
    issues = [issue(f"SHOP-{n}", f"Story {n}", "Given a\nThen b") for n in range(1, 8)]
    with FakeJira(deployment="cloud", issues=issues) as server:
        yield server


async def pages(client: JiraClient, jql: str = "project = SHOP") -> list[list[str]]:
    try:
        return [[i["key"] for i in page.issues] async for page in client.search(jql)]
    finally:
        await client.aclose()


async def test_max_issues_stops_the_paging(fake: FakeJira, settings: Settings) -> None:
    use_jira(settings, fake, page_size=2)
    settings.jira_max_issues = 3
    assert await pages(JiraClient(settings)) == [["SHOP-1", "SHOP-2"], ["SHOP-3"]]
    assert [r.body["maxResults"] for r in fake.requests] == [2, 1]


async def test_a_server_that_returns_fewer_than_asked_is_paged_to_the_end(
    fake: FakeJira, settings: Settings
) -> None:
    use_jira(settings, fake, page_size=100)
    fake.page_cap = 3
    assert [len(p) for p in await pages(JiraClient(settings))] == [3, 3, 1]


async def test_the_wrong_deployment_says_which_settings_to_check(fake: FakeJira, settings: Settings) -> None:
    use_jira(settings, fake)
    settings.jira_deployment = "datacenter"  # but the server is Cloud: no /rest/api/2/search
    with pytest.raises(JiraError) as caught:
        await pages(JiraClient(settings))
    assert caught.value.type == "jira"
    assert "JIRA_BASE_URL and JIRA_DEPLOYMENT (datacenter)" in caught.value.message


async def test_messages_never_show_a_password_in_the_base_url(fake: FakeJira, settings: Settings) -> None:
    use_jira(settings, fake)
    settings.jira_base_url = fake.url.replace("http://", "http://user:hunter2-secret@")
    fake.token = "not-what-we-send"  # refused: the error names the URL
    with pytest.raises(JiraError) as caught:
        await pages(JiraClient(settings))
    assert caught.value.type == "auth"
    assert fake.url in caught.value.message and "hunter2" not in caught.value.message
    assert fake.requests[0].authorization.startswith("Basic ")
    assert "hunter2" not in base64.b64decode(fake.requests[0].authorization[6:]).decode()


async def test_a_rate_limit_is_retried_after_the_servers_delay(fake: FakeJira, settings: Settings) -> None:
    use_jira(settings, fake)
    fake.rate_limited = 2
    fake.retry_after = "2"  # longer than the client's own first back-off (1 s): proves it is read
    waits: list[tuple[float, int]] = []  # each wait, and how many requests were made before it

    async def sleep(seconds: float) -> None:
        waits.append((seconds, len(fake.requests)))

    found = await pages(JiraClient(settings, sleep=sleep))
    assert found == [["SHOP-1", "SHOP-2"], ["SHOP-3", "SHOP-4"], ["SHOP-5", "SHOP-6"], ["SHOP-7"]]
    assert waits == [(2.0, 1), (2.0, 2)]  # after each refusal, before asking again
    assert len(fake.requests) == 2 + 4  # two refused, then the four pages


def test_retry_after_in_seconds_or_as_a_date_is_bounded(settings: Settings) -> None:
    settings.jira_base_url, settings.jira_email = "https://x.example", "a@b.c"
    settings.jira_api_token = SecretStr("t0ken")
    settings.jira_max_retry_wait_s = 30
    client = JiraClient(settings)
    answer = httpx.Response(429, headers={"Retry-After": "7"})
    assert client._retry_after(answer, 1) == 7
    assert client._retry_after(httpx.Response(429, headers={"Retry-After": "3600"}), 1) == 30
    assert client._retry_after(httpx.Response(429), 3) == 4  # no header: exponential
    dated = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert client._retry_after(dated, 1) == 0  # a date in the past: at once


def test_configuration_problems_name_the_missing_settings(settings: Settings) -> None:
    assert "JIRA_BASE_URL" in (configuration_problem(settings) or "")
    settings.jira_base_url = "ftp://jira"
    assert "https://" in (configuration_problem(settings) or "")
    settings.jira_base_url, settings.jira_deployment = "https://jira.example", "datacenter"
    assert "JIRA_PAT" in (configuration_problem(settings) or "")
