"""Automation skeletons: the test frameworks whose step definitions are written from the saved
Gherkin, and the bounds of one skeleton."""

from __future__ import annotations

from enum import StrEnum


class AutomationFramework(StrEnum):
    pytest_bdd = "pytest-bdd"
    behave = "behave"
    playwright_bdd = "playwright-bdd"  # TypeScript: Playwright Test with Cucumber-style steps

    @property
    def language(self) -> str:
        """The language its step definitions are written in."""
        return "typescript" if self is AutomationFramework.playwright_bdd else "python"


# A skeleton is built from at most this many stories (a project's first, by id) and step occurrences:
# parsing and unifying are linear in the steps, so these bound the cost of a project-wide zip.
MAX_AUTOMATION_STORIES = 500
MAX_AUTOMATION_STEPS = 50_000
# How many scenarios a definition's comment names before it says "and N more".
MAX_SCENARIOS_NAMED = 5
