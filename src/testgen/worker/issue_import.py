"""The import of GitHub issues and Azure DevOps work items: the same job as the Jira import (its kind,
progress, cancel, counts, re-import in place: worker/story_import.py), reading the project's `github`
or `azure-devops` connection.

GitHub: the connection's repository, filtered by labels, milestone and state, paged by `Link`; pull
requests are left out (not counted). Azure DevOps: the work items a WIQL query finds, 200 a page.
Each item is mapped by worker/issue_mapping.py; an item that cannot be is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from testgen.core.errors import ConfigurationError
from testgen.core.redaction import Scrubber
from testgen.core.secret_box import load_secret_box
from testgen.data import pushes
from testgen.data.models import Connection
from testgen.domain.connections import ConnectionKind
from testgen.domain.imported_stories import ImportedStory
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import GitHubFilter, ImportSource, JiraImportJobOptions
from testgen.domain.job_results import SkippedIssue
from testgen.jira.mapping import Unmappable
from testgen.testmgmt import factory
from testgen.testmgmt.azure_devops import AzureDevOps
from testgen.testmgmt.base import ToolAuthError, ToolError, ToolUnavailable
from testgen.testmgmt.github import GitHubIssues
from testgen.worker.issue_mapping import map_github_issue, map_work_item
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobRun
from testgen.worker.story_import import SourcePage, import_pages

logger = logging.getLogger(__name__)

LABELS = {ImportSource.github: "GitHub", ImportSource.azure_devops: "Azure DevOps"}
KINDS = {ImportSource.github: ConnectionKind.github, ImportSource.azure_devops: ConnectionKind.azure_devops}


def github_query(repository: str, chosen: GitHubFilter) -> str:
    """The filter as the result shows it: `owner/repo state=open labels=a,b milestone=3`."""
    parts = [repository, f"state={chosen.state.value}"]
    if chosen.labels:
        parts.append(f"labels={','.join(chosen.labels)}")
    if chosen.milestone is not None:
        parts.append(f"milestone={chosen.milestone}")
    return " ".join(parts)


async def import_issues(
    res: WorkerResources, run: JobRun, project_id: int, options: JiraImportJobOptions
) -> None:
    source = options.source
    assert source in KINDS, source
    label = LABELS[source]
    async with res.sessionmaker() as session:
        connection = await pushes.connection_of_kind(session, project_id, KINDS[source].value)
        await session.commit()
    if connection is None:
        raise JobFailed(
            ErrorType.configuration,
            f"The project has no {label} connection: add one to the project, then import again",
        )
    connector, scrub = await _connect(res, connection, KINDS[source])
    try:
        if isinstance(connector, GitHubIssues):
            chosen = options.github or GitHubFilter()
            query = github_query(connector.settings.repository, chosen)
            pages = _github_pages(res, run, connector, chosen)
            await import_pages(res, run, project_id, pages, what="issues", source=source.value, query=query)
        else:
            assert isinstance(connector, AzureDevOps)
            wiql = options.wiql or ""
            pages = _azure_pages(res, run, connector, wiql)
            await import_pages(
                res, run, project_id, pages, what="work items", source=source.value, query=wiql
            )
    except ToolError as exc:
        error_type = (
            ErrorType.auth
            if isinstance(exc, ToolAuthError)
            else ErrorType.rate_limited
            if isinstance(exc, ToolUnavailable) and "rate limit" in exc.message
            else ErrorType.upstream
            if isinstance(exc, ToolUnavailable)
            else ErrorType.invalid_request
        )
        raise JobFailed(error_type, scrub(exc.message)) from None
    finally:
        await connector.aclose()


async def _connect(
    res: WorkerResources, connection: Connection, kind: ConnectionKind
) -> tuple[GitHubIssues | AzureDevOps, Scrubber]:
    try:
        box = await asyncio.to_thread(load_secret_box, res.settings, create=False)
        secrets = box.open(connection.sealed_secrets)
        options = factory.HttpOptions(
            timeout_s=res.settings.jira_timeout_s, max_wait_s=res.settings.import_max_rate_limit_wait_s
        )
        connector = factory.connect(kind, dict(connection.settings), secrets, connection.name, options)
    except ConfigurationError as exc:
        raise JobFailed(ErrorType.configuration, exc.message) from None
    except (ValueError, KeyError) as exc:  # settings or secrets of another version
        raise JobFailed(
            ErrorType.configuration,
            f"Connection '{connection.name}' cannot be used as stored ({type(exc).__name__}); "
            "edit it and enter its settings and credentials again",
        ) from None
    assert isinstance(connector, GitHubIssues | AzureDevOps)
    return connector, Scrubber(*secrets.values())


def _mapped(
    run: JobRun, items: list[Any], map_one: Callable[[Any], ImportedStory], key: Callable[[Any], str]
) -> tuple[list[ImportedStory], list[SkippedIssue]]:
    stories: list[ImportedStory] = []
    skipped: list[SkippedIssue] = []
    for item in items:
        try:
            stories.append(map_one(item))
        except Unmappable as exc:
            skipped.append(SkippedIssue(key=key(item), reason=str(exc)))
        except Exception as exc:  # a shape nobody foresaw: this item only, never the import
            logger.warning("Task %s: item %s could not be read", run.job.id, key(item), exc_info=True)
            skipped.append(
                SkippedIssue(
                    key=key(item), reason=f"could not be read ({type(exc).__name__}); see the worker log"
                )
            )
    return stories, skipped


def _item_key(field: str) -> Callable[[Any], str]:
    def key(item: Any) -> str:
        value = item.get(field) if isinstance(item, dict) else None
        return str(value)[:64] if value is not None else "?"

    return key


async def _github_pages(
    res: WorkerResources, run: JobRun, github: GitHubIssues, chosen: GitHubFilter
) -> AsyncIterator[SourcePage]:
    repository = github.settings.repository
    pages = github.issues(
        state=chosen.state.value,
        labels=chosen.labels,
        milestone=chosen.milestone,
        max_issues=res.settings.import_max_items,
    )
    async for page in pages:
        stories, skipped = _mapped(
            run, page.issues, lambda issue: map_github_issue(issue, repository), _item_key("number")
        )
        yield SourcePage(page.number, stories, skipped)


async def _azure_pages(
    res: WorkerResources, run: JobRun, azure: AzureDevOps, wiql: str
) -> AsyncIterator[SourcePage]:
    project = azure.settings.project

    def map_one(item: Any) -> ImportedStory:
        item_id = item.get("id") if isinstance(item, dict) else None
        return map_work_item(item, project, azure.item_page(item_id if isinstance(item_id, int) else 0))

    async for page in azure.work_items(wiql, res.settings.import_max_items):
        stories, skipped = _mapped(run, page.items, map_one, _item_key("id"))
        yield SourcePage(page.number, stories, skipped, page.total)
