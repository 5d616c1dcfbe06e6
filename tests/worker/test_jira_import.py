"""Jira import end to end: the API queues it, a real worker reads a fake Jira on 127.0.0.1 (Cloud and
Data Center), the progress streams over SSE, and failures say what happened without leaking a token."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from testgen.cli.main import main
from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from tests.support.echoes import ALTERED_STYLES, assert_no_echo
from tests.support.fake_jira import FakeJira, adf, bullets, heading, issue, ordered, paragraph
from tests.support.harness import run_worker
from tests.support.helpers import Event, read_events

FIELD = "customfield_10034"


def cloud_issues() -> list[dict[str, Any]]:
    """Seven issues: six mappable (criteria from the field, a heading, Given/When/Then), one not."""
    found = []
    for n in range(1, 7):
        if n % 3 == 0:
            description = adf(
                paragraph(f"Story {n}"), paragraph("Given a basket"), paragraph("Then it is paid")
            )
            found.append(issue(f"SHOP-{n}", f"Story {n}", description, "High"))
        elif n % 3 == 1:
            description = adf(paragraph("Intro"), heading("Acceptance criteria"), ordered(f"A{n}", f"B{n}"))
            found.append(issue(f"SHOP-{n}", f"Story {n}", description, "Highest"))
        else:
            extra = {FIELD: adf(bullets(f"Field {n}"))}
            found.append(issue(f"SHOP-{n}", f"Story {n}", adf(paragraph("No heading")), "Low", **extra))
    found.insert(3, issue("SHOP-99", "Vague", adf(paragraph("No criteria at all")), "Medium"))
    return found


def use_jira(settings: Settings, fake: FakeJira, *, page_size: int = 2) -> None:
    settings.jira_deployment = fake.deployment  # type: ignore[assignment]
    settings.jira_base_url = fake.url
    settings.jira_email = fake.email
    settings.jira_api_token = SecretStr(fake.token)
    settings.jira_pat = SecretStr(fake.pat)
    settings.jira_acceptance_field = FIELD
    settings.jira_page_size = page_size


@pytest.fixture
def cloud(settings: Settings) -> Iterator[FakeJira]:
    with FakeJira(deployment="cloud", issues=cloud_issues()) as fake:
        use_jira(settings, fake)
        yield fake


@pytest.fixture
def datacenter(settings: Settings) -> Iterator[FakeJira]:
    wiki_issues = [
        issue(
            f"OPS-{n}",
            f"Ops story {n}",
            f"h2. Context\nAs an *operator* I need {n}.\n"
            f"h2. Acceptance criteria\n* First {n}\n* Second {n}\nh2. Notes\n",
            "Major",
        )
        for n in range(1, 8)
    ]
    with FakeJira(deployment="datacenter", issues=wiki_issues) as fake:
        use_jira(settings, fake, page_size=3)
        yield fake


async def new_project(http: AsyncClient, name: str = "Shop") -> int:
    r = await http.post("/projects", json={"name": name})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def run_import(http: AsyncClient, project_id: int, jql: str) -> tuple[dict[str, Any], list[Event]]:
    r = await http.post(f"/projects/{project_id}/imports/jira", json={"jql": jql})
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["project_id"] == project_id and queued["story_id"] is None
    events = await read_events(http, queued["events_url"])
    return queued, events


async def stories_of(http: AsyncClient, project_id: int) -> dict[str, dict[str, Any]]:
    r = await http.get("/user-stories", params={"project_id": project_id, "limit": 500})
    return {s["id"]: s for s in r.json()}


async def test_cloud_import_pages_progress_and_mapping(
    cloud: FakeJira, http: AsyncClient, worker: object
) -> None:
    project = await new_project(http)
    _, events = await run_import(http, project, "project = SHOP ORDER BY key")
    final = events[-1]
    assert final.event == "completed", final.data
    result = final.data["result"]
    assert result["counts"] == {"created": 6, "updated": 0, "unchanged": 0, "skipped": 1}
    assert result["pages"] == 4
    assert result["skipped"] == [
        {"key": "SHOP-99", "reason": result["skipped"][0]["reason"]},
    ]
    assert "no acceptance criteria" in result["skipped"][0]["reason"]
    progress = [e.data["message"] for e in events if e.data["message"].startswith("Fetched page")]
    assert progress == [
        "Fetched page 1: 2 issues processed",
        "Fetched page 2: 4 issues processed",
        "Fetched page 3: 6 issues processed",
        "Fetched page 4: 7 issues processed",
    ]
    percents = [e.data["progress"] for e in events]
    assert percents == sorted(percents) and percents[-1] == 100

    stories = await stories_of(http, project)
    assert sorted(stories) == [f"SHOP-{n}" for n in range(1, 7)]
    assert stories["SHOP-1"]["acceptance_criteria"] == ["A1", "B1"]
    assert stories["SHOP-1"]["priority"] == "critical"
    assert stories["SHOP-2"]["acceptance_criteria"] == ["Field 2"]
    assert stories["SHOP-2"]["priority"] == "low"
    assert stories["SHOP-3"]["acceptance_criteria"] == ["Given a basket Then it is paid"]
    assert stories["SHOP-3"]["jira_url"] == f"{cloud.url}/browse/SHOP-3"
    assert stories["SHOP-1"]["description"].startswith("Intro\n\nAcceptance criteria\n\n1. A1")

    # The requests: v3 search, only the needed fields, paged by token, basic auth.
    assert [r.path for r in cloud.requests] == ["/rest/api/3/search/jql"] * 4
    assert cloud.requests[0].body["fields"] == ["summary", "description", "priority", FIELD]
    assert [r.body.get("nextPageToken") for r in cloud.requests] == [None, "tok-2", "tok-4", "tok-6"]
    assert {r.authorization for r in cloud.requests} == {cloud.expected_authorization}

    status = (await http.get(f"/generate-test-cases/status/{final.data['task_id']}")).json()
    assert status["status"] == "completed" and status["kind"] == "import_jira"


async def test_datacenter_import_pages_with_start_at_and_bearer_token(
    datacenter: FakeJira, http: AsyncClient, worker: object
) -> None:
    project = await new_project(http, "Ops")
    _, events = await run_import(http, project, "project = OPS")
    assert events[-1].event == "completed", events[-1].data
    result = events[-1].data["result"]
    assert result["counts"]["created"] == 7 and result["pages"] == 3
    assert [r.body["startAt"] for r in datacenter.requests] == [0, 3, 6]
    assert {r.path for r in datacenter.requests} == {"/rest/api/2/search"}
    assert {r.authorization for r in datacenter.requests} == {f"Bearer {datacenter.pat}"}
    messages = [e.data["message"] for e in events if e.data["message"].startswith("Fetched")]
    assert messages[0] == "Fetched page 1: 3 of 7 issues processed"
    stories = await stories_of(http, project)
    assert stories["OPS-4"]["acceptance_criteria"] == ["First 4", "Second 4"]
    assert stories["OPS-4"]["description"] == (
        "Context\n\nAs an operator I need 4.\n\nAcceptance criteria\n\n- First 4\n- Second 4\n\nNotes"
    )
    assert stories["OPS-4"]["priority"] == "high"


async def test_reimport_updates_in_place_and_never_duplicates(
    cloud: FakeJira, http: AsyncClient, worker: object
) -> None:
    project = await new_project(http)
    await run_import(http, project, "project = SHOP")
    before = await stories_of(http, project)
    cloud.issues[0]["fields"]["summary"] = "Story 1, reworded"
    cloud.issues[1]["fields"][FIELD] = adf(bullets("Field 2", "A new criterion"))
    _, events = await run_import(http, project, "project = SHOP")
    result = events[-1].data["result"]
    assert result["counts"] == {"created": 0, "updated": 2, "unchanged": 4, "skipped": 1}
    assert sorted(result["updated"]) == ["SHOP-1", "SHOP-2"]
    after = await stories_of(http, project)
    assert sorted(after) == sorted(before)
    assert after["SHOP-1"]["title"] == "Story 1, reworded"
    assert after["SHOP-2"]["acceptance_criteria"] == ["Field 2", "A new criterion"]
    assert after["SHOP-3"]["updated_at"] == before["SHOP-3"]["updated_at"]
    # Changed criteria are a new revision of the story (its saved tests may be stale); a title is not.
    assert (after["SHOP-1"]["revision"], after["SHOP-2"]["revision"]) == (1, 2)


async def test_a_story_of_another_project_is_skipped_not_moved(
    cloud: FakeJira, http: AsyncClient, worker: object
) -> None:
    other = await new_project(http, "Other")
    r = await http.post(
        "/user-stories",
        json={"id": "SHOP-1", "project_id": other, "title": "Mine", "acceptance_criteria": ["kept"]},
    )
    assert r.status_code == 201
    project = await new_project(http)
    _, events = await run_import(http, project, "project = SHOP")
    skipped = {s["key"]: s["reason"] for s in events[-1].data["result"]["skipped"]}
    assert skipped["SHOP-1"] == f"story SHOP-1 already belongs to project {other}"
    assert (await http.get("/user-stories/SHOP-1")).json()["title"] == "Mine"


def secrets_of(fake: FakeJira) -> list[str]:
    pair = f"{fake.email}:{fake.token}"
    return [fake.token, fake.pat, pair, base64.b64encode(pair.encode()).decode()]


def assert_no_secret(fake: FakeJira, *texts: str) -> None:
    for text in texts:
        for secret in secrets_of(fake):
            assert secret not in text


async def test_refused_credentials_fail_as_auth_without_the_token(
    cloud: FakeJira, http: AsyncClient, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sent = FakeJira(email=cloud.email, token=cloud.token)  # what the worker sends (from settings)
    cloud.token = "the-right-token-on-the-server"  # so the server refuses it, echoing it back
    project = await new_project(http)
    queued, events = await run_import(http, project, "project = SHOP")
    final = events[-1]
    assert final.event == "failed"
    assert final.data["error"]["type"] == "auth"
    assert "JIRA_API_TOKEN" in final.data["error"]["message"]
    assert cloud.url in final.data["error"]["message"]
    assert cloud.requests[0].authorization == sent.expected_authorization  # it did reach the server
    status = (await http.get(f"/generate-test-cases/status/{queued['task_id']}")).text
    assert_no_secret(sent, json.dumps([e.data for e in events]), status, caplog.text)


async def test_bad_jql_reports_jiras_text_scrubbed_of_credentials(
    cloud: FakeJira, http: AsyncClient, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    project = await new_project(http)
    queued, events = await run_import(http, project, "project = BAD%")
    error = events[-1].data["error"]
    assert error["type"] == "jql"
    assert "Error in the JQL Query: The character '%' is a reserved JQL character" in error["message"]
    assert "(received: Basic [redacted])" in error["message"]  # the fake echoed the header; scrubbed
    status = (await http.get(f"/generate-test-cases/status/{queued['task_id']}")).text
    assert_no_secret(cloud, json.dumps([e.data for e in events]), status, caplog.text)


async def assert_altered_echoes_stay_out(
    fake: FakeJira, secret: str, http: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Jira quotes the header (and the credential in it) cut short, in another case, spaced out or
    percent-encoded: no run of eight of the secret's characters reaches the job's error or the log."""
    caplog.set_level(logging.DEBUG)
    project = await new_project(http)
    for style in ALTERED_STYLES:
        fake.echo_style = style
        queued, events = await run_import(http, project, "project = BAD%")
        error = events[-1].data["error"]
        assert error["type"] == "jql", style
        assert "The character '%' is a reserved JQL character" in error["message"]  # Jira's text stays
        assert "[redacted]" in error["message"], style  # where the fake quoted the credential
        status = (await http.get(f"/generate-test-cases/status/{queued['task_id']}")).text
        assert_no_echo(secret, json.dumps([e.data for e in events]), status)
    assert_no_echo(secret, caplog.text)


async def test_an_altered_echo_of_the_cloud_token_never_reaches_the_job_or_the_log(
    cloud: FakeJira, http: AsyncClient, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_altered_echoes_stay_out(cloud, cloud.token, http, caplog)


async def test_an_altered_echo_of_the_pat_never_reaches_the_job_or_the_log(
    datacenter: FakeJira, http: AsyncClient, worker: object, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_altered_echoes_stay_out(datacenter, datacenter.pat, http, caplog)


async def test_a_rate_limited_import_is_retried_inside_the_job(
    cloud: FakeJira, http: AsyncClient, worker: object
) -> None:
    """How long it waits (the server's Retry-After) is in test_jira_client.py, on a recorded sleep."""
    cloud.rate_limited = 2
    cloud.retry_after = "0"
    project = await new_project(http)
    _, events = await run_import(http, project, "project = SHOP")
    assert events[-1].event == "completed", events[-1].data
    assert events[-1].data["result"]["counts"]["created"] == 6
    assert len(cloud.requests) == 2 + 4  # two refused, then the four pages


@pytest.fixture
def two_retries(cloud: FakeJira, settings: Settings) -> FakeJira:
    """Set before the worker starts: its Jira client reads the settings once, at start-up."""
    settings.jira_max_retries = 2
    return cloud


async def test_rate_limit_that_never_ends_fails_clearly(
    two_retries: FakeJira, http: AsyncClient, worker: object
) -> None:
    cloud = two_retries
    cloud.rate_limited = 100
    cloud.retry_after = "0"
    project = await new_project(http)
    _, events = await run_import(http, project, "project = SHOP")
    assert events[-1].data["error"]["type"] == "rate_limited"
    assert len(cloud.requests) == 3


@pytest.fixture
def nowhere(settings: Settings) -> Settings:
    """Set before the worker starts: its Jira client reads the settings once, at start-up."""
    settings.jira_base_url = f"http://127.0.0.1:{free_port()}"
    settings.jira_email, settings.jira_api_token = "qa@example.com", SecretStr("never-sent-anywhere")
    return settings


async def test_unreachable_jira_names_the_base_url(
    nowhere: Settings, http: AsyncClient, worker: object
) -> None:
    settings = nowhere
    project = await new_project(http)
    _, events = await run_import(http, project, "project = SHOP")
    error = events[-1].data["error"]
    assert error["type"] == "unreachable"
    assert settings.jira_base_url in error["message"] and "JIRA_BASE_URL" in error["message"]


async def test_cancel_mid_import_keeps_what_was_written(
    cloud: FakeJira, http: AsyncClient, worker: object
) -> None:
    cloud.hold_page = 2
    project = await new_project(http)
    r = await http.post(f"/projects/{project}/imports/jira", json={"jql": "project = SHOP"})
    queued = r.json()
    assert await asyncio.to_thread(cloud.holding.wait, 10), "the import never asked for page 2"
    r = await http.post(f"/generate-test-cases/{queued['task_id']}/cancel")
    assert r.status_code == 202, r.text
    cloud.release()
    events = await read_events(http, queued["events_url"])
    assert events[-1].event == "cancelled"
    status = (await http.get(f"/generate-test-cases/status/{queued['task_id']}")).json()
    assert status["status"] == "cancelled"
    assert sorted(await stories_of(http, project)) == ["SHOP-1", "SHOP-2"]


async def test_import_requests_are_checked(client: AsyncClient, settings: Settings) -> None:
    project = await new_project(client)
    r = await client.post(f"/projects/{project}/imports/jira", json={"jql": "project = SHOP"})
    assert r.status_code == 503 and "JIRA_BASE_URL" in r.json()["detail"]
    settings.jira_base_url = "https://shop.atlassian.net"
    r = await client.post(f"/projects/{project}/imports/jira", json={"jql": "project = SHOP"})
    assert r.status_code == 503 and "JIRA_EMAIL and JIRA_API_TOKEN" in r.json()["detail"]
    settings.jira_email, settings.jira_api_token = "qa@example.com", SecretStr("t0ken-value")
    assert (await client.post("/projects/999/imports/jira", json={"jql": "x"})).status_code == 404
    assert (await client.post(f"/projects/{project}/imports/jira", json={"jql": " "})).status_code == 422
    assert (
        await client.post(f"/projects/{project}/imports/jira", json={"jql": "x" * 5000})
    ).status_code == 422
    first = await client.post(f"/projects/{project}/imports/jira", json={"jql": "project = SHOP"})
    again = await client.post(f"/projects/{project}/imports/jira", json={"jql": "project = SHOP"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["task_id"] == again.json()["task_id"]


async def test_cli_jira_import_follows_and_prints_the_summary(
    cloud: FakeJira,
    server: str,
    http: AsyncClient,
    worker: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TESTGEN_API_KEY", raising=False)
    project = await new_project(http)
    argv = [
        "stories",
        "import",
        "--jira",
        "project = SHOP",
        "--project",
        str(project),
        "--follow",
        "--api",
        server,
    ]
    assert await asyncio.to_thread(main, argv) == 0
    out, err = capsys.readouterr()
    assert "Queued Jira import" in out and f"into project {project}" in out
    assert "Fetched page 4: 7 issues processed" in err
    assert "Skipped SHOP-99: no acceptance criteria found" in out
    assert "Jira import: 6 created, 0 updated, 0 unchanged, 1 skipped (7 issues in 4 pages)" in out
    cloud.issues[0]["fields"]["summary"] = "Changed"
    assert await asyncio.to_thread(main, argv) == 0
    out, _ = capsys.readouterr()
    assert "Updated: SHOP-1" in out and "1 updated, 5 unchanged" in out
    bad = [
        "stories",
        "import",
        "--jira",
        "project = BAD%",
        "--project",
        str(project),
        "--follow",
        "--api",
        server,
    ]
    assert await asyncio.to_thread(main, bad) == 1
    _, err = capsys.readouterr()
    assert "Jira import failed (jql): Jira rejected the search: Error in the JQL Query" in err
    assert cloud.token not in err
    assert await asyncio.to_thread(main, ["stories", "import", "--jira", "x", "--api", server]) == 2
    assert "--jira needs --project ID" in capsys.readouterr().err


async def test_the_worker_builds_its_jira_client_once_and_closes_it(
    cloud: FakeJira, settings: Settings
) -> None:
    async with run_worker(settings) as w:
        deadline = asyncio.get_running_loop().time() + 10
        while "resources" not in w.ctx:
            assert asyncio.get_running_loop().time() < deadline, "the worker never started"
            await asyncio.sleep(0.01)
        client = w.ctx["resources"].jira
        assert client is not None and client.base_url == cloud.url
        assert not client._http.is_closed
    assert client._http.is_closed


async def test_concurrent_import_requests_make_one_job(client: AsyncClient, settings: Settings) -> None:
    settings.jira_base_url = "https://shop.atlassian.net"
    settings.jira_email, settings.jira_api_token = "qa@example.com", SecretStr("t0ken-value")
    project = await new_project(client)
    answers = await asyncio.gather(
        *(client.post(f"/projects/{project}/imports/jira", json={"jql": "project = SHOP"}) for _ in range(6))
    )
    assert sorted(r.status_code for r in answers) == [200] * 5 + [202]
    assert len({r.json()["task_id"] for r in answers}) == 1


async def test_datacenter_refusal_and_bad_jql_never_show_the_pat(
    datacenter: FakeJira,
    settings: Settings,
    http: AsyncClient,
    worker: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pat = settings.jira_pat.get_secret_value()  # type: ignore[union-attr]
    project = await new_project(http)
    _, events = await run_import(http, project, "project = BAD%")
    error = events[-1].data["error"]
    assert error["type"] == "jql" and "(received: Bearer [redacted])" in error["message"]
    datacenter.pat = "the-pat-the-server-wants"  # now it refuses ours, echoing it
    _, refused = await run_import(http, project, "project = OPS")
    assert refused[-1].data["error"]["type"] == "auth"
    assert "JIRA_PAT" in refused[-1].data["error"]["message"]
    assert datacenter.requests[-1].authorization == f"Bearer {pat}"  # it was sent, and echoed back
    for text in (json.dumps([e.data for e in events + refused]), caplog.text):
        assert pat not in text


async def test_a_projects_jira_connection_is_the_jira_it_imports_from(
    settings: Settings, http: AsyncClient, worker: object
) -> None:
    """The server names no Jira; the project's connection does, and only that project imports."""
    settings.jira_acceptance_field = FIELD
    with FakeJira(deployment="cloud", issues=cloud_issues()) as fake:
        project, other = await new_project(http), await new_project(http, "Other")
        r = await http.post(
            f"/projects/{project}/connections",
            json={
                "kind": "jira",
                "name": "Shop Jira",
                "url": fake.url,
                "deployment": "cloud",
                "email": fake.email,
                "api_token": fake.token,
            },
        )
        assert r.status_code == 201, r.text
        _, events = await run_import(http, project, "project = SHOP ORDER BY key")
        assert events[-1].event == "completed", events[-1].data
        assert events[-1].data["result"]["counts"]["created"] == 6
        assert {r.authorization for r in fake.requests} == {fake.expected_authorization}
        assert sorted(await stories_of(http, project)) == [f"SHOP-{n}" for n in range(1, 7)]

        refused = await http.post(f"/projects/{other}/imports/jira", json={"jql": "project = SHOP"})
        assert refused.status_code == 503, refused.text
        assert "no Jira connection" in refused.text and "JIRA_BASE_URL" in refused.text
