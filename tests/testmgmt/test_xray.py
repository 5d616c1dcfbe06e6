"""The Xray connectors (Cloud and Data Center) through their real HTTP clients against fake Xray servers
on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from typing import Any

import pytest

from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import CaseDoc, Connector, StoryRef, ToolAuthError, ToolRefused
from testgen.testmgmt.factory import HttpOptions, connect
from testgen.testmgmt.sync import Mapping, Outcome, SyncOptions, push_cases
from tests.support.echoes import assert_no_echo
from tests.support.fake_xray import (
    CUCUMBER_TYPE,
    SCENARIO,
    STEPS,
    TEST_TYPE,
    FakeXrayCloud,
    FakeXrayDataCenter,
)

NAME = "QA Xray"
FAST = 100_000  # requests a minute: pacing out of the way where a test is not about it
STORY = StoryRef(
    id="US-1", title="Password reset", language="en", jira_key="SHOP-1", jira_url="https://j/browse/SHOP-1"
)
LOOSE = StoryRef(id="US-2", title="Checkout", language="en")  # not from Jira: no link
SPANISH = StoryRef(id="US-3", title="Restablecer", language="es", jira_key="SHOP-2")
FEATURE = "Feature: Password reset\n  Scenario: …"  # a case with Gherkin becomes a Cucumber test


class Sleeps:
    """The injected sleep: records each wait and moves a virtual clock by it, to the millisecond (the
    fakes' per-minute window may run on that clock); never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += round(seconds, 3)
        await asyncio.sleep(0)

    def clock(self) -> float:
        return self.now

    def longer_than(self, seconds: float) -> list[int]:
        return [round(w) for w in self.waits if w > seconds]


def doc(case_id: int, title: str | None = None, **fields: Any) -> CaseDoc:
    values: dict[str, Any] = {
        "test_case_id": case_id,
        "title": title or f"Reset link {case_id}",
        "description": "Users get back into their account.",
        "preconditions": ["A registered user"],
        "priority": "high",
        "test_type": "functional",
        "scenarios": [
            Scenario(
                title="Link is emailed",
                given=["a registered user", "the reset page"],
                when=["the user asks for a link"],
                then=["a link is emailed"],
            ),
            Scenario(title="Unknown email", given=["no account"], when=["a link is asked"], then=["no mail"]),
        ],
        "gherkin": FEATURE,
        "steps": [],
        **fields,
    }
    return CaseDoc(**values)


Connect = Callable[..., Connector]


class Memory:
    """The sync's mappings, kept in memory."""

    def __init__(self) -> None:
        self.rows: dict[int, Mapping] = {}

    async def load(self) -> dict[int, Mapping]:
        return dict(self.rows)

    async def existing(self, test_case_ids: Collection[int]) -> set[int]:
        return set(test_case_ids)

    async def record(self, mapping: Mapping) -> None:
        self.rows[mapping.test_case_id] = mapping

    async def drop(self, test_case_id: int) -> None:
        self.rows.pop(test_case_id, None)


async def no_progress(done: int, total: int) -> None:
    return None


# --- Xray Cloud -------------------------------------------------------------------------------------


@pytest.fixture
def cloud() -> Iterator[FakeXrayCloud]:
    with FakeXrayCloud() as server:
        yield server


@pytest.fixture
async def cloud_connector(cloud: FakeXrayCloud) -> AsyncIterator[Connect]:
    made: list[Connector] = []

    def make(per_minute: int = FAST, sleep: Sleeps | None = None, **settings: Any) -> Connector:
        secrets = settings.pop("secrets", cloud.secrets)
        options = HttpOptions(timeout_s=10, sleep=sleep or Sleeps())
        values = {**cloud.settings, "requests_per_minute": per_minute, **settings}
        made.append(connect(ConnectionKind.xray_cloud, values, secrets, NAME, options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def test_cloud_check_authenticates_and_counts_the_tests(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    assert await cloud_connector().check() == "Xray Cloud project SHOP (0 tests)"
    auth = [r for r in cloud.requests if r.path == "/api/v2/authenticate"]
    assert auth[0].body == {"client_id": cloud.client_id, "client_secret": cloud.client_secret}
    graphql = [r for r in cloud.requests if r.path == "/api/v2/graphql"]
    assert graphql[0].authorization.startswith("Bearer eyJ") and graphql[0].body["variables"] == {
        "jql": 'project = "SHOP"'
    }


async def test_cloud_creates_a_cucumber_test_in_the_story_folder_covering_the_story(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    sleeps = Sleeps()
    remote = await cloud_connector(sleep=sleeps, jira_url="https://shop.atlassian.net").create(STORY, doc(1))

    test = cloud.tests[remote.id]
    assert (remote.id, remote.key) == ("10231", "SHOP-123")
    assert remote.url == "https://shop.atlassian.net/browse/SHOP-123"
    assert remote.version == test["lastModified"]
    assert test["testType"] == "Cucumber" and test["folder"] == "/US-1"
    assert test["links"] == [("Test", "SHOP-1")]
    assert test["labels"] == ["testgen-1", "functional", "priority-high"]
    assert test["summary"] == "Reset link 1"
    assert test["description"] == (
        "Users get back into their account.\n\nPreconditions:\n- A registered user\n\nStory: https://j/browse/SHOP-1"
    )
    assert test["gherkin"] == (
        "# Link is emailed\nGiven a registered user\nAnd the reset page\nWhen the user asks for a link\n"
        "Then a link is emailed\n# Unknown email\nGiven no account\nWhen a link is asked\nThen no mail"
    )
    assert [w for w in sleeps.waits if w >= 0.5] == [0.5, 1.0]  # polled while pending and working
    assert cloud.count("GET", r"/api/v2/import/test/bulk/\w+/status") == 3


async def test_cloud_keeps_spanish_gherkin_keywords(cloud: FakeXrayCloud, cloud_connector: Connect) -> None:
    one = doc(
        1,
        scenarios=[
            Scenario(title="Enlace", given=["un usuario"], when=["pide un enlace"], then=["lo recibe"])
        ],
    )
    remote = await cloud_connector().create(SPANISH, one)
    assert cloud.tests[remote.id]["gherkin"] == "Dado un usuario\nCuando pide un enlace\nEntonces lo recibe"
    assert cloud.tests[remote.id]["links"] == [("Test", "SHOP-2")]


async def test_cloud_a_case_without_gherkin_is_a_manual_test_with_steps(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    tool = cloud_connector()
    remote = await tool.create(LOOSE, doc(2, gherkin="", steps=[("Open the page", "It opens")]))
    test = cloud.tests[remote.id]
    assert test["testType"] == "Manual" and test["links"] == [] and test["folder"] == "/US-2"
    assert test["steps"] == [{"action": "Open the page", "data": "", "result": "It opens"}]
    assert remote.url == "https://shop.atlassian.net/browse/SHOP-123"  # the site of the import's `self`
    found = await cloud_connector().find(LOOSE, doc(2))
    assert found is not None and found.url is None  # getTests names no site

    await tool.update(remote, LOOSE, doc(2, gherkin="", steps=[("Open it", "Open"), ("Close it", "Closed")]))
    assert [s["action"] for s in cloud.tests[remote.id]["steps"]] == ["Open it", "Close it"]
    await tool.update(remote, LOOSE, doc(2))  # Gherkin now: the test type changes
    assert cloud.tests[remote.id]["testType"] == "Cucumber"
    assert cloud.tests[remote.id]["gherkin"].startswith("# Link is emailed\nGiven a registered user")


async def test_cloud_find_version_update_delete(cloud: FakeXrayCloud, cloud_connector: Connect) -> None:
    tool = cloud_connector()
    remote = await tool.create(STORY, doc(1))
    await tool.create(STORY, doc(10))  # a marker that starts like ours

    after_a_crash = cloud_connector()
    found = await after_a_crash.find(STORY, doc(1))
    assert found is not None and (found.id, found.key, found.version) == (
        remote.id,
        remote.key,
        remote.version,
    )
    assert await after_a_crash.find(STORY, doc(2)) is None
    assert await tool.version(remote) == remote.version

    edited = doc(
        1, scenarios=[Scenario(title="Link", given=["a user"], when=["a link is asked"], then=["mail"])]
    )
    updated = await tool.update(remote, STORY, edited)
    assert updated.id == remote.id and updated.version not in (None, remote.version)
    assert cloud.tests[remote.id]["gherkin"] == "Given a user\nWhen a link is asked\nThen mail"
    assert len(cloud.by_label("testgen-1")) == 1

    cloud.edit_test(remote.id, gherkin="Given an edit in Jira")
    changed = await tool.version(updated)
    assert changed is not None and changed != updated.version  # the pusher sees a conflict

    await tool.delete(remote)
    assert remote.id not in cloud.tests
    assert await tool.version(remote) is None
    await tool.delete(remote)  # already gone: nothing to do
    assert await tool.find(STORY, doc(1)) is None
    with pytest.raises(ToolRefused, match="has no test SHOP-123 any more"):
        await tool.update(remote, STORY, doc(1))


async def test_cloud_an_expired_token_is_renewed_once(cloud: FakeXrayCloud, cloud_connector: Connect) -> None:
    tool = cloud_connector()
    remote = await tool.create(STORY, doc(1))
    cloud.expire_tokens()
    assert await tool.version(remote) == remote.version
    assert cloud.count("POST", "/api/v2/authenticate") == 2
    assert cloud.statuses()[401] == 1


async def test_cloud_refused_credentials_name_the_connection_never_the_secret(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    wrong = {"client_secret": "WrongSecret-0123456789abcdef"}
    with pytest.raises(ToolAuthError) as refused:
        await cloud_connector(secrets=wrong).check()
    assert refused.value.status == 401
    assert refused.value.message.startswith(f"Xray Cloud connection '{NAME}' refused the credentials")
    assert "Invalid client credentials" in refused.value.message
    assert_no_echo(wrong["client_secret"], refused.value.message, str(refused.value))
    assert cloud.count("POST", "/api/v2/authenticate") == 1  # not retried


async def test_cloud_429_waits_its_retry_after(cloud: FakeXrayCloud, cloud_connector: Connect) -> None:
    sleeps = Sleeps()
    tool = cloud_connector(sleep=sleeps)
    await tool.check()
    cloud.throttle_next, cloud.retry_after = 2, 7
    assert await tool.find(STORY, doc(1)) is None
    assert sleeps.longer_than(1) == [7, 7]
    assert cloud.statuses() == {429: 2, 200: 3}


async def test_cloud_past_the_per_minute_limit_waits_for_the_next_minute(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    sleeps = Sleeps()
    cloud.per_minute, cloud.clock = 3, sleeps.clock
    tool = cloud_connector(sleep=sleeps)
    await tool.check()  # authenticate + a query
    await tool.check()  # authenticate; its query is the fourth request: 429 until the window turns
    assert sleeps.longer_than(1) == [60]
    assert cloud.statuses() == {200: 4, 429: 1}


async def test_cloud_a_refused_test_fails_alone_with_xrays_message(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    cloud.refuse("Needs a component", {"components": "Component/s is required."})
    tool = cloud_connector()
    with pytest.raises(ToolRefused) as refused:
        await tool.create(STORY, doc(1, title="Needs a component"))
    assert refused.value.message == (
        f"Xray Cloud connection '{NAME}' refused the test (components: Component/s is required.)"
    )
    with pytest.raises(ToolRefused, match=r"issuelinks: Issue SHOP-404 does not exist"):
        await tool.create(StoryRef(id="US-4", title="Gone", language="en", jira_key="SHOP-404"), doc(3))
    remote = await tool.create(STORY, doc(2))
    assert [t["summary"] for t in cloud.tests.values()] == ["Reset link 2"] and remote.key == "SHOP-123"


async def test_cloud_concurrent_creates_run_one_import_job_at_a_time(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    tool = cloud_connector()
    remotes = await asyncio.gather(*(tool.create(STORY, doc(n)) for n in range(1, 5)))
    assert sorted(r.key or "" for r in remotes) == ["SHOP-123", "SHOP-124", "SHOP-125", "SHOP-126"]
    assert cloud.statuses()[400] == 0  # no "an import job is already running"
    assert cloud.count("POST", "/api/v2/authenticate") == 1


async def test_cloud_push_edit_push_holds_each_case_once_with_the_edit(
    cloud: FakeXrayCloud, cloud_connector: Connect
) -> None:
    memory, tool = Memory(), cloud_connector()
    docs = [doc(1), doc(2)]
    first = await push_cases(tool, [(STORY, docs)], memory, SyncOptions(), no_progress)
    assert [c.outcome for c in first.cases] == [Outcome.created, Outcome.created]

    edited = doc(
        1, scenarios=[Scenario(title="Edited", given=["an edit"], when=["it is pushed"], then=["it shows"])]
    )
    second = await push_cases(
        cloud_connector(), [(STORY, [edited, docs[1]])], memory, SyncOptions(), no_progress
    )
    assert [c.outcome for c in second.cases] == [Outcome.updated, Outcome.unchanged]
    assert len(cloud.tests) == 2
    (one,) = cloud.by_label("testgen-1")
    assert one["gherkin"] == "Given an edit\nWhen it is pushed\nThen it shows"
    assert len(cloud.by_label("testgen-2")) == 1


# --- Xray Data Center -------------------------------------------------------------------------------


@pytest.fixture
def dc() -> Iterator[FakeXrayDataCenter]:
    with FakeXrayDataCenter() as server:
        yield server


@pytest.fixture
async def dc_connector(dc: FakeXrayDataCenter) -> AsyncIterator[Connect]:
    made: list[Connector] = []

    def make(per_minute: int = FAST, sleep: Sleeps | None = None, **settings: Any) -> Connector:
        secrets = settings.pop("secrets", dc.secrets)
        options = HttpOptions(timeout_s=10, sleep=sleep or Sleeps())
        values = {**dc.settings, "requests_per_minute": per_minute, **settings}
        made.append(connect(ConnectionKind.xray_dc, values, secrets, NAME, options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def test_dc_check_names_the_project_and_finds_xray(
    dc: FakeXrayDataCenter, dc_connector: Connect
) -> None:
    assert await dc_connector().check() == "Jira project 'Shop' (SHOP) with Xray"
    assert dc.requests[0].authorization == f"Bearer {dc.pat}"
    with pytest.raises(ToolRefused, match="No project could be found with key 'NOPE'"):
        await dc_connector(jira_project_key="NOPE").check()
    dc.xray_installed = False
    with pytest.raises(ToolRefused, match="has no 'Test Type' field: is Xray installed"):
        await dc_connector().check()


async def test_dc_creates_a_test_with_xrays_fields_and_links_it_to_the_story(
    dc: FakeXrayDataCenter, dc_connector: Connect
) -> None:
    tool = dc_connector()
    remote = await tool.create(SPANISH, doc(1))
    manual = await tool.create(LOOSE, doc(2, gherkin="", steps=[("Open", "Opened")]))

    fields = dc.issues["SHOP-123"]["fields"]
    assert (remote.id, remote.key, remote.url) == ("10233", "SHOP-123", f"{dc.url}/browse/SHOP-123")
    assert remote.version == fields["updated"]  # read after the link, which moves it
    assert fields["issuetype"] == {"name": "Test"} and fields["labels"] == [
        "testgen-1",
        "functional",
        "priority-high",
    ]
    assert fields[TEST_TYPE] == {"value": "Cucumber"} and fields[CUCUMBER_TYPE] == {"value": "Scenario"}
    assert fields[SCENARIO].startswith("# Link is emailed\nDado a registered user\nY the reset page\nCuando ")
    assert dc.links == [("Tests", "SHOP-123", "SHOP-2")]  # the test tests the story
    assert (dc.folder_of("SHOP-123"), dc.folder_of("SHOP-124")) == ("/US-3", "/US-2")  # one per story

    assert manual.key == "SHOP-124"
    manual_fields = dc.issues["SHOP-124"]["fields"]
    assert manual_fields[TEST_TYPE] == {"value": "Manual"}
    assert manual_fields[STEPS] == {
        "steps": [{"index": 1, "fields": {"action": "Open", "data": "", "expected result": "Opened"}}]
    }
    assert dc.count("GET", "/rest/api/2/field") == 1  # read once per connector


async def test_dc_find_version_update_delete(dc: FakeXrayDataCenter, dc_connector: Connect) -> None:
    tool = dc_connector()
    remote = await tool.create(STORY, doc(1))
    await tool.create(STORY, doc(10))

    found = await dc_connector().find(STORY, doc(1))
    assert found is not None and (found.id, found.key, found.version) == (
        remote.id,
        remote.key,
        remote.version,
    )
    assert await tool.find(STORY, doc(2)) is None
    assert await tool.version(remote) == remote.version

    updated = await tool.update(remote, STORY, doc(1, title="Reset link, reworded"))
    assert updated.version not in (None, remote.version)
    assert dc.issues["SHOP-123"]["fields"]["summary"] == "Reset link, reworded"

    dc.edit_issue("SHOP-123", summary="Edited in Jira")
    assert await tool.version(updated) not in (None, updated.version)

    await tool.delete(remote)
    assert "SHOP-123" not in dc.issues
    assert await tool.version(remote) is None
    await tool.delete(remote)  # already gone: nothing to do


async def test_dc_tests_go_in_a_folder_per_story_made_once(
    dc: FakeXrayDataCenter, dc_connector: Connect
) -> None:
    made = dc.add_folder("US-1")  # by an earlier push
    dc.add_folder("US-2", parent=dc.add_folder("Regression"))  # not at the root: not the story's
    tool = dc_connector()
    remotes = await asyncio.gather(
        *(tool.create(STORY, doc(n)) for n in (1, 2, 3)), *(tool.create(LOOSE, doc(n)) for n in (4, 5))
    )
    assert [dc.folder_of(r.key or "") for r in remotes] == ["/US-1"] * 3 + ["/US-2"] * 2
    assert sorted(dc.folders[made]["tests"]) == sorted(r.key for r in remotes[:3])
    assert dc.count("GET", r"/rest/raven/1\.0/api/testrepository/SHOP/folders") == 1  # listed once
    assert dc.count("POST", r"/rest/raven/1\.0/api/testrepository/SHOP/folders/.*") == 1  # US-2's, once


async def test_dc_a_test_xray_will_not_file_is_not_kept(
    dc: FakeXrayDataCenter, dc_connector: Connect
) -> None:
    dc.refuse_filing = "You do not have permission to organize the Test Repository"
    with pytest.raises(ToolRefused) as refused:
        await dc_connector().create(STORY, doc(1))
    assert "permission to organize the Test Repository" in refused.value.message
    assert "could not go in the folder /US-1, so it was not kept" in refused.value.message
    assert dc.tests() == []


async def test_dc_a_refused_link_leaves_no_test_behind(dc: FakeXrayDataCenter, dc_connector: Connect) -> None:
    gone = StoryRef(id="US-4", title="Gone", language="en", jira_key="SHOP-404")
    with pytest.raises(ToolRefused) as refused:
        await dc_connector().create(gone, doc(1))
    assert "Issue Does Not Exist: SHOP-404" in refused.value.message
    assert "could not cover SHOP-404, so it was not kept" in refused.value.message
    assert dc.tests() == []


async def test_dc_refusals_auth_and_429(dc: FakeXrayDataCenter, dc_connector: Connect) -> None:
    wrong = {"token": "WrongPat-0123456789abcdef"}
    with pytest.raises(ToolAuthError) as auth:
        await dc_connector(secrets=wrong).check()
    assert auth.value.message.startswith(f"Xray Data Center connection '{NAME}' refused the credentials")
    assert_no_echo(wrong["token"], auth.value.message)

    dc.refuse("Needs a component", {"components": "Component/s is required."})
    tool = dc_connector()
    with pytest.raises(ToolRefused) as refused:
        await tool.create(STORY, doc(1, title="Needs a component"))
    assert refused.value.status == 400 and "Component/s is required." in refused.value.message

    remote = await tool.create(STORY, doc(2))
    assert remote.key == "SHOP-123" and [i["fields"]["summary"] for i in dc.tests()] == ["Reset link 2"]

    sleeps = Sleeps()
    dc.throttle_next, dc.retry_after = 1, 9
    assert await dc_connector(sleep=sleeps).version(remote) == remote.version
    assert sleeps.longer_than(1) == [9] and dc.statuses()[429] == 1


async def test_dc_push_edit_push_holds_each_case_once_with_the_edit(
    dc: FakeXrayDataCenter, dc_connector: Connect
) -> None:
    memory = Memory()
    first = await push_cases(dc_connector(), [(STORY, [doc(1), doc(2)])], memory, SyncOptions(), no_progress)
    assert [c.outcome for c in first.cases] == [Outcome.created, Outcome.created]
    second = await push_cases(
        dc_connector(), [(STORY, [doc(1, title="Edited title"), doc(2)])], memory, SyncOptions(), no_progress
    )
    assert [c.outcome for c in second.cases] == [Outcome.updated, Outcome.unchanged]
    assert sorted(i["fields"]["summary"] for i in dc.tests()) == ["Edited title", "Reset link 2"]
    assert sorted(link[1] for link in dc.links) == ["SHOP-123", "SHOP-124"]
