"""What an export can be: its formats, and the options of the Xray format."""

from __future__ import annotations

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
        """The export names the Jira project its tests go to (`project_key`)."""
        return self is ExportFormat.xray_json


class XrayTestType(StrEnum):
    cucumber = "Cucumber"
    manual = "Manual"


# A Jira project key (Xray's fields.project.key): upper-case letters, digits and underscores.
JiraProjectKey = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Z][A-Z0-9_]*$")]
