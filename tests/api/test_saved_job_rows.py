"""Job rows saved by the worker and the API (their result, options and error JSON as stored) read
back through the status API, the drafts list, a save, and the command line's typed reading."""

from __future__ import annotations

import datetime as dt
from typing import Any

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.schemas.jobs import GenerationJobOut, JiraImportJobOut, RegenerationJobOut
from testgen.cli.api_http import read_job
from testgen.data.models import GenerationJob, utcnow
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_results import DraftResult, JiraImportResult, RegenerationResult
from tests.support import saved_jobs
from tests.support.helpers import make_story


def _row(task_id: str, kind: str, status: str, **columns: Any) -> GenerationJob:
    now = utcnow()
    return GenerationJob(
        id=task_id,
        kind=kind,
        status=status,
        progress=100,
        message=f"{kind} {status}",
        attempts=1,
        created_at=now - dt.timedelta(seconds=5),
        started_at=now - dt.timedelta(seconds=4),
        finished_at=now,
        **columns,
    )


async def _status(client: AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/generate-test-cases/status/{task_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_saved_rows_of_every_kind_read_back_unchanged_and_typed(
    client: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    story = await make_story(client, "US-OLD", criteria=2)
    project_id = story["project_id"]
    await make_story(client, "US-FAILED", criteria=1)
    async with sessionmaker() as session:
        session.add_all(
            [
                _row(
                    "old-draft",
                    "generate",
                    "completed",
                    story_id="US-OLD",
                    options=saved_jobs.GENERATE_OPTIONS,
                    result=saved_jobs.DRAFT,
                ),
                _row(
                    "old-regeneration",
                    "regenerate",
                    "completed",
                    story_id="US-OLD",
                    parent_id="old-draft",
                    options=saved_jobs.REGENERATE_OPTIONS,
                    result=saved_jobs.REGENERATION,
                ),
                _row(
                    "old-import",
                    "import_jira",
                    "completed",
                    project_id=project_id,
                    options=saved_jobs.IMPORT_OPTIONS,
                    result=saved_jobs.jira_import(project_id),
                ),
                _row(
                    "old-failure",
                    "generate",
                    "failed",
                    story_id="US-FAILED",
                    options=saved_jobs.GENERATE_OPTIONS,
                    error=saved_jobs.ERROR,
                ),
            ]
        )
        await session.commit()

    draft = await _status(client, "old-draft")
    assert (draft["kind"], draft["options"], draft["result"]) == (
        "generate",
        saved_jobs.GENERATE_OPTIONS,
        saved_jobs.DRAFT,
    )
    regeneration = await _status(client, "old-regeneration")
    assert (regeneration["options"], regeneration["result"]) == (
        saved_jobs.REGENERATE_OPTIONS,
        saved_jobs.REGENERATION,
    )
    imported = await _status(client, "old-import")
    assert (imported["options"], imported["result"]) == (
        saved_jobs.IMPORT_OPTIONS,
        saved_jobs.jira_import(project_id),
    )
    failure = await _status(client, "old-failure")
    assert (failure["error"], failure["result"]) == (saved_jobs.ERROR, None)

    # The command line reads the same answers into the same models.
    typed_draft = read_job(draft)
    assert isinstance(typed_draft, GenerationJobOut) and isinstance(typed_draft.result, DraftResult)
    assert typed_draft.options.num_test_cases == 2 and typed_draft.options.llm_provider == "offline"
    assert [case.title for case in typed_draft.result.test_cases] == ["Pay by card", "Refuse a bad card"]
    assert typed_draft.result.only_criteria == [0, 1] and typed_draft.result.stats.duplicates_remaining == 2
    typed_regeneration = read_job(regeneration)
    assert isinstance(typed_regeneration, RegenerationJobOut)
    assert isinstance(typed_regeneration.result, RegenerationResult)
    assert typed_regeneration.options.index == typed_regeneration.result.index == 1
    typed_import = read_job(imported)
    assert isinstance(typed_import, JiraImportJobOut) and isinstance(typed_import.result, JiraImportResult)
    assert typed_import.options.jql == "project = SHOP" and typed_import.result.counts.created == 2
    typed_failure = read_job(failure)
    assert typed_failure.error is not None and typed_failure.error.type is ErrorType.budget

    # The story's drafts list it as stored, and its draft saves with the provider it records.
    drafts = (await client.get("/user-stories/US-OLD/drafts")).json()
    assert [(d["task_id"], d["result"]) for d in drafts] == [("old-draft", saved_jobs.DRAFT)]
    saved = await client.post("/generate-test-cases/old-draft/save", json={})
    assert saved.status_code == 201, saved.text
    cases = [(await client.get(f"/test-cases/{i}")).json() for i in saved.json()["test_case_ids"]]
    assert [(c["title"], c["provider"], c["model"]) for c in cases] == [
        ("Pay by card", "offline", "offline-template"),
        ("Refuse a bad card", "offline", "offline-template"),
    ]
