"""The check of a story before generating: its findings on a fixed set of good and bad stories
(precision and recall at least 0.9 each, stated in the README), the questions it asks, the API, and
the check recorded with a draft."""

from __future__ import annotations

from httpx import AsyncClient

from testgen.domain.story_check import FindingKind
from testgen.generation.story_check import check_story
from tests.design.story_check_set import STORIES
from tests.support.helpers import is_status, make_story, queue, wait_for_job


def scores() -> tuple[float, float, int, int, int]:
    found_total = expected_total = right = 0
    for language, criteria, expected in STORIES:
        found = {(f.criterion, f.kind) for f in check_story(criteria, language).findings}
        found_total += len(found)
        expected_total += len(expected)
        right += len(found & expected)
    return right / found_total, right / expected_total, right, found_total, expected_total


def test_precision_and_recall_on_the_fixed_set() -> None:
    precision, recall, right, found, expected = scores()
    print(f"precision {precision:.3f} ({right}/{found}), recall {recall:.3f} ({right}/{expected})")
    assert precision >= 0.9 and recall >= 0.9


def test_good_stories_have_no_finding() -> None:
    for language, criteria, expected in STORIES:
        if criteria and not expected:
            assert check_story(criteria, language).findings == [], criteria


def test_each_finding_names_the_criterion_and_asks_a_question() -> None:
    check = check_story(["The page loads fast", "The list shows 20", "The list shows 20"], "en")
    fast = next(f for f in check.findings if f.kind is FindingKind.vague_word)
    assert (fast.criterion, fast.text, fast.question) == (0, "fast", "How fast? Give a time in seconds.")
    number = next(f for f in check.findings if f.kind is FindingKind.number_without_unit)
    assert number.question.startswith("20 what?")
    duplicate = next(f for f in check.findings if f.kind is FindingKind.duplicate)
    assert duplicate.criterion == 2 and "criterion 2" in duplicate.question
    assert check.unclear_criteria == [0, 1, 2]
    spanish = check_story(["La página carga rápido"], "es").findings[0]
    assert spanish.question == "¿Cuán rápido? Indica un tiempo en segundos."
    mixed = check_story(["The page loads fast"], "es").findings[0]  # an English word in a Spanish story
    assert mixed.question == "¿Cuán rápido? Indica un tiempo en segundos."


async def test_the_check_route_and_the_check_recorded_with_a_draft(
    client: AsyncClient, worker: object
) -> None:
    story = await make_story(client, "US-1")
    r = await client.patch(
        "/user-stories/US-1",
        json={"acceptance_criteria": ["The page loads fast", "A total in euros is shown"]},
    )
    assert r.status_code == 200, r.text
    r = await client.post("/user-stories/US-1/check")
    assert r.status_code == 200, r.text
    assert r.json()["unclear_criteria"] == [0]
    assert {f["kind"] for f in r.json()["findings"]} == {"vague_word", "no_outcome"}
    assert (await client.post("/user-stories/US-9/check")).status_code == 404
    job = await queue(client, "US-1", num_test_cases=2, scenarios_per_test_case=1)
    status = await wait_for_job(client, job["status_url"], is_status("completed"), what="the draft")
    result = status["result"]
    assert result["story_check"]["unclear_criteria"] == [0]
    unclear = result["quality"]["unclear"]
    assert [u["index"] for u in unclear] == [0]
    assert unclear[0]["questions"] == [
        "How fast? Give a time in seconds.",
        "What should the user see or receive when this holds? Name the result.",
    ]
    assert story["id"] == "US-1"
