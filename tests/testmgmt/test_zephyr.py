"""The Zephyr Scale connector through its real HTTP client against the fake Zephyr Scale on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import Connector, ToolAuthError, ToolRefused
from testgen.testmgmt.factory import HttpOptions, connect
from testgen.testmgmt.sync import Outcome, SyncOptions, push_cases
from tests.support.echoes import assert_no_echo
from tests.support.fake_zephyr import FakeZephyr
from tests.testmgmt.test_xray import FAST, LOOSE, SPANISH, STORY, Memory, Sleeps, doc, no_progress

NAME = "QA Zephyr"
Connect = Callable[..., Connector]


@pytest.fixture
def fake() -> Iterator[FakeZephyr]:
    with FakeZephyr() as server:
        yield server


@pytest.fixture
async def connector(fake: FakeZephyr) -> AsyncIterator[Connect]:
    made: list[Connector] = []

    def make(per_minute: int = FAST, sleep: Sleeps | None = None, **settings: Any) -> Connector:
        secrets = settings.pop("secrets", fake.secrets)
        options = HttpOptions(timeout_s=10, sleep=sleep or Sleeps())
        values = {**fake.settings, "requests_per_minute": per_minute, **settings}
        made.append(connect(ConnectionKind.zephyr_scale, values, secrets, NAME, options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def test_check_names_the_project(fake: FakeZephyr, connector: Connect) -> None:
    assert await connector().check() == "Zephyr Scale project SHOP"
    assert fake.requests[0].authorization == f"Bearer {fake.token}"
    fake.enabled = False
    assert "not enabled in project SHOP" in await connector().check()
    with pytest.raises(ToolRefused, match=r"404: Project 'NOPE' was not found"):
        await connector(jira_project_key="NOPE").check()


async def test_cases_go_into_a_folder_per_story_under_the_configured_one(
    fake: FakeZephyr, connector: Connect
) -> None:
    tool = connector(folder="Generated", jira_url="https://shop.atlassian.net")
    remotes = await asyncio.gather(
        *(tool.create(STORY, doc(n)) for n in (1, 2)), tool.create(SPANISH, doc(3, priority="low"))
    )

    parent = fake.folder_named("Generated")
    assert sorted(f["name"] for f in fake.folders.values() if f["parentId"] == parent["id"]) == [
        "US-1",
        "US-3",
    ]
    assert len(fake.folders) == 3  # each made once, though the stories' cases ran at once
    assert fake.count("GET", "/folders") == 1  # listed once per connector

    first = fake.cases[remotes[0].key or ""]
    assert remotes[0].key == first["key"] and remotes[0].id == str(first["id"])
    assert remotes[0].url == (
        "https://shop.atlassian.net/projects/SHOP?selectedItem=com.atlassian.plugins.atlassian-connect-plugin:"
        f"com.kanoah.test-manager__main-project-page#!/v2/testCase/{first['key']}"
    )
    assert first["folder"]["id"] == fake.folder_named("US-1", parent["id"])["id"]
    assert first["name"] == "Reset link 1" and first["labels"] == ["testgen-1"]
    assert first["objective"] == "Users get back into their account."
    assert first["precondition"] == "A registered user"
    assert first["priority"]["id"] == next(p["id"] for p in fake.priorities if p["name"] == "High")
    assert first["links"]["webLinks"][0] | {"id": 0} == {
        "id": 0,
        "url": "https://j/browse/SHOP-1",
        "description": "Story SHOP-1",
        "type": "COVERAGE",
    }
    # the placeholder step a new test case gets is overwritten by the case's steps
    assert [s["inline"]["expectedResult"] for s in fake.steps[first["key"]]] == [
        "Then a link is emailed",
        "Then no mail",
    ]
    assert fake.steps[first["key"]][0]["inline"]["description"] == (
        "Link is emailed<br>Given a registered user<br>And the reset page<br>When the user asks for a link"
    )
    spanish = fake.cases[remotes[2].key or ""]
    assert spanish["priority"]["id"] == next(p["id"] for p in fake.priorities if p["name"] == "Low")
    assert fake.steps[spanish["key"]][0]["inline"]["description"].split("<br>")[1:] == [
        "Dado a registered user",
        "Y the reset page",
        "Cuando the user asks for a link",
    ]
    assert spanish["links"]["webLinks"] == []  # no story page to link to


async def test_a_jira_story_whose_issue_id_the_push_knows_gets_an_issue_link(
    fake: FakeZephyr, connector: Connect
) -> None:
    asked: list[str] = []

    async def issue_id(key: str) -> int | None:
        asked.append(key)
        return 10042 if key == "SHOP-1" else None

    tool = connector()  # no jira_url: the case's page is on the site of the story's Jira page
    tool.jira_issue_id = issue_id  # type: ignore[attr-defined]
    remote = await tool.create(STORY, doc(1))
    assert (remote.url or "").startswith("https://j/projects/SHOP?selectedItem=")
    assert (remote.url or "").endswith(f"#!/v2/testCase/{remote.key}")
    assert (await tool.create(LOOSE, doc(3))).url is None  # no Jira site known at all
    linked = fake.cases[remote.key or ""]
    assert [link["issueId"] for link in linked["links"]["issues"]] == [10042]
    assert linked["links"]["webLinks"] == []
    unknown = dataclasses.replace(STORY, id="SHOP-2", jira_key="SHOP-2", jira_url="https://j/browse/SHOP-2")
    fallback = fake.cases[(await tool.create(unknown, doc(2))).key or ""]
    assert fallback["links"]["issues"] == []
    assert [link["url"] for link in fallback["links"]["webLinks"]] == ["https://j/browse/SHOP-2"]
    assert asked == ["SHOP-1", "SHOP-2"]


async def test_a_project_without_the_priority_gives_its_default(fake: FakeZephyr, connector: Connect) -> None:
    fake.priorities = [
        {"id": 3391, "name": "P1", "default": False},
        {"id": 3392, "name": "P2", "default": True},
    ]
    tool = connector()
    remote = await tool.create(LOOSE, doc(1, priority="high"))
    assert fake.cases[remote.key or ""]["priority"]["id"] == 3392
    created = next(r for r in fake.requests if (r.method, r.path) == ("POST", "/testcases"))
    assert "priorityName" not in created.body
    await tool.update(remote, LOOSE, doc(1, title="Renamed"))
    assert fake.cases[remote.key or ""]["priority"]["id"] == 3392 and fake.count("GET", "/priorities") == 1


async def test_text_is_escaped_as_html(fake: FakeZephyr, connector: Connect) -> None:
    tricky = doc(1, description="<b>bold</b> & co\nsecond line", steps=[("Type <script>", "Shown as text")])
    remote = await connector().create(LOOSE, tricky)
    case = fake.cases[remote.key or ""]
    assert case["objective"] == "&lt;b&gt;bold&lt;/b&gt; &amp; co<br>second line"
    assert fake.steps[case["key"]][0]["inline"]["description"] == "Type &lt;script&gt;"


async def test_find_by_marker_in_the_story_folder_across_pages(fake: FakeZephyr, connector: Connect) -> None:
    remote = await connector().create(STORY, doc(1))
    folder = fake.folder_named("US-1")["id"]
    fake.add_cases(folder, 150, labels=["testgen-10"])  # a marker that starts like ours
    (last,) = fake.add_cases(folder, 1, labels=["testgen-2"])  # on the second page
    fake.add_folders([f"US-{n}" for n in range(100, 230)])  # folders past a page

    again = connector()
    found = await again.find(STORY, doc(1))
    assert found is not None and (found.id, found.key, found.version) == (
        remote.id,
        remote.key,
        remote.version,
    )
    found_last = await again.find(STORY, doc(2))
    assert found_last is not None and found_last.key == last
    assert await again.find(STORY, doc(3)) is None
    assert await again.find(LOOSE, doc(4)) is None  # no folder for that story yet: none is made
    assert fake.count("POST", "/folders") == 1
    starts = [r.query["startAt"] for r in fake.requests if (r.method, r.path) == ("GET", "/folders")]
    assert starts == ["0", "0", "100"]  # the first connector's list, then this one's two pages


async def test_version_update_and_the_refused_delete(fake: FakeZephyr, connector: Connect) -> None:
    tool = connector()
    remote = await tool.create(STORY, doc(1))
    key = remote.key or ""
    assert await tool.version(remote) == remote.version

    fake.edit_case(key, labels=["testgen-1", "smoke"])  # a label added in Zephyr
    edited = doc(1, title="Reset link, reworded", priority="medium", preconditions=[], steps=[("One", "Two")])
    updated = await tool.update(remote, STORY, edited)
    case = fake.cases[key]
    assert updated.version not in (None, remote.version) and updated.key == key
    assert case["name"] == "Reset link, reworded" and case["precondition"] is None
    assert case["priority"]["id"] == next(p["id"] for p in fake.priorities if p["name"] == "Normal")
    assert case["folder"]["id"] == fake.folder_named("US-1")["id"]  # PUT sent back what it did not change
    assert case["status"]["id"] == fake.case_statuses[0]["id"]
    assert case["labels"] == ["testgen-1", "smoke"]
    assert fake.steps[key] == [{"inline": {"description": "One", "testData": "", "expectedResult": "Two"}}]
    assert await tool.version(updated) == updated.version

    fake.edit_case(key, objective="Edited in Zephyr")
    assert await tool.version(updated) not in (None, updated.version)  # the pusher sees a conflict

    before = len(fake.requests)
    with pytest.raises(ToolRefused) as refused:
        await tool.delete(remote)
    assert refused.value.message == (
        f"Zephyr Scale connection '{NAME}' cannot delete test cases through its API: delete {key} in "
        "Zephyr Scale"
    )
    assert len(fake.requests) == before and key in fake.cases

    del fake.cases[key]  # deleted in Zephyr
    assert await tool.version(remote) is None
    with pytest.raises(ToolRefused, match=f"has no test case {key} any more"):
        await tool.update(remote, STORY, doc(1))


async def test_refused_credentials_name_the_connection_never_the_token(
    fake: FakeZephyr, connector: Connect
) -> None:
    wrong = {"token": "WrongToken-0123456789abcdef"}
    with pytest.raises(ToolAuthError) as refused:
        await connector(secrets=wrong).check()
    assert refused.value.status == 401
    assert refused.value.message.startswith(f"Zephyr Scale connection '{NAME}' refused the credentials")
    assert_no_echo(wrong["token"], refused.value.message, str(refused.value))
    assert len(fake.requests) == 1


async def test_429_waits_its_retry_after_and_the_minute_turns(fake: FakeZephyr, connector: Connect) -> None:
    sleeps = Sleeps()
    fake.throttle_next, fake.retry_after = 2, 7
    assert await connector(sleep=sleeps).check() == "Zephyr Scale project SHOP"
    assert sleeps.longer_than(1) == [7, 7]

    minute = Sleeps()
    fake.per_minute, fake.clock = 2, minute.clock
    tool = connector(sleep=minute)
    for _ in range(3):
        await tool.check()
    assert minute.longer_than(1) == [60]
    assert fake.statuses() == {429: 3, 200: 4}


async def test_a_refused_case_fails_alone_with_zephyrs_message(fake: FakeZephyr, connector: Connect) -> None:
    fake.refuse("Needs a component", "customFields: the field 'Component' is required")
    tool = connector()
    with pytest.raises(ToolRefused) as refused:
        await tool.create(STORY, doc(1, title="Needs a component"))
    assert refused.value.status == 400
    assert refused.value.message == (
        f"Zephyr Scale connection '{NAME}' refused the request "
        "(400: customFields: the field 'Component' is required)"
    )
    await tool.create(STORY, doc(2))
    assert [c["name"] for c in fake.cases.values()] == ["Reset link 2"]


async def test_push_edit_push_holds_each_case_once_with_the_edit(
    fake: FakeZephyr, connector: Connect
) -> None:
    memory = Memory()
    first = await push_cases(connector(), [(STORY, [doc(1), doc(2)])], memory, SyncOptions(), no_progress)
    assert [c.outcome for c in first.cases] == [Outcome.created, Outcome.created]

    edited = doc(
        1, scenarios=[Scenario(title="Edited", given=["an edit"], when=["it is pushed"], then=["it shows"])]
    )
    edited = doc(1, title="Edited title", scenarios=edited.scenarios)
    second = await push_cases(connector(), [(STORY, [edited, doc(2)])], memory, SyncOptions(), no_progress)
    assert [c.outcome for c in second.cases] == [Outcome.updated, Outcome.unchanged]
    (one,) = fake.by_label("testgen-1")
    assert one["name"] == "Edited title" and len(fake.by_label("testgen-2")) == 1 and len(fake.cases) == 2
    assert [s["inline"]["expectedResult"] for s in fake.steps[one["key"]]] == ["Then it shows"]

    fake.edit_case(one["key"], name="Edited in Zephyr")  # then edited in the tool and in testgen
    third = await push_cases(
        connector(), [(STORY, [doc(1, title="Again"), doc(2)])], memory, SyncOptions(), no_progress
    )
    assert [c.outcome for c in third.cases] == [Outcome.conflict, Outcome.unchanged]
    assert fake.cases[one["key"]]["name"] == "Edited in Zephyr"
