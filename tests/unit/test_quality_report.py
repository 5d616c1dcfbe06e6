"""Quality checks on a draft: criteria coverage and near-duplicate scenarios (pure functions)."""

from __future__ import annotations

from testgen.domain.job_results import CallSummary, TokenCounts
from testgen.domain.test_cases import Scenario, TestCaseDraft, TestType
from testgen.generation.quality import coverage, duplicate_positions
from testgen.generation.similarity import normalise_step, scenario_key


def scenario(
    title: str, given: str = "a shopper", when: str = "they pay", then: str = "it works"
) -> Scenario:
    return Scenario(title=title, given=[given], when=[when], then=[then])


def case(title: str, scenarios: list[Scenario], covered: list[int]) -> TestCaseDraft:
    return TestCaseDraft(title=title, scenarios=scenarios, covered_criteria=covered)


def test_normalise_step_ignores_case_punctuation_and_spacing() -> None:
    assert normalise_step("  The USER, clicks   'Pay'!_now ") == "the user clicks pay now"
    assert normalise_step("Ärger über ß") == "ärger über ss"


def test_key_keeps_the_parts_apart() -> None:
    one = Scenario(title="a", given=["x"], when=["y", "z"], then=["w"])
    assert scenario_key(one).parts == ("x", "y z", "w")
    moved = Scenario(title="b", given=["x", "y"], when=["z"], then=["w"])
    assert scenario_key(one).parts != scenario_key(moved).parts
    assert duplicate_positions([case("A", [one, moved], [0])]) == []


def test_duplicates_are_later_repeats_across_test_cases() -> None:
    cases = [
        case("A", [scenario("s1"), scenario("s2", when="they cancel")], [0]),
        case("B", [scenario("s3", when="They   CANCEL."), scenario("s4", then="it fails")], [1]),
        case("C", [scenario("s5"), scenario("s6", then="It fails!")], [1]),
    ]
    assert duplicate_positions(cases) == [(1, 0), (2, 0), (2, 1)]


def test_no_duplicates_in_distinct_scenarios() -> None:
    cases = [case("A", [scenario("s1"), scenario("s2", when="they cancel")], [0])]
    assert duplicate_positions(cases) == []
    assert duplicate_positions([]) == []


def test_coverage_lists_covering_scenarios_and_the_uncovered_criteria() -> None:
    criteria = ["pay by card", "pay by invoice", "refund", "receipt"]
    cases = [
        case("Card", [scenario("card ok"), scenario("card declined", then="an error")], [0, 3]),
        case("Receipt", [scenario("mailed", when="they finish")], [3]),
    ]
    report = coverage(criteria, cases).model_dump()
    assert report == {
        "criteria": [
            {
                "index": 0,
                "criterion": "pay by card",
                "scenarios": [
                    {"test_case": 0, "scenario": 0, "title": "card ok"},
                    {"test_case": 0, "scenario": 1, "title": "card declined"},
                ],
            },
            {"index": 1, "criterion": "pay by invoice", "scenarios": []},
            {"index": 2, "criterion": "refund", "scenarios": []},
            {
                "index": 3,
                "criterion": "receipt",
                "scenarios": [
                    {"test_case": 0, "scenario": 0, "title": "card ok"},
                    {"test_case": 0, "scenario": 1, "title": "card declined"},
                    {"test_case": 1, "scenario": 0, "title": "mailed"},
                ],
            },
        ],
        "uncovered": [1, 2],
        "covered": 2,
    }


def test_coverage_of_a_story_without_criteria() -> None:
    empty = coverage([], [case("A", [scenario("s")], [])])
    assert empty.model_dump() == {"criteria": [], "uncovered": [], "covered": 0}


def test_quality_report_counts_reasons_duplicates_types_and_usage() -> None:
    from testgen.generation.llm.base import TestCaseSlot
    from testgen.generation.quality import quality_report
    from testgen.generation.similarity import Duplicate, SavedScenario

    criteria = ["pay by card", "pay by invoice", "refund", "receipt"]
    cases = [
        case("Card", [scenario("ok"), scenario("declined", then="an error")], [0]),
        TestCaseDraft(
            title="Refund",
            test_type=TestType.negative,
            scenarios=[scenario("r")],
            covered_criteria=[2],
        ),
    ]
    slots = [TestCaseSlot(0, "functional", [0, 3]), TestCaseSlot(1, "negative", [2])]
    saved = SavedScenario(7, "Saved", scenario("s"))
    remaining = [
        Duplicate(0, 1, of_test_case=0, of_scenario=0),
        Duplicate(1, 0, saved=saved),
        Duplicate(1, 0, saved=saved),
    ]
    summary = CallSummary(llm_calls=3, retries=0, reasks=0, tokens=TokenCounts(prompt=1, output=2, total=42))
    report = quality_report(criteria, cases, slots, remaining, 5, summary).model_dump(mode="json")
    more = quality_report(criteria, [*cases, case("Card 2", [scenario("x")], [0])], slots, [], 0, summary)
    more = more.model_dump(mode="json")
    assert more["scenarios_per_type"] == {"functional": 3, "negative": 1}
    assert report["criteria"] == [
        {"index": 0, "criterion": "pay by card", "test_cases": [0], "scenarios": 2},
        {"index": 1, "criterion": "pay by invoice", "test_cases": [], "scenarios": 0},
        {"index": 2, "criterion": "refund", "test_cases": [1], "scenarios": 1},
        {"index": 3, "criterion": "receipt", "test_cases": [], "scenarios": 0},
    ]
    assert report["uncovered"] == [
        {
            "index": 1,
            "criterion": "pay by invoice",
            "reason": "no test case was planned for it (2 test cases for 4 criteria); "
            "ask for at least 4 test cases",
        },
        {
            "index": 3,
            "criterion": "receipt",
            "reason": "planned for test case #1, but the model did not mark it covered; "
            "regenerate or edit it",
        },
    ]
    assert report["duplicates"] == {"replaced": 5, "within_draft": 1, "against_saved": 2}
    assert report["scenarios_per_type"] == {"functional": 2, "negative": 1}
    assert (report["llm_calls"], report["tokens"]) == (3, 42)
    only = quality_report(criteria, cases, slots, [], 0, summary, asked=[0, 3])
    assert [u.reason for u in only.uncovered] == [
        "unchanged since its saved tests, so not asked for (only_changed)",
        "planned for test case #1, but the model did not mark it covered; regenerate or edit it",
    ]
    two = [TestCaseSlot(0, "functional", [3]), TestCaseSlot(1, "negative", [3])]
    assert (
        quality_report(criteria, cases, two, [], 0, summary)
        .uncovered[1]
        .reason.startswith("planned for test case #1, #2,")
    )
