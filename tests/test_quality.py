"""Quality checks on a draft: criteria coverage and near-duplicate scenarios (pure functions)."""

from __future__ import annotations

from testgen.data import schemas
from testgen.data.schemas import Scenario
from testgen.generation.quality import coverage, duplicate_positions
from testgen.generation.similarity import normalise_step, scenario_key


def scenario(
    title: str, given: str = "a shopper", when: str = "they pay", then: str = "it works"
) -> Scenario:
    return Scenario(title=title, given=[given], when=[when], then=[then])


def case(title: str, scenarios: list[Scenario], covered: list[int]) -> schemas.TestCaseDraft:
    return schemas.TestCaseDraft(title=title, scenarios=scenarios, covered_criteria=covered)


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
    report = coverage(criteria, cases)
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
    assert coverage([], [case("A", [scenario("s")], [])]) == {"criteria": [], "uncovered": [], "covered": 0}
