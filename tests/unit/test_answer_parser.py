"""The answer parser and the value types of llm/base.py, without a model or a server."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from testgen.domain.test_cases import TestType
from testgen.generation.llm.base import (
    MAX_JSON_STARTS,
    BadOutputError,
    BatchRequest,
    CallStats,
    LLMError,
    StoryText,
    TestCaseSlot,
    extract_json,
    parse_batch_output,
    story_text,
)

STORY = StoryText(id="US-1", title="Pay", description="", acceptance_criteria=["card", "invoice", "refund"])


def request(slots: int = 2, per_case: int = 2) -> BatchRequest:
    types = ["negative", "boundary", "security"]
    return BatchRequest(
        story=STORY,
        batch_index=0,
        batch_count=1,
        slots=[TestCaseSlot(index=i, test_type=types[i], criteria=[i]) for i in range(slots)],
        scenarios_per_test_case=per_case,
    )


def scenario(n: int) -> dict[str, Any]:
    return {"title": f"scenario {n}", "given": [f"g{n}"], "when": [f"w{n}"], "then": [f"t{n}"]}


def answer(cases: int = 2, scenarios: int = 2, **fields: Any) -> str:
    return json.dumps(
        {
            "test_cases": [
                {"title": f"case {c}", "scenarios": [scenario(s) for s in range(scenarios)], **fields}
                for c in range(cases)
            ]
        }
    )


def bad_output(text: str, req: BatchRequest | None = None) -> str:
    with pytest.raises(BadOutputError) as info:
        parse_batch_output(text, req or request())
    assert info.value.type == "bad_output"
    assert str(info.value) == info.value.message
    return info.value.message


def test_exact_answer_is_taken_with_the_plans_types_and_criteria() -> None:
    drafts = parse_batch_output(answer(), request())
    assert [d.title for d in drafts] == ["case 0", "case 1"]
    assert [d.test_type for d in drafts] == [TestType.negative, TestType.boundary]
    assert [d.covered_criteria for d in drafts] == [[0], [1]]
    assert [[s.title for s in d.scenarios] for d in drafts] == [["scenario 0", "scenario 1"]] * 2


def test_not_json() -> None:
    message = bad_output("{'test_cases': ")
    assert message == "model output is not JSON (Expecting property name enclosed in double quotes, char 1)"


def test_valid_json_of_the_wrong_shape_names_the_place() -> None:
    missing = bad_output(json.dumps({"test_cases": [{"title": "x"}]}))
    assert missing == "model output has the wrong shape: test_cases.0.scenarios: Field required"
    assert (
        bad_output(json.dumps({"cases": []}))
        == "model output has the wrong shape: test_cases: Field required"
    )
    empty = bad_output(json.dumps({"test_cases": []}))
    assert empty.startswith("model output has the wrong shape: test_cases: List should have at least 1 item")
    assert bad_output("[1, 2]").startswith("model output has the wrong shape: : Input should be")


def test_too_few_test_cases() -> None:
    assert bad_output(answer(cases=1), request(slots=2)) == "model wrote 1 test cases, 2 were asked"


def test_too_few_scenarios() -> None:
    assert bad_output(answer(scenarios=1), request(per_case=2)) == (
        "model wrote 1 scenarios for 'case 0', 2 were asked"
    )


def test_extra_test_cases_and_scenarios_are_trimmed() -> None:
    drafts = parse_batch_output(answer(cases=4, scenarios=5), request(slots=2, per_case=3))
    assert [d.title for d in drafts] == ["case 0", "case 1"]
    assert all([s.title for s in d.scenarios] == ["scenario 0", "scenario 1", "scenario 2"] for d in drafts)


def test_covered_criteria_are_filtered_to_the_story_sorted_and_unique() -> None:
    drafts = parse_batch_output(answer(covered_criteria=[5, 2, 0, 2, 3]), request())
    assert [d.covered_criteria for d in drafts] == [[0, 2], [0, 2]]


def test_only_out_of_range_criteria_fall_back_to_the_plan() -> None:
    drafts = parse_batch_output(answer(covered_criteria=[3, 7]), request())
    assert [d.covered_criteria for d in drafts] == [[0], [1]]


def test_the_plan_decides_the_test_type() -> None:
    drafts = parse_batch_output(answer(test_type="performance"), request())
    assert [d.test_type for d in drafts] == [TestType.negative, TestType.boundary]


def test_other_fields_of_the_answer_are_kept() -> None:
    drafts = parse_batch_output(answer(priority="high", preconditions=["logged in"]), request())
    assert all(d.priority == "high" and d.preconditions == ["logged in"] for d in drafts)


def test_scenario_count() -> None:
    assert request(slots=3, per_case=4).scenario_count == 12


def test_call_stats_add_and_summary() -> None:
    total = CallStats(calls=1, retries=2, reasks=3, prompt_tokens=4, output_tokens=5, total_tokens=6)
    total.add(CallStats(calls=10, retries=20, reasks=30, prompt_tokens=40, output_tokens=50, total_tokens=60))
    assert total.summary().model_dump() == {
        "llm_calls": 11,
        "retries": 22,
        "reasks": 33,
        "tokens": {"prompt": 44, "output": 55, "total": 66},
    }
    assert CallStats().summary().model_dump() == {
        "llm_calls": 0,
        "retries": 0,
        "reasks": 0,
        "tokens": {"prompt": 0, "output": 0, "total": 0},
    }
    cached = CallStats(prompt_tokens=40, cached_tokens=30)
    cached.add(CallStats(prompt_tokens=20, cached_tokens=12))
    assert cached.summary().tokens.cached == 42  # reported cached tokens add up; none: the key is left out


def test_story_text_copies_the_story() -> None:
    class Row:
        id, title, description = "US-9", "Refund", "As a shopper"
        acceptance_criteria = ("a", "b")

    text = story_text(Row())
    assert text == StoryText(
        id="US-9", title="Refund", description="As a shopper", acceptance_criteria=["a", "b"]
    )
    assert isinstance(text.acceptance_criteria, list)

    class Imported(Row):
        comments, subtasks = ["Card only"], ["Refund form"]

    tracker = story_text(Imported()).tracker
    assert (tracker.comments, tracker.subtasks) == (("Card only",), ("Refund form",))


def test_llm_error_carries_type_and_message() -> None:
    error = LLMError("rate_limit", "slow down")
    assert (error.type, error.message, str(error)) == ("rate_limit", "slow down", "slow down")


def test_extract_json_takes_the_whole_text_a_fence_or_the_first_object() -> None:
    assert extract_json(' {"a": 1} ') == {"a": 1}
    assert extract_json("[1, 2]") == [1, 2]
    assert extract_json('Sure:\n```json\n{"a": 2}\n```\nbye') == {"a": 2}
    assert extract_json('```\nnot json\n```\n```JSON\n{"a": 3}```') == {"a": 3}
    assert extract_json('<think>{"no": 1}</think>\nHere: {"a": 4} and {"b": 5}') == {"a": 4}
    assert extract_json('<THINKING>x</THINKING>{"a": 5}') == {"a": 5}
    assert extract_json("<think>x</think>[5]") == [5]  # the reasoning goes, nothing replaces it
    assert extract_json("```\nnope\n```\n```json\n[1, 2]\n```") == [1, 2]  # the next fence is tried
    assert extract_json('text {oops} then [1] then {"a": 6}') == {"a": 6}


def test_extract_json_raises_the_whole_texts_error() -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        extract_json("no json here {")
    assert (info.value.msg, info.value.pos) == ("Expecting value", 0)
    with pytest.raises(json.JSONDecodeError):
        extract_json("[1] {")
    with pytest.raises(json.JSONDecodeError):  # starts beyond MAX_JSON_STARTS are not tried
        extract_json("{" * MAX_JSON_STARTS + ' {"a": 1}')


def test_call_stats_add_up_every_counter() -> None:
    total = CallStats(calls=1, language_mismatches=2)
    total.add(CallStats(2, 1, 1, 3, 4, 7, language_mismatches=1))
    assert total == CallStats(3, 1, 1, 3, 4, 7, language_mismatches=3)


def test_a_story_text_carries_its_language() -> None:
    story = SimpleNamespace(id="US-1", title="t", description="d", acceptance_criteria=("a",))
    assert story_text(story, "es") == StoryText("US-1", "t", "d", ["a"], "es")
    assert story_text(story).language == "en"
