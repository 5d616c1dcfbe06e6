"""Job rows' JSON exactly as the worker and the API store it (result, options, error of each job
kind), for the tests that read saved rows back through the typed job contracts."""

from __future__ import annotations

from typing import Any

CRITERIA = ["Criterion 1 of US-OLD holds", "Criterion 2 of US-OLD holds"]


def _case(title: str, test_type: str, covered: list[int], scenarios: list[str]) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"{title}, as a reviewer reads it",
        "preconditions": ["A basket with one item"],
        "priority": "high",
        "test_type": test_type,
        "scenarios": [
            {"title": s, "given": ["a shopper"], "when": [f"they {s}"], "then": ["it works"]}
            for s in scenarios
        ],
        "covered_criteria": covered,
    }


_TOKENS = {"prompt": 1200, "output": 800, "total": 2000}

GENERATE_OPTIONS: dict[str, Any] = {
    "num_test_cases": 2,
    "scenarios_per_test_case": 2,
    "only_changed": False,
    "llm_provider": "offline",
    "llm_model": "offline-template",
}

DRAFT: dict[str, Any] = {
    "test_cases": [
        _case("Pay by card", "functional", [0], ["pay", "pay again"]),
        _case("Refuse a bad card", "negative", [], ["use a bad card", "use an expired card"]),
    ],
    "coverage": {
        "criteria": [
            {
                "index": 0,
                "criterion": CRITERIA[0],
                "scenarios": [
                    {"test_case": 0, "scenario": 0, "title": "pay"},
                    {"test_case": 0, "scenario": 1, "title": "pay again"},
                ],
            },
            {"index": 1, "criterion": CRITERIA[1], "scenarios": []},
        ],
        "uncovered": [1],
        "covered": 1,
    },
    "quality": {
        "criteria": [
            {"index": 0, "criterion": CRITERIA[0], "test_cases": [0], "scenarios": 2},
            {"index": 1, "criterion": CRITERIA[1], "test_cases": [], "scenarios": 0},
        ],
        "uncovered": [
            {
                "index": 1,
                "criterion": CRITERIA[1],
                "reason": "planned for test case #2, but the model did not mark it covered; "
                "regenerate or edit it",
            }
        ],
        "duplicates": {"replaced": 1, "within_draft": 1, "against_saved": 1},
        "scenarios_per_type": {"functional": 2, "negative": 2},
        "llm_calls": 3,
        "tokens": 2000,
    },
    "duplicates": [
        {
            "test_case": 0,
            "scenario": 1,
            "message": "repeats test case 1, scenario 1 of this draft",
            "of": {"test_case": 0, "scenario": 0},
        },
        {
            "test_case": 1,
            "scenario": 0,
            "message": 'repeats saved test #7 "Old card test"',
            "saved_test_case_id": 7,
            "saved_title": "use a bad card",
        },
    ],
    "provider": "offline",
    "model": "offline-template",
    "language": "en",
    "language_mismatch": False,
    "instructions": {"sha256": "ab" * 32, "first_line": "Write for the payments team"},
    "only_criteria": [0, 1],
    "stats": {
        "batches": 1,
        "scenarios": 4,
        "llm_calls": 3,
        "retries": 1,
        "reasks": 0,
        "tokens": _TOKENS,
        "duplicates_replaced": 1,
        "dedupe_calls": 1,
        "duplicates_remaining": 2,
        "duration_s": 1.234,
    },
}

# A draft without the keys the worker leaves out when they have no value (no only_changed, no
# duplicate left, no project instructions).
PLAIN_DRAFT: dict[str, Any] = {
    **{key: value for key, value in DRAFT.items() if key != "only_criteria"},
    "duplicates": [],
    "instructions": None,
    "stats": {key: value for key, value in DRAFT["stats"].items() if key != "duplicates_remaining"},
}

REGENERATE_OPTIONS: dict[str, Any] = {
    "index": 1,
    "scenarios_per_test_case": 2,
    "llm_provider": "offline",
    "llm_model": "offline-template",
}

REGENERATION: dict[str, Any] = {
    "parent_id": "old-draft",
    "index": 1,
    "test_case": _case("Refuse any bad card", "negative", [1], ["use a stolen card", "use a blocked card"]),
    "provider": "offline",
    "model": "offline-template",
    "language": "en",
    "language_mismatch": True,
    "duplicates": [],
    "instructions": None,
    "stats": {
        "llm_calls": 1,
        "retries": 0,
        "reasks": 1,
        "tokens": _TOKENS,
        "duplicates_replaced": 0,
        "dedupe_calls": 0,
        "duration_s": 0.5,
    },
    "coverage": DRAFT["coverage"],
}

IMPORT_OPTIONS: dict[str, Any] = {"jql": "project = SHOP"}


def jira_import(project_id: int) -> dict[str, Any]:
    return {
        "created": ["SHOP-1", "SHOP-2"],
        "updated": ["SHOP-3"],
        "unchanged": [],
        "skipped": [{"key": "SHOP-4", "reason": "no acceptance criteria found"}],
        "counts": {"created": 2, "updated": 1, "unchanged": 0, "skipped": 1},
        "project_id": project_id,
        "jql": "project = SHOP",
        "pages": 1,
        "issues": 4,
        "duration_s": 0.75,
    }


ERROR = {"type": "budget", "message": "Project 1's daily token budget would be passed"}
