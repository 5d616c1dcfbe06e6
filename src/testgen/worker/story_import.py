"""What every import job shares, whatever its source (Jira, GitHub, Azure DevOps): the stories of each
page written into the project (created, updated in place keyed by the source's id, unchanged, or
skipped with the reason), the progress reported after each page (a cancel stops the job there; the
pages written stay), and the final report with the counts.

Progress: 5% started, then 10-90% as pages arrive (when the source says how many items match, the
share is exact; otherwise the bar moves halfway to 90% with every page), 100% done.

A re-run (worker lost, re-delivery) is harmless: a story already written is then "unchanged".
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.languages import detect_story_language
from testgen.data import repository
from testgen.data.job_states import JobStatus
from testgen.data.models import StoryRevision, UserStory, utcnow
from testgen.domain.imported_stories import ImportedStory
from testgen.domain.job_results import ImportCounts, JiraImportResult, SkippedIssue
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFinished, JobRun

logger = logging.getLogger(__name__)

PROGRESS_FIRST_PAGE, PROGRESS_LAST_PAGE = 10, 90
MAX_REPORTED = 1000  # ids listed per outcome in the result (the counts are always exact)


@dataclass(frozen=True)
class SourcePage:
    """One page of a source, mapped: its stories, the items that could not become one, and how many
    items match in all when the source says so."""

    number: int  # 1-based
    stories: Sequence[ImportedStory]
    skipped: Sequence[SkippedIssue] = ()
    total: int | None = None


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


def progress(page: int, processed: int, total: int | None) -> int:
    span = PROGRESS_LAST_PAGE - PROGRESS_FIRST_PAGE
    if total:
        return PROGRESS_FIRST_PAGE + min(span, span * processed // total)
    return PROGRESS_LAST_PAGE - int(span / 2**page)


async def import_pages(
    res: WorkerResources,
    run: JobRun,
    project_id: int,
    pages: AsyncIterator[SourcePage],
    *,
    what: str,
    jql: str = "",
    source: str | None = None,
    query: str | None = None,
    after_write: Callable[[AsyncSession, SourcePage], Awaitable[None]] | None = None,
    notes: Callable[[], str] | None = None,
) -> None:
    """Write each page of `pages` into the project, report progress after each, then complete the job
    with the counts. `what` names the items in messages ("issues", "work items"); `jql`, `source` and
    `query` go into the result; `after_write` runs once a page's stories are written (a Jira import's
    attachments), and `notes` adds to the final message. A source's own error (raised by `pages`) goes
    through unchanged."""
    started = time.monotonic()
    outcome = Outcome()
    number = 0
    async for page in pages:
        number = page.number
        outcome.skipped.extend(page.skipped)
        if await res.store.cancel_requested(run.job.id):  # cancelled while the page was on its way
            raise JobFinished
        async with res.sessionmaker() as session:
            await write(session, project_id, page.stories, outcome)
            if after_write is not None:
                await after_write(session, page)
        of = f" of {page.total}" if page.total is not None else ""
        await run.report(
            JobStatus.generating,
            progress(page.number, outcome.processed, page.total),
            f"Fetched page {page.number}: {outcome.processed}{of} {what} processed",
        )
    counts = outcome.counts()
    message = (
        f"Imported {outcome.processed} {what}: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.skipped} skipped"
    )
    if notes is not None:
        message = f"{message}; {notes()}"
    result = JiraImportResult(
        created=outcome.created[:MAX_REPORTED],
        updated=outcome.updated[:MAX_REPORTED],
        unchanged=outcome.unchanged[:MAX_REPORTED],
        skipped=outcome.skipped[:MAX_REPORTED],
        counts=counts,
        project_id=project_id,
        jql=jql,
        source=source,
        query=query,
        pages=number,
        issues=outcome.processed,
        duration_s=round(time.monotonic() - started, 3),
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


async def write(
    session: AsyncSession, project_id: int, stories: Sequence[ImportedStory], outcome: Outcome
) -> None:
    """One transaction per page: new stories created, changed ones updated in place."""
    unique: dict[str, ImportedStory] = {}
    for story in stories:
        unique.setdefault(story.id, story)  # a source never repeats an id; a misbehaving server might
    existing = await repository.get_stories(session, list(unique))
    created_before = len(outcome.created)
    for key, story in unique.items():
        values = story.values()
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
