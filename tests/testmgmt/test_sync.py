"""The sync's rules against a tool in memory: created, unchanged (no call), updated, conflicts and
overwrite, a case gone from the tool, removals (and deleting them), a refused case, refused
credentials, a run that died right after the tool created a case, progress and cancel, Jira links;
the documents a push sends; and a push, an edit and a push again against the fake TestRail."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from testgen.data import models
from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import CaseDoc, Remote, StoryRef, ToolAuthError, ToolRefused, ToolUnavailable
from testgen.testmgmt.documents import case_doc, fingerprint, jira_key, story_ref
from testgen.testmgmt.factory import connect
from testgen.testmgmt.sync import Outcome, SyncOptions, SyncReport, push_cases
from tests.support.fake_testrail import FakeTestRail
from tests.support.memory_tool import Died, MemoryMappings, MemoryTool

STORIES = {"US-1": StoryRef("US-1", "Pay by card", "en"), "US-2": StoryRef("US-2", "Refunds", "en")}


def doc(test_case_id: int, title: str | None = None) -> CaseDoc:
    scenario = Scenario(title="pay", given=["a basket"], when=["they pay"], then=["it is paid"])
    return CaseDoc(
        test_case_id=test_case_id,
        title=title or f"Case {test_case_id}",
        description="",
        preconditions=[],
        priority="medium",
        test_type="functional",
        scenarios=[scenario],
        gherkin=f"Feature: {title or test_case_id}\n",
        steps=[("pay", "it is paid")],
    )


def selection(*cases: tuple[str, CaseDoc]) -> list[tuple[StoryRef, list[CaseDoc]]]:
    by_story: dict[str, list[CaseDoc]] = {}
    for story_id, case in cases:
        by_story.setdefault(story_id, []).append(case)
    return [(STORIES[s], docs) for s, docs in by_story.items()]


class Steps:
    def __init__(self, stop_at: int | None = None) -> None:
        self.seen: list[tuple[int, int]] = []
        self.stop_at = stop_at

    async def __call__(self, done: int, total: int) -> None:
        self.seen.append((done, total))
        if self.stop_at is not None and done >= self.stop_at:
            raise Cancelled("cancelled")


class Cancelled(Exception):
    """A cancel, as the worker's progress report raises it."""


async def push(
    tool: MemoryTool, store: MemoryMappings, cases: list[tuple[str, CaseDoc]], **options: Any
) -> SyncReport:
    store.existing_ids |= {c.test_case_id for _, c in cases}
    return await push_cases(tool, selection(*cases), store, SyncOptions(**options), Steps())


def ids(report: SyncReport, outcome: Outcome) -> list[int]:
    return [c.test_case_id for c in report.of(outcome)]


FIVE = [("US-1", doc(1)), ("US-1", doc(2)), ("US-1", doc(3)), ("US-2", doc(4)), ("US-2", doc(5))]


async def test_first_push_creates_each_case_once_and_a_second_push_sends_nothing() -> None:
    tool, store = MemoryTool(latency_s=0.001), MemoryMappings()
    first = await push(tool, store, FIVE)
    assert ids(first, Outcome.created) == [1, 2, 3, 4, 5]
    assert all(len(tool.of_case(i)) == 1 for i in range(1, 6))
    assert tool.sections == {"US-1": 1, "US-2": 1}  # each story's section made once, cases at once
    assert 1 < tool.most_in_flight <= 4
    assert store.rows[1].remote.version == "1" and store.rows[1].fingerprint == fingerprint(doc(1))
    tool.calls.clear()
    second = await push(tool, store, FIVE)
    assert ids(second, Outcome.unchanged) == [1, 2, 3, 4, 5]
    assert tool.calls == []
    assert second.of(Outcome.unchanged)[0].remote == store.rows[1].remote


async def test_workers_take_the_stories_in_turn_and_never_wait_on_a_storys_first_create() -> None:
    tool, store = MemoryTool(latency_s=0.001), MemoryMappings()
    report = await push(tool, store, FIVE, concurrency=2)
    assert ids(report, Outcome.created) == [1, 2, 3, 4, 5]  # reported in the order given
    first_finds = [ident for what, ident in tool.calls if what == "find"][:2]
    assert first_finds == [1, 4]  # one case of each story at once, not two of US-1 behind one gate
    assert tool.sections == {"US-1": 1, "US-2": 1}


async def test_an_edited_case_is_updated_in_place() -> None:
    tool, store = MemoryTool(), MemoryMappings()
    await push(tool, store, FIVE)
    edited = [*FIVE[:2], ("US-1", doc(3, "Case 3, edited")), *FIVE[3:]]
    tool.calls.clear()
    report = await push(tool, store, edited)
    assert ids(report, Outcome.updated) == [3]
    assert ids(report, Outcome.unchanged) == [1, 2, 4, 5]
    assert tool.calls == [("version", store.rows[3].remote.id), ("update", 3)]
    [stored] = tool.of_case(3)
    assert stored.doc.title == "Case 3, edited" and stored.version == 2
    assert store.rows[3].remote.version == "2" and store.rows[3].fingerprint == fingerprint(
        doc(3, "Case 3, edited")
    )


async def test_a_case_changed_in_the_tool_is_a_conflict_unless_overwrite() -> None:
    tool, store = MemoryTool(), MemoryMappings()
    await push(tool, store, FIVE)
    tool.edit(store.rows[2].remote.id)
    edited = [FIVE[0], ("US-1", doc(2, "Case 2, edited")), *FIVE[2:]]
    report = await push(tool, store, edited)
    [conflict] = report.of(Outcome.conflict)
    assert conflict.test_case_id == 2 and "overwrite" in conflict.message
    assert conflict.remote is not None and conflict.remote.url
    assert tool.of_case(2)[0].doc.title == "Case 2"  # left alone
    again = await push(tool, store, edited)  # still a conflict: nothing was recorded
    assert ids(again, Outcome.conflict) == [2]
    forced = await push(tool, store, edited, overwrite=True)
    assert ids(forced, Outcome.updated) == [2]
    assert tool.of_case(2)[0].doc.title == "Case 2, edited"
    assert ids(await push(tool, store, edited), Outcome.unchanged) == [1, 2, 3, 4, 5]


async def test_a_case_deleted_in_the_tool_is_created_again() -> None:
    tool, store = MemoryTool(), MemoryMappings()
    await push(tool, store, FIVE)
    old = store.rows[4].remote.id
    tool.delete_by_hand(old)
    report = await push(tool, store, [*FIVE[:3], ("US-2", doc(4, "Case 4, edited")), FIVE[4]])
    assert ids(report, Outcome.created) == [4]
    assert len(tool.of_case(4)) == 1 and store.rows[4].remote.id != old


async def test_removed_cases_are_reported_and_deleted_only_when_asked() -> None:
    tool, store = MemoryTool(), MemoryMappings()
    await push(tool, store, FIVE)
    store.existing_ids -= {2, 5}  # deleted in testgen
    rest = [FIVE[0], FIVE[2], FIVE[3]]
    report = await push(tool, store, rest)
    assert ids(report, Outcome.removed) == [2, 5]
    assert "delete_removed" in report.of(Outcome.removed)[0].message
    assert len(tool.of_case(2)) == 1 and 2 in store.rows  # still there, still known
    only_us1 = await push(tool, store, [FIVE[0], FIVE[2]], story_ids=frozenset({"US-1"}))
    assert ids(only_us1, Outcome.removed) == [2]  # the other story's removal is not looked at
    deleted = await push(tool, store, rest, delete_removed=True)
    assert ids(deleted, Outcome.removed) == [2, 5]
    assert tool.of_case(2) == [] and tool.of_case(5) == []
    assert 2 not in store.rows and 5 not in store.rows
    assert ids(await push(tool, store, rest, delete_removed=True), Outcome.removed) == []


async def test_a_case_left_out_but_still_saved_is_not_removed() -> None:
    """A saved test case no longer selected (awaiting approval again, say) stays in the tool."""
    tool, store = MemoryTool(), MemoryMappings()
    await push(tool, store, FIVE)
    report = await push(tool, store, FIVE[:4], delete_removed=True)
    assert ids(report, Outcome.removed) == [] and len(tool.of_case(5)) == 1


async def test_a_refused_case_fails_alone() -> None:
    tool, store = MemoryTool(refuse={3}), MemoryMappings()
    report = await push(tool, store, FIVE)
    assert ids(report, Outcome.created) == [1, 2, 4, 5]
    [failed] = report.of(Outcome.failed)
    assert failed.test_case_id == 3 and "bad title 'Case 3'" in failed.message
    assert 3 not in store.rows
    tool.refuse.clear()
    assert ids(await push(tool, store, FIVE), Outcome.created) == [3]


async def test_refused_credentials_stop_the_push() -> None:
    tool, store = MemoryTool(refuse_credentials=True), MemoryMappings()
    many = [("US-1", doc(n)) for n in range(1, 41)]
    with pytest.raises(ToolAuthError, match="refused the credentials"):
        await push(tool, store, many)
    assert len(tool.calls) <= 4  # the cases under way, no more
    assert store.rows == {}


async def test_a_tool_that_stops_answering_stops_the_push() -> None:
    tool, store = MemoryTool(unavailable=True), MemoryMappings()
    many = [("US-1", doc(n)) for n in range(1, 41)]
    with pytest.raises(ToolUnavailable):
        await push(tool, store, many, concurrency=1)
    assert len(tool.calls) == 3


async def test_a_run_that_died_after_a_create_leaves_the_case_once() -> None:
    tool, store = MemoryTool(die_after_create={2}), MemoryMappings()
    with pytest.raises(Died):
        await push(tool, store, FIVE, concurrency=1)
    assert 2 not in store.rows and len(tool.of_case(2)) == 1  # made, not recorded
    report = await push(tool, store, FIVE)
    assert 2 in ids(report, Outcome.created)
    assert all(len(tool.of_case(i)) == 1 for i in range(1, 6))
    assert store.rows[2].fingerprint == fingerprint(doc(2))
    assert ids(await push(tool, store, FIVE), Outcome.unchanged) == [1, 2, 3, 4, 5]


async def test_each_create_is_recorded_before_the_next_call() -> None:
    tool, store = MemoryTool(), MemoryMappings()
    recorded_before: list[int] = []
    original = tool._call

    async def call(what: str, ident: int | str) -> None:
        recorded_before.append(len(store.rows))
        await original(what, ident)

    tool._call = call  # type: ignore[method-assign]
    await push(tool, store, [("US-1", doc(n)) for n in range(1, 6)], concurrency=1)
    # section, find 1, create 1, then find 2 with 1 recorded, create 2, find 3 with 2 recorded, ...
    assert recorded_before == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


async def test_progress_after_each_case_and_a_cancel_lets_the_cases_under_way_finish() -> None:
    tool, store = MemoryTool(latency_s=0.001), MemoryMappings()
    many = [("US-1", doc(n)) for n in range(1, 21)]
    store.existing_ids |= {c.test_case_id for _, c in many}
    steps = Steps()
    await push_cases(tool, selection(*many), store, SyncOptions(), steps)
    assert steps.seen == [(n, 20) for n in range(1, 21)]
    tool2, store2 = MemoryTool(latency_s=0.001), MemoryMappings(existing_ids=set(range(1, 21)))
    with pytest.raises(Cancelled):
        await push_cases(tool2, selection(*many), store2, SyncOptions(), Steps(stop_at=5))
    assert 5 <= len(store2.rows) < 20
    assert all(len(tool2.of_case(i)) == 1 for i in store2.rows)
    assert len(tool2.cases) == len(store2.rows)  # nothing made that was not recorded


@dataclasses.dataclass
class Links:
    made: list[tuple[str, int, str, str]] = dataclasses.field(default_factory=list)
    refuse: bool = False
    present: set[tuple[str, int]] = dataclasses.field(default_factory=set)  # the links Jira holds

    async def link(self, story_key: str, case: CaseDoc, remote: Remote, tool_name: str) -> None:
        if self.refuse:
            raise ToolRefused("Jira refused the request (404: Issue does not exist)")
        self.made.append((story_key, case.test_case_id, remote.url or "", tool_name))
        self.present.add((story_key, case.test_case_id))

    async def has_link(self, story_key: str, case: CaseDoc) -> bool:
        return (story_key, case.test_case_id) in self.present


async def test_created_and_updated_cases_of_a_jira_story_are_linked() -> None:
    jira_story = StoryRef("SHOP-7", "Pay", "en", jira_key="SHOP-7", jira_url="https://jira/browse/SHOP-7")
    tool, store, links = MemoryTool(), MemoryMappings(existing_ids={1, 2, 3}), Links()
    stories = [(jira_story, [doc(1), doc(2)]), (STORIES["US-1"], [doc(3)])]
    options = SyncOptions(linker=links, tool_name="TestRail")
    report = await push_cases(tool, stories, store, options, Steps())
    assert sorted(links.made) == [
        ("SHOP-7", 1, store.rows[1].remote.url, "TestRail"),
        ("SHOP-7", 2, store.rows[2].remote.url, "TestRail"),
    ]
    assert report.linked == 2
    links.made.clear()
    await push_cases(tool, stories, store, options, Steps())
    assert links.made == []  # unchanged: no call at all
    links.refuse = True
    edited = [(jira_story, [doc(1, "Case 1, edited"), doc(2)]), (STORIES["US-1"], [doc(3)])]
    report = await push_cases(tool, edited, store, options, Steps())
    assert ids(report, Outcome.updated) == [1]
    [failed] = report.links_failed
    assert failed.test_case_id == 1 and "Issue does not exist" in failed.message

    links.refuse = False
    links.present.discard(("SHOP-7", 1))  # the refused link is not in Jira
    report = await push_cases(tool, edited, store, options, Steps())
    assert ids(report, Outcome.unchanged) == [1, 2, 3]
    assert links.made == [("SHOP-7", 1, store.rows[1].remote.url, "TestRail")]  # the missing link only
    assert report.linked == 1 and report.links_failed == []


# --- documents ------------------------------------------------------------------------------------


def rows() -> tuple[models.UserStory, models.TestCase]:
    story = models.UserStory(
        id="SHOP-3",
        project_id=1,
        title="Pagar con tarjeta",
        description="Como cliente",
        acceptance_criteria=["la tarjeta funciona"],
        jira_url="https://acme.atlassian.net/browse/SHOP-3",
    )
    case = models.TestCase(
        id=9,
        story_id="SHOP-3",
        title="Pago válido",
        description="d",
        preconditions=["sesión iniciada"],
        priority="high",
        test_type="functional",
        covered_criteria=[0],
        scenarios=[
            {
                "title": "paga",
                "given": ["una cesta", "una tarjeta"],
                "when": ["paga"],
                "then": ["pagado", "correo"],
            },
            {"title": "otra vez", "given": ["g"], "when": ["w"], "then": ["t"]},
        ],
        approved_by=4,
    )
    return story, case


def test_a_case_doc_is_in_the_storys_dialect() -> None:
    story, case = rows()
    built = case_doc(case, story, "es")
    assert built.gherkin.startswith("# language: es\n@story-SHOP-3\nCaracterística: Pagar con tarjeta\n")
    assert "  @functional @priority-high @TC-9 @AC1\n  Escenario: paga\n    Dado una cesta\n" in built.gherkin
    assert built.steps == [
        ("paga\nDado una cesta\nY una tarjeta\nCuando paga", "Entonces pagado\nY correo"),
        ("otra vez\nDado g\nCuando w", "Entonces t"),
    ]
    assert built.marker == "testgen-9" and built.approved_by == "4"
    ref = story_ref(story, "es")
    assert ref.jira_key == "SHOP-3" and ref.language == "es"


def test_the_fingerprint_follows_what_is_sent() -> None:
    story, case = rows()
    first = fingerprint(case_doc(case, story, "es"))
    assert first == fingerprint(case_doc(case, story, "es")) and len(first) == 64
    assert fingerprint(dataclasses.replace(case_doc(case, story, "es"), approved_by="5")) == first
    assert fingerprint(case_doc(case, story, "en")) != first  # other keywords
    case.title = "Pago válido (editado)"
    assert fingerprint(case_doc(case, story, "es")) != first


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://acme.atlassian.net/browse/SHOP-3", "SHOP-3"),
        ("https://jira.example.com/browse/OPS-12/", "OPS-12"),
        ("https://jira.example.com/browse/OPS-12?focusedId=1#c", "OPS-12"),
        (None, None),
        ("", None),
    ],
)
def test_the_jira_key_is_the_last_part_of_the_storys_url(url: str | None, key: str | None) -> None:
    assert jira_key(url) == key


# --- against the fake TestRail ---------------------------------------------------------------------


async def test_push_edit_push_again_against_testrail_holds_each_case_once_with_the_edit() -> None:
    with FakeTestRail() as fake:
        settings = fake.settings(requests_per_minute=100_000)
        store = MemoryMappings(existing_ids=set(range(1, 6)))

        async def push_to_testrail(cases: list[tuple[str, CaseDoc]]) -> SyncReport:
            connector = connect(ConnectionKind.testrail, settings, fake.secrets, "QA TestRail")
            try:
                return await push_cases(connector, selection(*cases), store, SyncOptions(), Steps())
            finally:
                await connector.aclose()

        first = await push_to_testrail(FIVE)
        assert ids(first, Outcome.created) == [1, 2, 3, 4, 5]
        edited = [*FIVE[:2], ("US-1", doc(3, "Case 3, edited")), *FIVE[3:]]
        second = await push_to_testrail(edited)
        assert ids(second, Outcome.updated) == [3] and ids(second, Outcome.unchanged) == [1, 2, 4, 5]
        assert len(fake.cases) == 5 and fake.duplicates() == {}
        titles = {c["refs"].split(",")[-1].strip(): c["title"] for c in fake.cases.values()}
        assert titles == {
            "testgen-1": "Case 1",
            "testgen-2": "Case 2",
            "testgen-3": "Case 3, edited",
            "testgen-4": "Case 4",
            "testgen-5": "Case 5",
        }
        assert fake.count("add_case") == 5 and fake.count("update_case") == 1
