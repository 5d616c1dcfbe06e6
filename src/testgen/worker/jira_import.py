"""The Jira import job: pages of issues from Jira's search, each issue mapped to a story and written
into the job's project (created, updated in place, unchanged, or skipped with its reason).

Progress: 5% started, then 10-90% as pages arrive (Data Center says how many issues match, so the
share is exact; Cloud does not, so the bar moves halfway to 90% with every page), 100% done. Each
report's message says how many pages were fetched and issues processed. A cancel stops the job at
its next report (each page), and the stories of the pages already written stay.

A re-run (worker lost, re-delivery) is harmless: an issue already written is then "unchanged".

The project's `jira` connection, when it has one, is the Jira it imports from (a client for the job,
closed after it); otherwise the server's JIRA_* settings (the worker's shared client).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.core.languages import detect_story_language
from testgen.core.secret_box import load_secret_box
from testgen.data import pushes, repository
from testgen.data.job_states import JobStatus
from testgen.data.models import Connection, StoryRevision, UserStory, utcnow
from testgen.domain.connections import ConnectionKind, JiraSettings
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import JiraImportJobOptions
from testgen.domain.job_results import ImportCounts, JiraImportResult, SkippedIssue
from testgen.jira.client import JiraClient, JiraError
from testgen.jira.mapping import MappedStory, Unmappable, map_issue
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobFinished, JobRun, execute_project_job

logger = logging.getLogger(__name__)

PROGRESS_FIRST_PAGE, PROGRESS_LAST_PAGE = 10, 90
MAX_REPORTED = 1000  # ids listed per outcome in the result (the counts are always exact)


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[SkippedIssue] = field(default_factory=list)

    @property
    def processed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged) + len(self.skipped)

    def counts(self) -> ImportCounts:
        return ImportCounts(
            created=len(self.created),
            updated=len(self.updated),
            unchanged=len(self.unchanged),
            skipped=len(self.skipped),
        )

    def result(self, *, project_id: int, jql: str, pages: int, duration_s: float) -> JiraImportResult:
        return JiraImportResult(
            created=self.created[:MAX_REPORTED],
            updated=self.updated[:MAX_REPORTED],
            unchanged=self.unchanged[:MAX_REPORTED],
            skipped=self.skipped[:MAX_REPORTED],
            counts=self.counts(),
            project_id=project_id,
            jql=jql,
            pages=pages,
            issues=self.processed,
            duration_s=duration_s,
        )


async def run_jira_import(res: WorkerResources, task_id: str) -> str:
    """Run Jira import job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun) -> None:
        project_id = run.job.project_id
        if project_id is None:
            raise JobFailed(ErrorType.internal, f"Task {task_id} names no project to import into")
        options = JiraImportJobOptions.model_validate(run.job.options)
        async with res.sessionmaker() as session:
            connection = await pushes.connection_of_kind(session, project_id, ConnectionKind.jira.value)
            await session.commit()
        if connection is not None:
            try:
                jira = JiraClient(await _connection_settings(res.settings, connection))
            except JiraError as exc:
                raise JobFailed(exc.type, exc.message) from None
            try:
                await _import(res, jira, run, project_id, options.jql)
            finally:
                await jira.aclose()
            return
        if res.jira is None:
            raise JobFailed(
                ErrorType.configuration, res.jira_problem or "Jira is not configured on this worker"
            )
        await _import(res, res.jira, run, project_id, options.jql)

    return await execute_project_job(res, task_id, work, what="Jira import")


async def _connection_settings(settings: Settings, connection: Connection) -> Settings:
    """The server's settings with the Jira of the project's connection (its address, deployment and
    credentials) in place of the JIRA_* ones; the import's other limits stay the server's."""
    try:
        box = await asyncio.to_thread(load_secret_box, settings, create=False)
        token = box.open(connection.sealed_secrets)["api_token"]
        jira = JiraSettings.model_validate(connection.settings)
    except ConfigurationError as exc:
        raise JobFailed(ErrorType.configuration, exc.message) from None
    except (ValueError, KeyError) as exc:  # settings or secrets of another version
        raise JobFailed(
            ErrorType.configuration,
            f"The Jira connection '{connection.name}' cannot be used as stored ({type(exc).__name__}); "
            "edit it and enter its settings and credentials again",
        ) from None
    return settings.model_copy(
        update={
            "jira_base_url": str(jira.url).rstrip("/"),
            "jira_deployment": jira.deployment,
            "jira_email": jira.email,
            "jira_api_token": SecretStr(token) if jira.deployment == "cloud" else None,
            "jira_pat": SecretStr(token) if jira.deployment == "datacenter" else None,
        }
    )


def _progress(page: int, processed: int, total: int | None) -> int:
    span = PROGRESS_LAST_PAGE - PROGRESS_FIRST_PAGE
    if total:
        return PROGRESS_FIRST_PAGE + min(span, span * processed // total)
    return PROGRESS_LAST_PAGE - int(span / 2**page)


async def _import(res: WorkerResources, jira: JiraClient, run: JobRun, project_id: int, jql: str) -> None:
    started = time.monotonic()
    outcome = Outcome()
    pages = 0
    try:
        async for page in jira.search(jql):
            pages = page.number
            mapped: list[MappedStory] = []
            for issue in page.issues:
                try:
                    mapped.append(map_issue(issue, jira.base_url, jira.acceptance_field))
                except Unmappable as exc:
                    outcome.skipped.append(SkippedIssue(key=_key(issue), reason=jira.scrub(str(exc))))
                except Exception as exc:  # a shape nobody foresaw: this issue only, never the import
                    logger.warning(
                        "Task %s: issue %s could not be read", run.job.id, _key(issue), exc_info=True
                    )
                    reason = f"could not be read ({type(exc).__name__}); see the worker log"
                    outcome.skipped.append(SkippedIssue(key=_key(issue), reason=reason))
            if await res.store.cancel_requested(run.job.id):  # cancelled while the page was on its way
                raise JobFinished
            async with res.sessionmaker() as session:
                await _write(session, project_id, mapped, outcome)
            total = page.total
            of = f" of {total}" if total is not None else ""
            await run.report(
                JobStatus.generating,
                _progress(page.number, outcome.processed, total),
                f"Fetched page {page.number}: {outcome.processed}{of} issues processed",
            )
    except JiraError as exc:
        # The job's error and the worker's log line are built from this message: scrubbed once more,
        # whatever part of it came from Jira.
        raise JobFailed(exc.type, jira.scrub(exc.message)) from None
    counts = outcome.counts()
    message = (
        f"Imported {outcome.processed} issues: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.skipped} skipped"
    )
    duration_s = round(time.monotonic() - started, 3)
    result = outcome.result(project_id=project_id, jql=jql, pages=pages, duration_s=duration_s)
    await run.report(
        JobStatus.completed,
        100,
        message,
        persist=True,
        result=result.model_dump(mode="json"),
        error=None,
        finished_at=utcnow(),
    )
    logger.info("Task %s: %s", run.job.id, message)


def _key(issue: object) -> str:
    key = issue.get("key") if isinstance(issue, dict) else None
    return str(key)[:64] if key else "?"


def _values(story: MappedStory) -> dict[str, Any]:
    return {
        "title": story.title,
        "description": story.description,
        "acceptance_criteria": story.acceptance_criteria,
        "priority": story.priority.value,
        "jira_url": story.jira_url,
    }


async def _write(session: AsyncSession, project_id: int, mapped: list[MappedStory], outcome: Outcome) -> None:
    """One transaction per page: new stories created, changed ones updated in place."""
    unique: dict[str, MappedStory] = {}
    for story in mapped:
        unique.setdefault(story.id, story)  # Jira never repeats a key; a misbehaving server might
    existing = await repository.get_stories(session, list(unique))
    created_before = len(outcome.created)
    for key, story in unique.items():
        values = _values(story)
        row = existing.get(key)
        if row is None:
            detected = await detect_story_language(story.title, story.description, story.acceptance_criteria)
            session.add(UserStory(id=key, project_id=project_id, detected_language=detected, **values))
            outcome.created.append(key)
        elif row.project_id != project_id:
            reason = f"story {key} already belongs to project {row.project_id}"
            outcome.skipped.append(SkippedIssue(key=key, reason=reason))
        elif any(getattr(row, name) != value for name, value in values.items()):
            if row.acceptance_criteria != values["acceptance_criteria"]:
                repository.add_revision(session, row, values["acceptance_criteria"])
            for name, value in values.items():
                setattr(row, name, value)
            row.detected_language = await detect_story_language(
                story.title, story.description, story.acceptance_criteria
            )
            outcome.updated.append(key)
        else:
            outcome.unchanged.append(key)
    await session.flush()  # the new stories first: their first revisions refer to them
    for key in outcome.created[created_before:]:
        session.add(
            StoryRevision(story_id=key, revision=1, acceptance_criteria=unique[key].acceptance_criteria)
        )
    await session.commit()
