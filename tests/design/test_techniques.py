"""Named test-design techniques: planned per test case, explained in the prompt, written by the offline
provider from the criteria, recorded on every scenario and counted in the quality report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testgen.domain.job_results import CallSummary, TokenCounts
from testgen.domain.techniques import GUIDE, Technique
from testgen.domain.test_cases import Scenario, TestCaseDraft
from testgen.generation.llm.base import StoryText, parse_batch_output
from testgen.generation.llm.offline import build_test_case
from testgen.generation.llm.offline_techniques import candidates, conditions, enumeration, words_for
from testgen.generation.llm.prompt import build_prompt, response_schema
from testgen.generation.planning import plan_batches
from testgen.generation.quality import quality_report


def story(criteria: list[str], language: str = "en") -> StoryText:
    return StoryText(
        id="US-1", title="Sign up", description="", acceptance_criteria=criteria, language=language
    )


def offline_case(
    criterion: str, technique: Technique, per_case: int = 3, language: str = "en"
) -> TestCaseDraft:
    batch = plan_batches(story([criterion], language), 1, per_case, 15, techniques=[technique])[0]
    return build_test_case(batch, batch.slots[0])


def all_text(case: TestCaseDraft) -> str:
    return json.dumps(case.model_dump(mode="json"), ensure_ascii=False)


def test_techniques_go_to_the_test_cases_in_turn() -> None:
    chosen = [Technique.boundary_values, Technique.error_guessing]
    slots = [s for b in plan_batches(story(["a", "b", "c"]), 5, 2, 4, techniques=chosen) for s in b.slots]
    assert [s.technique for s in slots] == [chosen[i % 2] for i in range(5)]
    assert all(b.technique == "" for b in plan_batches(story(["a"]), 5, 2, 4, techniques=chosen))


def test_none_named_keeps_the_built_in_mix() -> None:
    plan = plan_batches(story(["a", "b"]), 4, 2, 4)
    assert all(s.technique is None for b in plan for s in b.slots)
    assert all(b.technique for b in plan)
    case = build_test_case(plan[0], plan[0].slots[0])
    assert all(s.technique is None for s in case.scenarios)
    assert "technique" not in case.model_dump()["scenarios"][0]


@pytest.mark.parametrize(
    ("criterion", "edges"),
    [
        ("The password has at least 12 characters", ["11", "12", "13"]),
        ("A basket holds at most 50 items", ["49", "50", "51"]),
        ("A username is between 3 and 20 characters long", ["2", "3", "4", "19", "20", "21"]),
        ("The discount is at least 2.5 percent", ["2.4", "2.5", "2.6"]),
    ],
)
def test_boundary_values_contain_the_edges(criterion: str, edges: list[str]) -> None:
    case = offline_case(criterion, Technique.boundary_values, per_case=len(edges))
    text = all_text(case)
    for value in edges:
        assert f"with {value}" in text, value
    assert all(s.technique is Technique.boundary_values for s in case.scenarios)


def test_boundary_values_accept_and_refuse_as_the_words_say() -> None:
    case = offline_case("The password has at least 12 characters", Technique.boundary_values)
    thens = [s.then[0] for s in case.scenarios]
    assert "11 is refused" in thens[0] and "12 is accepted" in thens[1] and "13 is accepted" in thens[2]
    case = offline_case("A basket holds at most 50 items", Technique.boundary_values)
    thens = [s.then[0] for s in case.scenarios]
    assert "49 is accepted" in thens[0] and "50 is accepted" in thens[1] and "51 is refused" in thens[2]


def test_boundary_values_in_spanish() -> None:
    criterion = "La contraseña tiene al menos 12 caracteres"
    case = offline_case(criterion, Technique.boundary_values, language="es")
    thens = [s.then[0] for s in case.scenarios]
    assert thens == [
        "el valor 11 se rechaza con un mensaje que indica el límite 12",
        "el valor 12 se acepta",
        "el valor 13 se acepta",
    ]


@pytest.mark.parametrize(
    ("criterion", "language", "classes"),
    [
        ("Payment by card, PayPal or bank transfer", "en", ["card", "PayPal", "bank transfer"]),
        ("The size is S/M/L/XL", "en", ["S", "M", "L", "XL"]),
        ("Shipping to Spain or Portugal only", "en", ["Spain", "Portugal"]),
        ("Pago con tarjeta, PayPal o transferencia", "es", ["tarjeta", "PayPal", "transferencia"]),
    ],
)
def test_partitions_one_per_class(criterion: str, language: str, classes: list[str]) -> None:
    assert enumeration(criterion, words_for(language)) == classes
    case = offline_case(criterion, Technique.equivalence_partitioning, len(classes) + 1, language)
    whens = [s.when[0] for s in case.scenarios]
    for name in classes:  # one scenario per valid class, each naming only its class
        assert sum(f'"{name}"' in w for w in whens) == 1, name
    assert all(name in whens[-1] for name in classes)  # and the invalid class: none of them


def test_decision_table_has_a_rule_per_combination() -> None:
    words = words_for("en")
    criterion = "If the email is confirmed and the password is valid, the user is signed in"
    assert conditions(criterion, words) == (["the email is confirmed", "the password is valid"], "and")
    case = offline_case(criterion, Technique.decision_table, per_case=4)
    outcomes = [s.then[0] for s in case.scenarios]
    assert outcomes[0] == "the outcome of AC1 happens"  # both true
    assert all("does not happen" in o for o in outcomes[1:])
    givens = [tuple(s.given[1:]) for s in case.scenarios]
    assert len(set(givens)) == 4
    coupon = "A coupon or a voucher gives a discount"
    either = candidates(Technique.decision_table, "en", "AC1", coupon, "Pay")
    assert [("does not" not in c.then[0]) for c in either] == [True, True, True, False]


@pytest.mark.parametrize("technique", list(Technique))
def test_every_technique_labels_every_scenario(technique: Technique) -> None:
    case = offline_case("The password has at least 12 characters, a digit or a symbol", technique)
    assert len(case.scenarios) == 3
    assert all(s.technique is technique for s in case.scenarios)
    assert len({s.title for s in case.scenarios}) == 3


def test_the_prompt_explains_each_chosen_technique_and_asks_for_labels() -> None:
    chosen = [Technique.boundary_values, Technique.pairwise]
    batch = plan_batches(story(["at least 12 characters"]), 2, 2, 15, techniques=chosen)[0]
    prompt = build_prompt(batch)
    for technique in chosen:
        first, second = GUIDE[technique]
        assert f"- {technique.value}: {first}\n  {second}" in prompt
    assert GUIDE[Technique.happy_path][0] not in prompt
    assert "technique boundary_values" in prompt and "technique pairwise" in prompt
    scenario = response_schema(batch)["properties"]["test_cases"]["items"]["properties"]["scenarios"]["items"]
    assert scenario["properties"]["technique"]["enum"] == ["boundary_values", "pairwise"]
    assert "technique" in scenario["required"]
    plain = plan_batches(story(["x"]), 1, 1, 15)[0]
    assert "technique" not in json.dumps(response_schema(plain))
    assert "Test-design techniques to apply" not in build_prompt(plain)


def _answer(technique: str | None) -> str:
    scenario: dict[str, Any] = {"title": "t", "given": ["g"], "when": ["w"], "then": ["t"]}
    if technique:
        scenario["technique"] = technique
    case = {"title": "c", "description": "", "preconditions": [], "priority": "high"}
    return json.dumps({"test_cases": [{**case, "scenarios": [scenario], "covered_criteria": [0]}]})


def test_a_models_scenarios_are_labelled_with_their_technique() -> None:
    batch = plan_batches(story(["x"]), 1, 1, 15, techniques=[Technique.error_guessing])[0]
    assert parse_batch_output(_answer(None), batch)[0].scenarios[0].technique is Technique.error_guessing
    labelled = parse_batch_output(_answer("happy_path"), batch)[0]
    assert labelled.scenarios[0].technique is Technique.happy_path


def test_quality_report_counts_scenarios_per_criterion_and_technique() -> None:
    chosen = [Technique.boundary_values, Technique.error_guessing]
    batch = plan_batches(story(["at least 12 characters", "an email"]), 2, 3, 15, techniques=chosen)[0]
    cases = [build_test_case(batch, slot) for slot in batch.slots]
    summary = CallSummary(llm_calls=1, retries=0, reasks=0, tokens=TokenCounts(prompt=1, output=1, total=2))
    report = quality_report(["at least 12 characters", "an email"], cases, batch.slots, [], 0, summary)
    assert report.scenarios_per_technique == {Technique.boundary_values: 3, Technique.error_guessing: 3}
    assert report.criteria[0].techniques == {Technique.boundary_values: 3}
    assert report.criteria[1].techniques == {Technique.error_guessing: 3}
    plain = plan_batches(story(["x"]), 1, 1, 15)[0]
    unlabelled = quality_report(["x"], [build_test_case(plain, plain.slots[0])], plain.slots, [], 0, summary)
    assert "scenarios_per_technique" not in unlabelled.model_dump(exclude_none=False)


def test_a_stored_scenario_without_technique_reads_back() -> None:
    old = {"title": "t", "given": ["g"], "when": ["w"], "then": ["t"]}
    assert Scenario.model_validate(old).technique is None
    assert Scenario.model_validate(old).model_dump() == old
