"""The push job: a project's saved test cases written into the tool of one of its connections
(testmgmt/sync.py decides what each case needs), each created case's mapping committed at once, and
the Jira stories linked to their pushed cases.

Progress: 5% started, 10% once the cases are read, then "Pushed N/M test cases" up to 95%, 100% done.
A cancel stops the push after the cases under way (the cancel is read after each case). A re-run
(worker lost, re-delivery, the job queued again) creates nothing twice: a case the tool created just
before the worker died is found by its marker and adopted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.errors import ConfigurationError
from testgen.core.redaction import Scrubber
from testgen.core.secret_box import load_secret_box
from testgen.data import pushes, repository
from testgen.data.job_states import JobStatus
from testgen.data.models import Connection, TestCase, UserStory, utcnow
from testgen.data.story_language import language_in_project
from testgen.domain.connections import ConnectionKind
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import PushJobOptions
from testgen.domain.job_results import PushCounts, PushedCaseOut, PushResult
from testgen.testmgmt import factory, jira_links
from testgen.testmgmt.base import (
    CaseDoc,
    Connector,
    Remote,
    StoryRef,
    ToolAuthError,
    ToolRefused,
    ToolUnavailable,
)
from testgen.testmgmt.documents import case_doc, story_ref
from testgen.testmgmt.sync import CaseResult, Mapping, Outcome, SyncOptions, SyncReport, push_cases
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobFinished, JobRun, execute_project_job

logger = logging.getLogger(__name__)

PROGRESS_READ, PROGRESS_LAST = 10, 95
MAX_REPORTED = 1000  # cases listed per outcome in the result (the counts are always exact)
# Xray links a test to its requirement itself (an issue link of type "Tests"): no remote link.
LINKED_BY_THE_TOOL = frozenset({ConnectionKind.xray_cloud, ConnectionKind.xray_dc})
TOOL_NAMES = {
    ConnectionKind.testrail: "TestRail",
    ConnectionKind.xray_cloud: "Xray",
    ConnectionKind.xray_dc: "Xray",
    ConnectionKind.zephyr_scale: "Zephyr Scale",
    ConnectionKind.azure_devops: "Azure DevOps",
    ConnectionKind.jira: "Jira",
}


@dataclass(frozen=True)
class Selection:
    """What a push reads before its first call: the connection, the cases, the project's Jira."""

    connection: Connection
    jira: Connection | None
    stories: list[tuple[StoryRef, list[CaseDoc]]]
    skipped_unapproved: int


class DbMappings:
    """The sync's memory in `pushed_cases`: each write in a short transaction of its own."""

    def __init__(self, res: WorkerResources, connection_id: int) -> None:
        self.res = res
        self.connection_id = connection_id

    async def load(self) -> dict[int, Mapping]:
        async with self.res.sessionmaker() as session:
            rows = await pushes.load_mappings(session, self.connection_id)
            await session.commit()
        return {
            row.test_case_id: Mapping(
                row.test_case_id,
                row.story_id,
                Remote(row.remote_id, row.remote_key, row.remote_url, row.remote_version),
                row.fingerprint,
            )
            for row in rows
        }

    async def existing(self, test_case_ids: Collection[int]) -> set[int]:
        async with self.res.sessionmaker() as session:
            found = await pushes.existing_test_cases(session, test_case_ids)
            await session.commit()
        return found

    async def record(self, mapping: Mapping) -> None:
        remote = mapping.remote
        async with self.res.sessionmaker() as session:
            await pushes.save_mapping(
                session,
                self.connection_id,
                mapping.test_case_id,
                story_id=mapping.story_id,
                remote_id=remote.id,
                remote_key=remote.key,
                remote_url=remote.url,
                remote_version=remote.version,
                fingerprint=mapping.fingerprint,
            )

    async def drop(self, test_case_id: int) -> None:
        async with self.res.sessionmaker() as session:
            await pushes.drop_mapping(session, self.connection_id, test_case_id)


async def run_push(res: WorkerResources, task_id: str) -> str:
    """Run push job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun) -> None:
        if run.job.project_id is None:
            raise JobFailed(ErrorType.internal, f"Task {task_id} names no project to push from")
        options = PushJobOptions.model_validate(run.job.options)
        await _push(res, run, run.job.project_id, options)

    return await execute_project_job(res, task_id, work, what="Push")


async def _select(res: WorkerResources, project_id: int, options: PushJobOptions) -> Selection:
    async with res.sessionmaker() as session:
        project = await _project(session, project_id)
        connection = await pushes.get_connection(session, project_id, options.connection_id)
        if connection is None:
            await session.commit()
            raise JobFailed(
                ErrorType.configuration,
                f"Connection {options.connection_id} is no longer a connection of project {project_id}; "
                "push again to one of its connections",
            )
        jira = None
        if ConnectionKind(connection.kind) not in LINKED_BY_THE_TOOL:
            jira = await pushes.connection_of_kind(session, project_id, ConnectionKind.jira.value)
        found = await pushes.stories_with_cases(session, project_id, options.story_ids)
        review_required, project_language = project
        skipped = 0
        chosen: list[tuple[UserStory, str, list[TestCase]]] = []
        for story, cases in found:
            approved = [c for c in cases if c.approved_by is not None] if review_required else cases
            skipped += len(cases) - len(approved)
            if approved:
                chosen.append((story, await language_in_project(story, project_language), approved))
        await session.commit()
    stories = await asyncio.to_thread(_documents, chosen)
    return Selection(connection, jira, stories, skipped)


async def _project(session: AsyncSession, project_id: int) -> tuple[bool, str | None]:
    project = await repository.get_project(session, project_id)
    if project is None:
        raise JobFailed(ErrorType.internal, f"Project {project_id} no longer exists")
    return project.review_required, project.language


def _documents(chosen: list[tuple[UserStory, str, list[TestCase]]]) -> list[tuple[StoryRef, list[CaseDoc]]]:
    return [
        (story_ref(story, language), [case_doc(case, story, language) for case in cases])
        for story, language, cases in chosen
    ]


async def _open(res: WorkerResources, connection: Connection) -> tuple[dict[str, str], Scrubber]:
    try:
        box = await asyncio.to_thread(load_secret_box, res.settings, create=False)
        secrets = box.open(connection.sealed_secrets)
    except ConfigurationError as exc:
        raise JobFailed(ErrorType.configuration, exc.message) from None
    return secrets, Scrubber(*secrets.values())


def _connector(kind: ConnectionKind, connection: Connection, secrets: dict[str, str]) -> Connector:
    if kind is ConnectionKind.jira:
        raise JobFailed(ErrorType.configuration, f"Connection '{connection.name}' is {jira_links.NOT_A_TOOL}")
    try:
        return factory.connect(
            kind, dict(connection.settings), secrets, connection.name, factory.HttpOptions()
        )
    except (ValueError, KeyError) as exc:  # settings or secrets of another version
        raise JobFailed(
            ErrorType.configuration,
            f"Connection '{connection.name}' cannot be used as stored ({type(exc).__name__}); "
            "edit it and enter its settings and credentials again",
        ) from None


class UnusableJira:
    """The linker of a `jira` connection that cannot be used: each link fails with why (the push goes on)."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def link(self, story_key: str, case: CaseDoc, remote: Remote, tool_name: str) -> None:
        raise ToolRefused(self.message)

    async def has_link(self, story_key: str, case: CaseDoc) -> bool:
        raise ToolRefused(self.message)

    async def aclose(self) -> None:
        pass


async def _linker(
    res: WorkerResources, selection: Selection, kind: ConnectionKind
) -> tuple[jira_links.JiraLinker | UnusableJira | None, Connector | None]:
    """The Jira linker of this push and the connector it belongs to (closed after the push)."""
    if kind in LINKED_BY_THE_TOOL or not any(story.jira_key for story, _ in selection.stories):
        return None, None
    connection_id = selection.connection.id
    jira = selection.jira
    if jira is None:
        return jira_links.server_linker(res.settings, connection_id, factory.HttpOptions()), None
    try:
        secrets, _ = await _open(res, jira)
        connector = factory.connect(
            ConnectionKind.jira, dict(jira.settings), secrets, jira.name, factory.HttpOptions()
        )
    except JobFailed as exc:
        return UnusableJira(f"the Jira connection '{jira.name}' cannot be used: {exc.message}"), None
    except (ValueError, KeyError) as exc:
        return UnusableJira(
            f"the Jira connection '{jira.name}' cannot be used as stored ({type(exc).__name__}): edit it "
            "and enter its settings and credentials again"
        ), None
    assert isinstance(connector, jira_links.JiraConnection)
    return connector.linker(connection_id), connector


async def _push(res: WorkerResources, run: JobRun, project_id: int, options: PushJobOptions) -> None:
    started = time.monotonic()
    selection = await _select(res, project_id, options)
    connection = selection.connection
    kind = ConnectionKind(connection.kind)
    total = sum(len(docs) for _, docs in selection.stories)
    await run.report(JobStatus.generating, PROGRESS_READ, f"Pushing {total} test cases to {connection.name}")
    secrets, scrub = await _open(res, connection)
    connector = _connector(kind, connection, secrets)
    linker, jira_connector = None, None
    try:
        linker, jira_connector = await _linker(res, selection, kind)
        if isinstance(linker, jira_links.JiraLinker) and hasattr(connector, "jira_issue_id"):
            connector.jira_issue_id = linker.issue_id  # Zephyr Scale links the story's issue by its id

        async def progress(done: int, of: int) -> None:
            if await res.store.cancel_requested(run.job.id):
                raise JobFinished
            share = PROGRESS_READ + (PROGRESS_LAST - PROGRESS_READ) * done // max(1, of)
            await run.report(JobStatus.generating, share, f"Pushed {done}/{of} test cases")

        sync = SyncOptions(
            story_ids=frozenset(options.story_ids) if options.story_ids is not None else None,
            delete_removed=options.delete_removed,
            overwrite=options.overwrite,
            linker=linker,
            tool_name=TOOL_NAMES[kind],
        )
        try:
            report = await push_cases(
                connector, selection.stories, DbMappings(res, connection.id), sync, progress
            )
        except ToolAuthError as exc:
            raise JobFailed(ErrorType.auth, _naming(connection, scrub(exc.message))) from None
        except ToolUnavailable as exc:
            message = f"{scrub(exc.message)}; push again once the tool answers (what was pushed stays)"
            raise JobFailed(ErrorType.upstream, _naming(connection, message)) from None
    finally:
        for closing in (connector, jira_connector, linker):
            if closing is not None:
                try:
                    await closing.aclose()
                except Exception:  # a client that cannot close must not hide the push's outcome
                    logger.warning("Task %s: could not close a client", run.job.id, exc_info=True)
    result = _result(
        connection, kind, report, selection.skipped_unapproved, scrub, time.monotonic() - started
    )
    counts = result.counts
    message = (
        f"Pushed {total} test cases to {connection.name}: {counts.created} created, "
        f"{counts.updated} updated, {counts.unchanged} unchanged, {counts.conflicts} conflicts, "
        f"{counts.removed} removed, {counts.failed} failed"
    )
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


def _naming(connection: Connection, message: str) -> str:
    """The message, naming the connection (a connector's own messages usually do)."""
    if f"'{connection.name}'" in message:
        return message
    return f"Connection '{connection.name}' ({connection.kind}): {message}"


def _result(
    connection: Connection,
    kind: ConnectionKind,
    report: SyncReport,
    skipped_unapproved: int,
    scrub: Scrubber,
    duration_s: float,
) -> PushResult:
    def out(cases: list[CaseResult]) -> list[PushedCaseOut]:
        return [
            PushedCaseOut(
                test_case_id=case.test_case_id,
                story_id=case.story_id,
                remote_key=(case.remote.key or case.remote.id) if case.remote else None,
                url=case.remote.url if case.remote else None,
                message=scrub(case.message) if case.message else "",
            )
            for case in cases[:MAX_REPORTED]
        ]

    by = {outcome: report.of(outcome) for outcome in Outcome}
    return PushResult(
        connection_id=connection.id,
        connection=connection.name,
        kind=kind.value,
        created=out(by[Outcome.created]),
        updated=out(by[Outcome.updated]),
        unchanged=out(by[Outcome.unchanged]),
        conflicts=out(by[Outcome.conflict]),
        removed=out(by[Outcome.removed]),
        failed=out(by[Outcome.failed]),
        links_failed=out(report.links_failed),
        skipped_unapproved=skipped_unapproved,
        counts=PushCounts(
            created=len(by[Outcome.created]),
            updated=len(by[Outcome.updated]),
            unchanged=len(by[Outcome.unchanged]),
            conflicts=len(by[Outcome.conflict]),
            removed=len(by[Outcome.removed]),
            failed=len(by[Outcome.failed]),
            skipped_unapproved=skipped_unapproved,
            linked=report.linked,
            links_failed=len(report.links_failed),
        ),
        duration_s=round(duration_s, 3),
    )
