"""The push job against the fake TestRail (and the fake Jira for the remote links): each case once, an
edit updated in place, the review gate, removals, refused credentials, Jira links that a re-push
updates, and a worker killed mid-push whose job, run again, leaves every case in the tool once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.services.jobs import new_job
from testgen.core.config import Settings
from testgen.data.job_states import JobKind
from testgen.data.models import GenerationJob
from testgen.domain.job_errors import JobError
from testgen.domain.job_options import PushJobOptions
from testgen.domain.job_results import PushResult
from testgen.worker.push import run_push
from testgen.worker.resources import WorkerResources
from tests.support.fake_jira import FakeJira
from tests.support.fake_testrail import FakeTestRail
from tests.support.fake_xray import FakeXrayDataCenter
from tests.support.fake_zephyr import FakeZephyr
from tests.support.harness import run_worker, wait_for
from tests.support.helpers import read_events
from tests.support.pushing import (
    add_cases,
    add_connection,
    add_project,
    add_story,
    delete_case,
    edit_case,
    mappings,
    use_secrets_key,
)

Sessions = async_sessionmaker[AsyncSession]
FAST = 100_000  # requests a minute: pacing out of the way


@pytest.fixture
def testrail(settings: Settings) -> Iterator[FakeTestRail]:
    use_secrets_key(settings)
    with FakeTestRail() as fake:
        yield fake


async def tr_connection(
    sessions: Sessions, settings: Settings, fake: FakeTestRail, project: int, **secrets: str
) -> int:
    return await add_connection(
        sessions,
        settings,
        project,
        "testrail",
        fake.settings(requests_per_minute=FAST),
        secrets or fake.secrets,
    )


async def push(
    resources: WorkerResources, sessions: Sessions, project: int, connection: int, **options: Any
) -> GenerationJob:
    job = new_job(None, JobKind.push, PushJobOptions(connection_id=connection, **options), project_id=project)
    async with sessions() as session:
        session.add(job)
        await session.commit()
    await run_push(resources, job.id)
    async with sessions() as session:
        done = await session.get(GenerationJob, job.id)
        assert done is not None
        return done


def result(job: GenerationJob) -> PushResult:
    assert job.status == "completed", job.error
    return PushResult.model_validate(job.result)


def by_marker(fake: FakeTestRail) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for case in fake.cases.values():
        for ref in str(case.get("refs") or "").split(","):
            if ref.strip().startswith("testgen-"):
                found.setdefault(ref.strip(), []).append(case)
    return found


async def test_push_edit_push_again_holds_each_case_once_with_the_edit(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    project = await add_project(sessionmaker)
    await add_story(sessionmaker, project, "US-1")
    await add_story(sessionmaker, project, "US-2")
    cases = await add_cases(sessionmaker, "US-1", 3) + await add_cases(sessionmaker, "US-2", 2)
    connection = await tr_connection(sessionmaker, settings, testrail, project)

    first = result(await push(resources, sessionmaker, project, connection))
    assert first.counts.created == 5 and first.counts.failed == 0
    assert [c.test_case_id for c in first.created] == cases
    assert all(c.url and c.remote_key for c in first.created)
    assert sorted(by_marker(testrail)) == sorted(f"testgen-{i}" for i in cases)
    assert len(testrail.cases) == 5 and len(testrail.sections) == 2
    stored = await mappings(sessionmaker, connection)
    assert set(stored) == set(cases) and all(len(m.fingerprint) == 64 for m in stored.values())

    await edit_case(sessionmaker, cases[1], "Pay with a saved card")
    second_job = await push(resources, sessionmaker, project, connection)
    second = result(second_job)
    assert (second.counts.updated, second.counts.unchanged, second.counts.created) == (1, 4, 0)
    assert second.updated[0].test_case_id == cases[1]
    assert len(testrail.cases) == 5 and testrail.duplicates() == {}
    [edited] = by_marker(testrail)[f"testgen-{cases[1]}"]
    assert edited["title"] == "Pay with a saved card"
    assert testrail.count("add_case") == 5 and testrail.count("update_case") == 1
    assert second_job.message.startswith(
        "Pushed 5 test cases to QA TestRail: 0 created, 1 updated, 4 unchanged"
    )

    third = result(await push(resources, sessionmaker, project, connection))
    assert third.counts.unchanged == 5 and testrail.count("update_case") == 1


async def test_only_approved_cases_go_when_the_review_gate_is_on(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    project = await add_project(sessionmaker, review_required=True)
    await add_story(sessionmaker, project, "US-1")
    approved = await add_cases(sessionmaker, "US-1", 2, approved_by=1, prefix="Approved")
    await add_cases(sessionmaker, "US-1", 3, prefix="Waiting")
    connection = await tr_connection(sessionmaker, settings, testrail, project)
    outcome = result(await push(resources, sessionmaker, project, connection))
    assert [c.test_case_id for c in outcome.created] == approved
    assert outcome.skipped_unapproved == 3 and outcome.counts.skipped_unapproved == 3
    assert sorted(by_marker(testrail)) == sorted(f"testgen-{i}" for i in approved)


async def test_removed_cases_are_deleted_in_the_tool_only_when_asked(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    project = await add_project(sessionmaker)
    await add_story(sessionmaker, project, "US-1")
    cases = await add_cases(sessionmaker, "US-1", 3)
    connection = await tr_connection(sessionmaker, settings, testrail, project)
    result(await push(resources, sessionmaker, project, connection))
    await delete_case(sessionmaker, cases[0])
    kept = result(await push(resources, sessionmaker, project, connection))
    assert [c.test_case_id for c in kept.removed] == [cases[0]] and kept.removed[0].url
    assert f"testgen-{cases[0]}" in by_marker(testrail)
    deleted = result(await push(resources, sessionmaker, project, connection, delete_removed=True))
    assert [c.test_case_id for c in deleted.removed] == [cases[0]]
    assert f"testgen-{cases[0]}" not in by_marker(testrail) and len(testrail.cases) == 2
    assert cases[0] not in await mappings(sessionmaker, connection)


async def test_a_case_changed_in_testrail_is_a_conflict_until_overwrite(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    project = await add_project(sessionmaker)
    await add_story(sessionmaker, project, "US-1")
    cases = await add_cases(sessionmaker, "US-1", 2)
    connection = await tr_connection(sessionmaker, settings, testrail, project)
    first = result(await push(resources, sessionmaker, project, connection))
    remote_id = int(first.created[0].remote_key.removeprefix("C"))  # type: ignore[union-attr]
    testrail.edit_case(remote_id, title="Changed by hand")
    await edit_case(sessionmaker, cases[0], "Changed in testgen")
    conflict = result(await push(resources, sessionmaker, project, connection))
    assert [c.test_case_id for c in conflict.conflicts] == [cases[0]]
    assert testrail.cases[remote_id]["title"] == "Changed by hand"
    forced = result(await push(resources, sessionmaker, project, connection, overwrite=True))
    assert [c.test_case_id for c in forced.updated] == [cases[0]]
    assert testrail.cases[remote_id]["title"] == "Changed in testgen"


async def test_refused_credentials_fail_the_job_naming_the_connection_not_the_key(
    settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    use_secrets_key(settings)
    wrong = "tr-key-WrongValue-9876543210"
    with FakeTestRail(echo_credentials=True) as fake:
        project = await add_project(sessionmaker)
        await add_story(sessionmaker, project, "US-1")
        await add_cases(sessionmaker, "US-1", 6)
        connection = await tr_connection(sessionmaker, settings, fake, project, api_key=wrong)
        job = await push(resources, sessionmaker, project, connection)
    assert job.status == "failed"
    error = JobError.model_validate(job.error)
    assert error.type == "auth"
    assert "QA TestRail" in error.message and "credentials" in error.message
    assert wrong not in error.message and "WrongValue" not in error.message
    assert fake.count("add_case") == 0 and len(fake.requests) <= 4


# --- Jira remote links ------------------------------------------------------------------------------


def jira_story_url(fake: FakeJira, key: str) -> str:
    return f"{fake.url}/browse/{key}"


async def test_jira_stories_get_a_remote_link_per_case_that_a_re_push_updates(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    with FakeJira() as jira:
        settings.jira_base_url = jira.url
        settings.jira_email = jira.email
        settings.jira_api_token = SecretStr(jira.token)
        project = await add_project(sessionmaker)
        await add_story(sessionmaker, project, "SHOP-1", jira_url=jira_story_url(jira, "SHOP-1"))
        await add_story(sessionmaker, project, "US-9")  # not from Jira: no link
        cases = await add_cases(sessionmaker, "SHOP-1", 3)
        await add_cases(sessionmaker, "US-9", 1)
        connection = await tr_connection(sessionmaker, settings, testrail, project)
        first = result(await push(resources, sessionmaker, project, connection))
        assert first.counts.linked == 3 and first.links_failed == []
        links = {link["globalId"]: link for link in jira.links_of("SHOP-1")}
        assert set(links) == {f"testgen:{connection}:{i}" for i in cases}
        created = {c.test_case_id: c for c in first.created}
        link = links[f"testgen:{connection}:{cases[0]}"]
        assert link["object"]["url"] == created[cases[0]].url
        assert (
            link["object"]["title"].startswith("TestRail ") and "Case 1 of SHOP-1" in link["object"]["title"]
        )
        assert jira.remote_links.keys() == {"SHOP-1"}

        await edit_case(sessionmaker, cases[0], "Pay with a saved card")
        second = result(await push(resources, sessionmaker, project, connection))
        assert second.counts.linked == 1
        after = {link["globalId"]: link for link in jira.links_of("SHOP-1")}
        assert len(after) == 3  # updated, never added
        assert "Pay with a saved card" in after[f"testgen:{connection}:{cases[0]}"]["object"]["title"]
        assert after[f"testgen:{connection}:{cases[0]}"]["id"] == link["id"]


async def test_the_projects_jira_connection_links_and_a_link_failure_is_reported(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    with FakeJira(deployment="datacenter") as jira:
        project = await add_project(sessionmaker)
        await add_story(sessionmaker, project, "OPS-1", jira_url=jira_story_url(jira, "OPS-1"))
        await add_story(sessionmaker, project, "OPS-2", jira_url=jira_story_url(jira, "OPS-2"))
        ops1 = await add_cases(sessionmaker, "OPS-1", 2)
        ops2 = await add_cases(sessionmaker, "OPS-2", 1)
        jira.missing_issues.add("OPS-2")
        await add_connection(
            sessionmaker,
            settings,
            project,
            "jira",
            {"kind": "jira", "url": jira.url, "deployment": "datacenter"},
            {"api_token": jira.pat},
            name="Our Jira",
        )
        connection = await tr_connection(sessionmaker, settings, testrail, project)
        outcome = result(await push(resources, sessionmaker, project, connection))
        assert outcome.counts.created == 3 and outcome.counts.linked == 2, outcome.links_failed
        assert {link["globalId"] for link in jira.links_of("OPS-1")} == {
            f"testgen:{connection}:{i}" for i in ops1
        }
        [failed] = outcome.links_failed
        assert failed.test_case_id == ops2[0] and "Issue does not exist" in failed.message

        # Pushed again with nothing changed: the link that failed is made, the others are left alone.
        jira.missing_issues.clear()
        posted = len([r for r in jira.requests if r.body])
        again = result(await push(resources, sessionmaker, project, connection))
        assert again.counts.unchanged == 3 and again.counts.linked == 1 and again.links_failed == []
        assert [link["globalId"] for link in jira.links_of("OPS-2")] == [f"testgen:{connection}:{ops2[0]}"]
        assert len(jira.links_of("OPS-1")) == 2
        assert len([r for r in jira.requests if r.body]) == posted + 1  # one link posted
        assert len([r for r in jira.requests if not r.body]) == 2  # each story's links read once
        assert testrail.count("update_case") == 0
    assert all(r.path.startswith("/rest/api/2/") for r in jira.requests)


async def test_zephyr_cases_of_a_jira_story_link_its_issue_by_the_id_jira_gives(
    settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    use_secrets_key(settings)
    with FakeJira() as jira, FakeZephyr() as zephyr:
        settings.jira_base_url = jira.url
        settings.jira_email = jira.email
        settings.jira_api_token = SecretStr(jira.token)
        project = await add_project(sessionmaker)
        await add_story(sessionmaker, project, "SHOP-1", jira_url=jira_story_url(jira, "SHOP-1"))
        await add_story(sessionmaker, project, "SHOP-2", jira_url=jira_story_url(jira, "SHOP-2"))
        jira.missing_issues.add("SHOP-2")  # Jira cannot say its id: a web link to its page instead
        cases = await add_cases(sessionmaker, "SHOP-1", 2)
        await add_cases(sessionmaker, "SHOP-2", 1)
        connection = await add_connection(
            sessionmaker,
            settings,
            project,
            "zephyr-scale",
            {**zephyr.settings, "requests_per_minute": FAST},  # links on the stories' Jira site
            zephyr.secrets,
            name="QA Zephyr",
        )
        outcome = result(await push(resources, sessionmaker, project, connection))
        assert outcome.counts.created == 3 and outcome.counts.linked == 2, outcome.links_failed
        issue_id = jira.issue_ids["SHOP-1"]
        for case in zephyr.cases.values():
            if case["links"]["issues"]:
                assert [link["issueId"] for link in case["links"]["issues"]] == [issue_id]
                assert case["links"]["webLinks"] == []
            else:
                assert [link["url"] for link in case["links"]["webLinks"]] == [jira_story_url(jira, "SHOP-2")]
        assert sum(bool(case["links"]["issues"]) for case in zephyr.cases.values()) == 2
        asked = [r.path for r in jira.requests if r.path.startswith("/rest/api/3/issue/SHOP-1?")]
        assert len(asked) == 1  # the id is read once a story
        assert {link["globalId"] for link in jira.links_of("SHOP-1")} == {
            f"testgen:{connection}:{i}" for i in cases
        }


async def test_xrays_own_issue_link_is_the_link_back_to_the_story(
    settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    use_secrets_key(settings)
    with FakeJira() as jira, FakeXrayDataCenter() as xray:
        settings.jira_base_url = jira.url
        settings.jira_email = jira.email
        settings.jira_api_token = SecretStr(jira.token)
        project = await add_project(sessionmaker)
        await add_story(sessionmaker, project, "SHOP-1", jira_url=f"{xray.url}/browse/SHOP-1")
        await add_cases(sessionmaker, "SHOP-1", 2)
        connection = await add_connection(
            sessionmaker,
            settings,
            project,
            "xray-dc",
            {**xray.settings, "requests_per_minute": FAST},
            xray.secrets,
            name="QA Xray",
        )
        outcome = result(await push(resources, sessionmaker, project, connection))
        assert outcome.counts.created == 2 and outcome.counts.linked == 0 and outcome.links_failed == []
        assert sorted(link[2] for link in xray.links) == ["SHOP-1", "SHOP-1"]  # each test "Tests" the story
        assert jira.requests == []  # no remote link on top of Xray's own


# --- a worker killed mid-push ----------------------------------------------------------------------


def start_worker_process(settings: Settings, tmp_path: Path) -> subprocess.Popen[bytes]:
    assert settings.secrets_key is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.effective_redis_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LLM_PROVIDER": "offline",
        "SECRETS_KEY": settings.secrets_key.get_secret_value(),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "testgen", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_a_worker_killed_mid_push_and_the_job_run_again_leaves_each_case_once(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, http: AsyncClient, tmp_path: Path
) -> None:
    settings.sse_ping_interval_s = 1  # keeps the client's read timeout from firing while we wait
    testrail.delay_s = 0.25  # cases are under way when the worker dies
    project = await add_project(sessionmaker)
    for story in ("US-1", "US-2", "US-3"):
        await add_story(sessionmaker, project, story)
    cases = [i for story in ("US-1", "US-2", "US-3") for i in await add_cases(sessionmaker, story, 6)]
    connection = await tr_connection(sessionmaker, settings, testrail, project)
    proc = start_worker_process(settings, tmp_path)
    try:
        r = await http.post(f"/projects/{project}/push", json={"connection_id": connection})
        assert r.status_code == 202, r.text
        queued = r.json()

        def mid_create() -> bool:  # some cases made, one on its way (the fake makes it after its delay)
            made = testrail.count("add_case", 200)
            return made >= 3 and testrail.count("add_case") > made

        await wait_for(mid_create, what="the push to be creating cases", timeout_s=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    recorded = await mappings(sessionmaker, connection)
    await wait_for(lambda: testrail.count("add_case", 0) == 0, what="the fake to finish the last create")
    orphans = set(by_marker(testrail)) - {f"testgen-{i}" for i in recorded}
    assert orphans, "the kill should leave a case the tool made but the push did not record"
    testrail.delay_s = 0.0
    async with run_worker(settings):
        events = await read_events(http, queued["events_url"])
    final = events[-1]
    assert final.event == "completed", final.data
    outcome = PushResult.model_validate(final.data["result"])
    assert outcome.counts.failed == 0
    assert outcome.counts.created + outcome.counts.unchanged == len(cases)
    held = by_marker(testrail)
    assert sorted(held) == sorted(f"testgen-{i}" for i in cases)
    assert all(len(found) == 1 for found in held.values()) and testrail.duplicates() == {}
    assert len(testrail.cases) == len(cases)
    assert set(await mappings(sessionmaker, connection)) == set(cases)


async def test_a_jira_connection_that_cannot_be_opened_fails_the_links_not_the_push(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, resources: WorkerResources
) -> None:
    project = await add_project(sessionmaker)
    await add_story(sessionmaker, project, "SHOP-1", jira_url="https://acme.atlassian.net/browse/SHOP-1")
    cases = await add_cases(sessionmaker, "SHOP-1", 2)
    key = settings.secrets_key
    use_secrets_key(settings)  # sealed with a key the worker no longer has
    await add_connection(
        sessionmaker,
        settings,
        project,
        "jira",
        {"kind": "jira", "url": "https://acme.atlassian.net", "email": "qa@example.com"},
        {"api_token": "jira-token-0123456789"},
        name="Our Jira",
    )
    settings.secrets_key = key
    connection = await tr_connection(sessionmaker, settings, testrail, project)
    outcome = result(await push(resources, sessionmaker, project, connection))
    assert outcome.counts.created == 2 and outcome.counts.links_failed == 2
    assert [c.test_case_id for c in outcome.links_failed] == cases
    assert "the Jira connection 'Our Jira' cannot be used" in outcome.links_failed[0].message
