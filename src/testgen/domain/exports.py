"""What an export can be: its formats, and the options of the Xray format."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints


class ExportFormat(StrEnum):
    gherkin = "gherkin"
    csv = "csv"
    json = "json"
    gherkin_tagged = "gherkin-tagged"  # tags for test-management tools; each test case a Rule
    testrail_csv = "testrail-csv"
    xray_json = "xray-json"

    @property
    def needs_project_key(self) -> bool:
        """The export names the Jira project its tests go to: `project_key`, which a story imported
        from Jira does without (its tests go to its own project)."""
        return self is ExportFormat.xray_json


class XrayTestType(StrEnum):
    cucumber = "Cucumber"
    manual = "Manual"


MAX_PROJECT_KEY = 50
# A Jira project key (Xray's fields.project.key): upper-case letters, digits and underscores.
JiraProjectKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_PROJECT_KEY, pattern=r"^[A-Z][A-Z0-9_]*$")
]
_ISSUE_KEY = re.compile(r"([A-Z][A-Z0-9_]*)-[1-9][0-9]*")


def jira_project_of(story_id: str, jira_url: str | None) -> str | None:
    """The key of the Jira project a story was imported from: its id is the issue's key (SHOP-123 is
    in SHOP). None for a story not imported from Jira (no `jira_url`), whose id may only look like a key.
    """
    found = _ISSUE_KEY.fullmatch(story_id) if jira_url else None
    if found is None or len(found[1]) > MAX_PROJECT_KEY:
        return None
    return found[1]
