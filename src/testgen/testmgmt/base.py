"""What every connector takes and answers: a story, one saved test case as pushed, and where it lives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario


class ToolError(Exception):
    """A tool refused or failed a request; `message` says what it answered (never a credential)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ToolAuthError(ToolError):
    """The tool refused the connection's credentials (401/403): the whole push stops."""


class ToolRefused(ToolError):
    """The tool refused one case (a 400/422 naming a field, say): that case fails, the push goes on."""


class ToolUnavailable(ToolError):
    """The tool did not answer, or kept answering 429/5xx past the retries."""


@dataclass(frozen=True)
class StoryRef:
    id: str
    title: str
    language: str  # the story's Gherkin dialect (BCP 47 primary tag, e.g. "es")
    jira_key: str | None = None  # set for a story imported from Jira
    jira_url: str | None = None
    work_item_id: int | None = None  # set for a story imported from Azure DevOps
    source_url: str | None = None  # the GitHub issue's or Azure DevOps work item's page it was imported from


@dataclass(frozen=True)
class CaseDoc:
    """A saved test case as a tool receives it."""

    test_case_id: int
    title: str
    description: str
    preconditions: list[str]
    priority: str  # low, medium, high, critical
    test_type: str  # functional, negative, edge, ...
    scenarios: list[Scenario]
    gherkin: str  # its scenarios as a Feature in the story's dialect (for Cucumber tests)
    approved_by: str | None = None
    steps: list[tuple[str, str]] = field(default_factory=list)  # (action, expected) per scenario

    @property
    def marker(self) -> str:
        """A label the case carries in the tool, so a run that died before recording it finds it."""
        return f"testgen-{self.test_case_id}"


@dataclass(frozen=True)
class Remote:
    """Where a case lives in a tool: its id, human key, a link, and the version the tool reported."""

    id: str
    key: str | None = None
    url: str | None = None
    version: str | None = None


class Connector(Protocol):
    kind: ConnectionKind

    async def check(self) -> str:
        """Try the credentials; what was found, e.g. "TestRail project 'Shop' (suite 3)"."""

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        """The case a previous run created for `case` (by its marker), if the tool has one."""

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        """Create the case in the story's section or folder (made on first use), linked to the story."""

    async def version(self, remote: Remote) -> str | None:
        """The case's current version or update time in the tool; None: it is gone from the tool."""

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        """Replace the case's content in place; its new version."""

    async def delete(self, remote: Remote) -> None: ...

    async def aclose(self) -> None: ...
