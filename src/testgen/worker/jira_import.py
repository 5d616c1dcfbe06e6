"""The Jira import job: pages of issues from Jira's search, each issue mapped to a story and written
into the job's project by the importer every source shares (worker/story_import.py: created, updated
in place, unchanged, or skipped with its reason; progress per page, cancel, counts). Data Center says
how many issues match, so its progress is exact; Cloud does not.

The project's `jira` connection, when it has one, is the Jira it imports from (a client for the job,
closed after it); otherwise the server's JIRA_* settings (the worker's shared client).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.core.secret_box import load_secret_box
from testgen.data import pushes
from testgen.data.attachment_store import store_for
from testgen.data.models import Connection
from testgen.domain.connections import ConnectionKind, JiraSettings
from testgen.domain.imported_stories import ImportedStory
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import ImportSource, JiraContext, JiraImportJobOptions
from testgen.domain.job_results import SkippedIssue
from testgen.jira.client import JiraClient, JiraError
from testgen.jira.context import fields_for, with_context
from testgen.jira.mapping import Unmappable, map_issue
from testgen.worker.issue_import import import_issues
from testgen.worker.jira_attachments import JiraAttachments, JiraFile, files_of
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobRun, execute_project_job
from testgen.worker.story_import import SourcePage, import_pages

logger = logging.getLogger(__name__)


async def run_jira_import(res: WorkerResources, task_id: str) -> str:
    """Run import job `task_id` to a final state; return that state's name. A job whose `source` is
    GitHub or Azure DevOps is run by worker/issue_import.py."""

    async def work(run: JobRun) -> None:
        project_id = run.job.project_id
        if project_id is None:
            raise JobFailed(ErrorType.internal, f"Task {task_id} names no project to import into")
        options = JiraImportJobOptions.model_validate(run.job.options)
        if options.source not in (None, ImportSource.jira):
            await import_issues(res, run, project_id, options)
            return
        async with res.sessionmaker() as session:
            connection = await pushes.connection_of_kind(session, project_id, ConnectionKind.jira.value)
            await session.commit()
        if connection is not None:
            try:
                jira = JiraClient(await _connection_settings(res.settings, connection))
            except JiraError as exc:
                raise JobFailed(exc.type, exc.message) from None
            try:
                await _import(res, jira, run, project_id, options)
            finally:
                await jira.aclose()
            return
        if res.jira is None:
            raise JobFailed(
                ErrorType.configuration, res.jira_problem or "Jira is not configured on this worker"
            )
        await _import(res, res.jira, run, project_id, options)

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


async def _import(
    res: WorkerResources, jira: JiraClient, run: JobRun, project_id: int, options: JiraImportJobOptions
) -> None:
    include = frozenset(options.include or ())
    files: dict[str, list[JiraFile]] | None = {} if JiraContext.attachments in include else None
    pages = _pages(res, jira, run, options.jql, include, files)
    kept = JiraAttachments(jira, store_for(res.settings), res.settings, project_id)

    async def after_write(session: AsyncSession, page: SourcePage) -> None:
        for story in page.stories:
            if files is not None and story.id in files:
                await kept.sync(session, story.id, files.pop(story.id))

    try:
        await import_pages(
            res,
            run,
            project_id,
            pages,
            what="issues",
            jql=options.jql,
            after_write=after_write if files is not None else None,
            notes=kept.counts.message if files is not None else None,
        )
    except JiraError as exc:
        # The job's error and the worker's log line are built from this message: scrubbed once more,
        # whatever part of it came from Jira.
        raise JobFailed(exc.type, jira.scrub(exc.message)) from None


async def _pages(
    res: WorkerResources,
    jira: JiraClient,
    run: JobRun,
    jql: str,
    include: frozenset[JiraContext],
    files: dict[str, list[JiraFile]] | None,
) -> AsyncIterator[SourcePage]:
    """The pages of the search, mapped; with `files`, each story's Jira attachments go into it."""
    settings = res.settings
    async for page in jira.search(jql, fields_for(include)):
        mapped: list[ImportedStory] = []
        skipped: list[SkippedIssue] = []
        for issue in page.issues:
            try:
                story = map_issue(issue, jira.base_url, jira.acceptance_field)
                mapped.append(
                    with_context(
                        story,
                        issue,
                        include,
                        max_comments=settings.jira_max_comments,
                        max_comment_chars=settings.jira_max_comment_chars,
                    )
                )
                if files is not None:
                    files[story.id] = files_of(issue)
            except Unmappable as exc:
                skipped.append(SkippedIssue(key=_key(issue), reason=jira.scrub(str(exc))))
            except Exception as exc:  # a shape nobody foresaw: this issue only, never the import
                logger.warning("Task %s: issue %s could not be read", run.job.id, _key(issue), exc_info=True)
                reason = f"could not be read ({type(exc).__name__}); see the worker log"
                skipped.append(SkippedIssue(key=_key(issue), reason=reason))
        yield SourcePage(page.number, mapped, skipped, page.total)


def _key(issue: object) -> str:
    key = issue.get("key") if isinstance(issue, dict) else None
    return str(key)[:64] if key else "?"
