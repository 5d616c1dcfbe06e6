"""The job contracts read what the worker and the API store, and write it back unchanged."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from testgen.domain.job_errors import ErrorType, JobError
from testgen.domain.job_options import GenerateJobOptions, JiraImportJobOptions, RegenerateJobOptions
from testgen.domain.job_results import DraftResult, JiraImportResult, RegenerationResult
from tests.support import saved_jobs

SRC = Path(__file__).resolve().parents[2] / "src" / "testgen"


@pytest.mark.parametrize(
    ("model", "stored"),
    [
        (DraftResult, saved_jobs.DRAFT),
        (DraftResult, saved_jobs.PLAIN_DRAFT),
        (RegenerationResult, saved_jobs.REGENERATION),
        (JiraImportResult, saved_jobs.jira_import(3)),
        (GenerateJobOptions, saved_jobs.GENERATE_OPTIONS),
        (RegenerateJobOptions, saved_jobs.REGENERATE_OPTIONS),
        (JiraImportJobOptions, saved_jobs.IMPORT_OPTIONS),
        (JobError, saved_jobs.ERROR),
    ],
)
def test_a_stored_shape_reads_and_writes_back_unchanged(
    model: type[BaseModel], stored: dict[str, Any]
) -> None:
    assert model.model_validate(stored).model_dump(mode="json") == stored


def test_keys_without_a_value_stay_out() -> None:
    draft = DraftResult.model_validate(saved_jobs.PLAIN_DRAFT)
    assert draft.only_criteria is None and draft.stats.duplicates_remaining is None
    dumped = draft.model_dump(mode="json")
    assert "only_criteria" not in dumped and "duplicates_remaining" not in dumped["stats"]
    assert dumped["instructions"] is None  # always there, null without instructions
    assert GenerateJobOptions().model_dump(mode="json") == {
        "num_test_cases": 5,
        "scenarios_per_test_case": 3,
        "only_changed": False,
    }


def test_an_error_type_this_version_does_not_know_reads_as_unknown() -> None:
    assert JobError.model_validate({"type": "gremlins", "message": "m"}).type is ErrorType.unknown
    assert JobError.model_validate({"type": "worker_lost", "message": "m"}).type is ErrorType.worker_lost


def test_every_error_type_has_a_producer() -> None:
    """ErrorType lists what the code raises: each member (but `unknown`, for rows of other versions)
    is named where a job fails, and nothing fails a job with a type that is not a member."""
    texts = "\n".join(
        path.read_text(encoding="utf-8")
        for path in SRC.rglob("*.py")
        if path.parts[-2] != "domain" and path.name != "client_constants.py"
    )
    produced = set(re.findall(r"\bErrorType\.(\w+)", texts))
    assert produced == {member.name for member in ErrorType} - {"unknown"}
    bare = re.findall(r"\b(?:LLMError|JobFailed|JiraError|Fault|fail_job)\(\s*(?:run,\s*)?\"\w+\"", texts)
    assert bare == []
