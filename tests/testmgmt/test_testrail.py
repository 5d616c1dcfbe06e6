"""The TestRail connector through its real HTTP client against the fake TestRail on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import CaseDoc, Connector, StoryRef, ToolAuthError, ToolRefused
from testgen.testmgmt.factory import HttpOptions, connect
from tests.support.echoes import assert_no_echo
from tests.support.fake_testrail import FakeTestRail

NAME = "QA TestRail"
FAST = 100_000  # requests a minute: pacing out of the way where a test is not about it
STORY = StoryRef(id="US-1", title="Password reset", language="en")


class Sleeps:
    """An injected sleep: records each wait; waits for real only when asked to."""

    def __init__(self, real: bool = False) -> None:
        self.waits: list[float] = []
        self.real = real

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds if self.real else 0)

    def longer_than(self, seconds: float) -> list[int]:
        return [round(w) for w in self.waits if w > seconds]


def doc(case_id: int, title: str | None = None, **fields: Any) -> CaseDoc:
    values: dict[str, Any] = {
        "test_case_id": case_id,
        "title": title or f"Reset link {case_id}",
        "description": "Users get back into their account.",
        "preconditions": ["A registered user", "Mail is delivered"],
        "priority": "high",
        "test_type": "functional",
        "scenarios": [
            Scenario(
                title="Link is emailed",
                given=["a registered user", "the reset page"],
                when=["the user asks for a link"],
                then=["a link is emailed", "it expires in 1 hour"],
            ),
            Scenario(title="Unknown email", given=["no account"], when=["a link is asked"], then=["no mail"]),
        ],
        "gherkin": "",
        **fields,
    }
    return CaseDoc(**values)


@pytest.fixture
def fake() -> Iterator[FakeTestRail]:
    with FakeTestRail() as server:
        yield server


Connect = Callable[..., Connector]


@pytest.fixture
async def connector(fake: FakeTestRail) -> AsyncIterator[Connect]:
    made: list[Connector] = []

    def make(per_minute: int = FAST, sleep: Sleeps | None = None, **settings: Any) -> Connector:
        secrets = settings.pop("secrets", fake.secrets)
        options = HttpOptions(timeout_s=10, sleep=sleep or Sleeps())
        values = fake.settings(requests_per_minute=per_minute, **settings)
        made.append(connect(ConnectionKind.testrail, values, secrets, NAME, options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def test_check_names_the_project_and_the_suite(fake: FakeTestRail, connector: Connect) -> None:
    assert await connector().check() == "TestRail project 'Shop'"
    fake.suite_mode = 3
    assert await connector().check() == "TestRail project 'Shop' (suite 'Master')"
    with pytest.raises(ToolRefused, match="several suites; set suite_id"):
        await connector(suite_id=None).check()
    with pytest.raises(ToolRefused, match=r"Field :project_id is not a valid or accessible project"):
        await connector(testrail_project_id=99).check()


async def test_cases_go_into_one_section_per_story_made_once(fake: FakeTestRail, connector: Connect) -> None:
    tool = connector()
    jira_story = StoryRef(
        id="US-2", title="Checkout", language="en", jira_key="SHOP-12", jira_url="https://j/SHOP-12"
    )
    remotes = await asyncio.gather(
        *(tool.create(STORY, doc(n)) for n in (1, 2, 3)),
        tool.create(jira_story, doc(4, test_type="negative", priority="urgent")),
    )

    assert fake.count("add_section") == 2
    assert sorted(s["name"] for s in fake.sections.values()) == ["US-1 Password reset", "US-2 Checkout"]
    for api in ("get_templates", "get_case_types", "get_priorities", "get_sections"):
        assert fake.count(api) == 1, api
    assert fake.count("add_case") == 4 and fake.duplicates() == {}

    first = fake.cases[int(remotes[0].id)]
    assert remotes[0].key == f"C{first['id']}"
    assert remotes[0].url == f"{fake.url}/index.php?/cases/view/{first['id']}"
    assert remotes[0].version == str(first["updated_on"])
    assert first["template_id"] == _id(fake.templates, "Test Case (Steps)")
    assert first["type_id"] == _id(fake.case_types, "Functional")
    assert first["priority_id"] == _id(fake.priorities, "High")
    assert first["refs"] == "US-1, testgen-1"
    assert (
        first["custom_preconds"]
        == "Users get back into their account.\n\n- A registered user\n- Mail is delivered"
    )
    assert first["custom_steps_separated"] == [
        {
            "content": (
                "Link is emailed\nGiven a registered user\nAnd the reset page\nWhen the user asks for a link"
            ),
            "expected": "Then a link is emailed\nAnd it expires in 1 hour",
        },
        {"content": "Unknown email\nGiven no account\nWhen a link is asked", "expected": "Then no mail"},
    ]
    other = fake.cases[int(remotes[3].id)]
    assert other["refs"] == "SHOP-12, testgen-4"
    assert other["type_id"] == _id(fake.case_types, "Other")
    assert other["priority_id"] == _id(fake.priorities, "Medium")  # the default for a name it lacks


async def test_steps_in_the_story_dialect_or_as_the_sync_gives_them(
    fake: FakeTestRail, connector: Connect
) -> None:
    tool = connector()
    spanish = StoryRef(id="US-9", title="Restablecer", language="es")
    one = await tool.create(spanish, doc(1))
    two = await tool.create(spanish, doc(2, steps=[("Paso", "Resultado")]))

    steps = fake.cases[int(one.id)]["custom_steps_separated"]
    assert steps[0]["content"].splitlines()[1:] == [
        "Dado a registered user",
        "Y the reset page",
        "Cuando the user asks for a link",
    ]
    assert steps[0]["expected"].startswith("Entonces a link is emailed")
    assert fake.cases[int(two.id)]["custom_steps_separated"] == [{"content": "Paso", "expected": "Resultado"}]


async def test_without_a_steps_template_the_steps_go_in_text(fake: FakeTestRail, connector: Connect) -> None:
    fake.templates = [t for t in fake.templates if t["name"] != "Test Case (Steps)"]
    remote = await connector().create(STORY, doc(1, steps=[("Open", "Shown"), ("Pay", "Paid")]))
    made = fake.cases[int(remote.id)]
    assert made["template_id"] == _id(fake.templates, "Test Case (Text)")  # the project's default
    assert (made["custom_steps"], made["custom_expected"]) == ("1. Open\n\n2. Pay", "1. Shown\n\n2. Paid")
    assert "custom_steps_separated" not in made


async def test_find_adopts_a_case_by_its_marker(fake: FakeTestRail, connector: Connect) -> None:
    made = await connector().create(STORY, doc(5))
    fake.add_cases(next(iter(fake.sections)), 3, refs="US-1, testgen-50")  # a longer marker, not ours

    after_a_crash = connector()
    found = await after_a_crash.find(STORY, doc(5))
    assert found is not None and (found.id, found.key, found.version) == (made.id, made.key, made.version)
    assert await after_a_crash.find(STORY, doc(6)) is None
    assert await after_a_crash.find(StoryRef(id="US-404", title="None yet", language="en"), doc(7)) is None
    assert fake.count("add_section") == 1  # finding never makes a section
    assert fake.count("get_cases") == 1  # the section is listed once per connector


async def test_a_story_whose_title_changed_keeps_its_section(fake: FakeTestRail, connector: Connect) -> None:
    (section,) = fake.add_sections(["US-1 Old title"])
    fake.add_sections(["US-10 Another story"])
    await connector().create(STORY, doc(1))
    assert fake.count("add_section") == 0
    assert [c["section_id"] for c in fake.cases.values()] == [section]


async def test_version_update_and_delete(fake: FakeTestRail, connector: Connect) -> None:
    tool = connector()
    remote = await tool.create(STORY, doc(1))
    assert await tool.version(remote) == remote.version

    updated = await tool.update(remote, STORY, doc(1, title="Reset link, reworded"))
    assert updated.id == remote.id and updated.version != remote.version
    assert fake.cases[int(remote.id)]["title"] == "Reset link, reworded"
    assert fake.count("add_case") == 1

    fake.edit_case(int(remote.id), title="Edited in TestRail")
    changed = await tool.version(updated)
    assert changed is not None and changed != updated.version  # the pusher sees a conflict

    await tool.delete(remote)
    assert int(remote.id) not in fake.cases
    assert await tool.version(remote) is None
    await tool.delete(remote)  # already gone: nothing to do
    assert await tool.find(STORY, doc(1)) is None


async def test_paging_past_250_cases_and_sections(fake: FakeTestRail, connector: Connect) -> None:
    fake.add_sections([f"US-{n} Story" for n in range(100, 360)])
    tool = connector()
    remote = await tool.create(STORY, doc(1))
    section = fake.cases[int(remote.id)]["section_id"]
    fake.add_cases(section, 300)
    fake.add_cases(section, 1, refs="US-1, testgen-2")  # the last of 302, on the second page

    again = connector()
    found = await again.find(STORY, doc(2))
    assert found is not None and found.id == str(max(fake.cases))
    # 261 sections in pages of 250, listed once per connector
    assert offsets(fake, "get_sections") == ["0", "250"] * 2
    assert offsets(fake, "get_cases") == ["0", "250"]
    assert fake.count("add_section") == 1


async def test_refused_credentials_name_the_connection_never_the_key(
    fake: FakeTestRail, connector: Connect
) -> None:
    fake.echo_credentials = True  # the server quotes the Authorization header it received
    wrong = {"api_key": "WrongKey-0123456789abcdef"}
    with pytest.raises(ToolAuthError) as refused:
        await connector(secrets=wrong).check()
    assert refused.value.status == 401
    assert f"TestRail connection '{NAME}'" in refused.value.message
    assert "Authentication failed" in refused.value.message
    assert_no_echo(wrong["api_key"], refused.value.message, str(refused.value))
    assert fake.count("get_project") == 1  # not retried


async def test_a_429_waits_its_retry_after(fake: FakeTestRail, connector: Connect) -> None:
    fake.throttle_next, fake.retry_after = 2, 7
    sleeps = Sleeps()
    tool = connector(sleep=sleeps)
    assert await tool.check() == "TestRail project 'Shop'"
    assert sleeps.longer_than(1) == [7, 7]
    assert fake.statuses() == {429: 2, 200: 1}


async def test_a_503_then_success(fake: FakeTestRail, connector: Connect) -> None:
    sleeps = Sleeps()
    tool = connector(sleep=sleeps)
    await tool.create(STORY, doc(1))
    fake.unavailable_next, fake.retry_after = 1, 3
    remote = await tool.create(STORY, doc(2))
    assert sleeps.longer_than(1) == [3]
    assert fake.count("add_case") == 3 and int(remote.id) in fake.cases
    assert fake.statuses()[503] == 1


async def test_the_rate_limit_past_its_bucket_is_waited(fake: FakeTestRail, connector: Connect) -> None:
    fake.per_minute, fake.burst = 120, 2
    sleeps = Sleeps(real=True)
    tool = connector(sleep=sleeps)  # paced far faster than the tool allows
    for _ in range(3):
        await tool.check()
    assert sleeps.longer_than(0.5) == [1]
    assert fake.statuses() == {200: 3, 429: 1}


async def test_pacing_keeps_concurrent_requests_to_the_limit(fake: FakeTestRail, connector: Connect) -> None:
    # The bucket holds half the requests: unpaced, 10 of the 20 would get 429; paced, a stall of the
    # event loop (a loaded machine) may release a few at once, as many as half a second's worth.
    fake.per_minute, fake.burst = 1200, 10
    tool = connector(per_minute=1200, sleep=Sleeps(real=True))
    await asyncio.gather(*(tool.check() for _ in range(20)))
    assert fake.statuses() == {200: 20}


async def test_a_refused_case_fails_alone_with_testrails_message(
    fake: FakeTestRail, connector: Connect
) -> None:
    fake.require_field("Needs a component")
    tool = connector()
    with pytest.raises(ToolRefused) as refused:
        await tool.create(STORY, doc(1, title="Needs a component"))
    assert refused.value.status == 400
    assert refused.value.message == (
        f"TestRail connection '{NAME}' refused the request "
        "(400: Field :custom_component is a required field.)"
    )
    assert fake.count("add_case") == 1  # not retried
    await tool.create(STORY, doc(2))
    assert [c["title"] for c in fake.cases.values()] == ["Reset link 2"]


def _id(rows: list[dict[str, Any]], name: str) -> int:
    return next(int(r["id"]) for r in rows if r["name"] == name)


def offsets(fake: FakeTestRail, api: str) -> list[str]:
    return [r.filters.get("offset", "0") for r in fake.requests if r.api == api]
