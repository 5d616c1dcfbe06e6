"""The snapshot's declared shape (domain/job_snapshots.py) is the JSON the domain models dump to, key
for key, and what `job_snapshot` builds: mypy checks the code against the declaration, these tests
check the declaration against the models."""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Iterator
from typing import Any, NotRequired, get_args, get_origin, is_typeddict

import pytest
from pydantic import BaseModel

from testgen.api.schemas.jobs import JobState
from testgen.data.job_states import JobKind, JobStatus
from testgen.data.models import GenerationJob
from testgen.domain import attachments, job_errors, job_options, job_results, story_check, test_cases
from testgen.domain import job_snapshots as js
from testgen.streaming.progress_store import decode_state
from testgen.streaming.snapshots import encode, job_snapshot
from tests.support import saved_jobs

# Each model and its JSON form.
MIRRORS: dict[type[BaseModel], type] = {
    job_options.LLMChoice: js.LLMChoiceJSON,
    job_options.GenerateJobOptions: js.GenerateJobOptionsJSON,
    job_options.RegenerateJobOptions: js.RegenerateJobOptionsJSON,
    job_options.JiraImportJobOptions: js.JiraImportJobOptionsJSON,
    job_options.GitHubFilter: js.GitHubFilterJSON,
    job_options.PushJobOptions: js.PushJobOptionsJSON,
    test_cases.Scenario: js.ScenarioJSON,
    test_cases.Examples: js.ExamplesJSON,
    test_cases.Parameter: js.ParameterJSON,
    job_results.UnclearCriterion: js.UnclearCriterionJSON,
    story_check.StoryFinding: js.StoryFindingJSON,
    story_check.StoryCheck: js.StoryCheckJSON,
    attachments.AttachmentUsed: js.AttachmentUsedJSON,
    test_cases.TestCaseDraft: js.TestCaseDraftJSON,
    job_results.TokenCounts: js.TokenCountsJSON,
    job_results.CallSummary: js.CallSummaryJSON,
    job_results.RunStats: js.RunStatsJSON,
    job_results.DraftStats: js.DraftStatsJSON,
    job_results.ScenarioRef: js.ScenarioRefJSON,
    job_results.CriterionCoverage: js.CriterionCoverageJSON,
    job_results.Coverage: js.CoverageJSON,
    job_results.CriterionQuality: js.CriterionQualityJSON,
    job_results.UncoveredCriterion: js.UncoveredCriterionJSON,
    job_results.DuplicateCounts: js.DuplicateCountsJSON,
    job_results.QualityReport: js.QualityReportJSON,
    job_results.ScenarioPosition: js.ScenarioPositionJSON,
    job_results.ReportedDuplicate: js.ReportedDuplicateJSON,
    job_results.InstructionsUsed: js.InstructionsUsedJSON,
    job_results.DraftResult: js.DraftResultJSON,
    job_results.RegenerationResult: js.RegenerationResultJSON,
    job_results.SkippedIssue: js.SkippedIssueJSON,
    job_results.ImportCounts: js.ImportCountsJSON,
    job_results.JiraImportResult: js.JiraImportResultJSON,
    job_results.PushedCaseOut: js.PushedCaseOutJSON,
    job_results.PushCounts: js.PushCountsJSON,
    job_results.PushResult: js.PushResultJSON,
    job_errors.JobError: js.JobErrorJSON,
    job_options.AutomationFillOptions: js.AutomationFillOptionsJSON,
    job_results.StepProposal: js.StepProposalJSON,
    job_results.AutomationFillResult: js.AutomationFillResultJSON,
    job_options.StoryCheckOptions: js.StoryCheckOptionsJSON,
    job_results.StoryCheckResult: js.StoryCheckResultJSON,
}
UNIONS = [
    (job_options.JobOptions, js.JobOptionsJSON),
    (job_results.JobResult, js.JobResultJSON),
]


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _typeddicts_in(annotation: Any) -> Iterator[type]:
    if is_typeddict(annotation):
        yield annotation
    for arg in get_args(annotation):
        yield from _typeddicts_in(arg)


def conforms(value: Any, hint: Any) -> bool:
    """Whether `value` (decoded JSON) has the shape `hint` declares: no key missing or extra, no
    value of another type (a bool is no int, an int no float)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is NotRequired:
        return conforms(value, args[0])
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if hint is None or hint is type(None):
        return value is None
    if is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        required = set(hints) - _optional_keys(hint)
        return (
            isinstance(value, dict)
            and required <= set(value) <= set(hints)
            and all(conforms(item, hints[key]) for key, item in value.items())
        )
    if origin is list:
        return isinstance(value, list) and all(conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            conforms(key, args[0]) and conforms(item, args[1]) for key, item in value.items()
        )
    return type(value) is hint


def test_the_shape_check_finds_a_wrong_key_or_type() -> None:
    error = dict(saved_jobs.ERROR)
    assert conforms(error, js.JobErrorJSON)
    assert not conforms({**error, "kind": "x"}, js.JobErrorJSON)
    assert not conforms({"type": "budget"}, js.JobErrorJSON)
    assert not conforms({**error, "message": 1}, js.JobErrorJSON)
    assert not conforms({**saved_jobs.GENERATE_OPTIONS, "only_changed": 0}, js.GenerateJobOptionsJSON)
    assert not conforms({**saved_jobs.GENERATE_OPTIONS, "num_test_cases": True}, js.GenerateJobOptionsJSON)
    assert not conforms({**saved_jobs.GENERATE_OPTIONS, "llm_model": None}, js.GenerateJobOptionsJSON)


def _optional_keys(typed: type) -> set[str]:
    hints = typing.get_type_hints(typed, include_extras=True)
    return {key for key, hint in hints.items() if get_origin(hint) is NotRequired}


@pytest.mark.parametrize(("model", "typed"), MIRRORS.items(), ids=lambda m: m.__name__)
def test_each_json_form_has_its_models_keys(model: type[BaseModel], typed: type) -> None:
    hints = typing.get_type_hints(typed, include_extras=True)
    assert set(hints) == set(model.model_fields)
    # Left out when None (`optional_key()`): NotRequired; every other field is always dumped.
    left_out = {name for name, field in model.model_fields.items() if field.exclude_if is not None}
    assert _optional_keys(typed) == left_out
    assert typed.__optional_keys__ == frozenset(left_out)  # type: ignore[attr-defined]
    for name, field in model.model_fields.items():
        nested = {MIRRORS[found] for found in _models_in(field.annotation)}
        assert set(_typeddicts_in(hints[name])) == nested, name


def test_every_model_inside_a_snapshot_has_a_json_form() -> None:
    reached: set[type[BaseModel]] = set()
    todo = [*_models_in(job_options.JobOptions), *_models_in(job_results.JobResult), job_errors.JobError]
    while todo:
        model = todo.pop()
        if model not in reached:
            reached.add(model)
            todo.extend(m for field in model.model_fields.values() for m in _models_in(field.annotation))
    assert reached <= set(MIRRORS)
    for models, typed in UNIONS:
        assert {MIRRORS[m] for m in _models_in(models)} == set(_typeddicts_in(typed))


def test_the_snapshot_has_the_fields_of_the_apis_job_state() -> None:
    hints = typing.get_type_hints(js.JobSnapshot, include_extras=True)
    assert set(hints) == set(JobState.model_fields)
    assert _optional_keys(js.JobSnapshot) == {"warning"}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (js.DraftResultJSON, saved_jobs.DRAFT),
        (js.DraftResultJSON, saved_jobs.PLAIN_DRAFT),
        (js.RegenerationResultJSON, saved_jobs.REGENERATION),
        (js.JiraImportResultJSON, saved_jobs.jira_import(3)),
        (js.GenerateJobOptionsJSON, saved_jobs.GENERATE_OPTIONS),
        (js.RegenerateJobOptionsJSON, saved_jobs.REGENERATE_OPTIONS),
        (js.JiraImportJobOptionsJSON, saved_jobs.IMPORT_OPTIONS),
        (js.JobErrorJSON, saved_jobs.ERROR),
    ],
)
def test_a_stored_shape_is_its_json_form(typed: type, stored: dict[str, Any]) -> None:
    assert conforms(stored, typed)


FINISHED = dt.datetime(2024, 5, 1, 12, 5, tzinfo=dt.UTC)


def _job(status: JobStatus, **values: Any) -> GenerationJob:
    created = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    return GenerationJob(
        id="task-1",
        story_id="US-1",
        project_id=1,
        kind=JobKind.generate.value,
        parent_id=None,
        options=saved_jobs.GENERATE_OPTIONS,
        status=status.value,
        progress=100 if status == JobStatus.completed else 40,
        message="m",
        error=values.get("error"),
        result=values.get("result"),
        attempts=1,
        created_at=created,
        started_at=created,
        finished_at=values.get("finished_at"),
        saved_at=None,
    )


@pytest.mark.parametrize(
    "job",
    [
        _job(JobStatus.generating),
        _job(JobStatus.completed, result=saved_jobs.DRAFT, finished_at=FINISHED),
        _job(JobStatus.failed, error=saved_jobs.ERROR, result=saved_jobs.DRAFT),
    ],
    ids=["running", "completed", "failed"],
)
def test_job_snapshot_builds_the_declared_shape(job: GenerationJob) -> None:
    snapshot = job_snapshot(job)
    assert conforms(snapshot, js.JobSnapshot)
    assert set(snapshot) == js.JobSnapshot.__required_keys__  # type: ignore[attr-defined]
    assert decode_state(encode(snapshot).encode()) == snapshot
    assert (snapshot["result"] is not None) == (job.status == JobStatus.completed)
    assert (snapshot["error"] is not None) == (job.status == JobStatus.failed)
