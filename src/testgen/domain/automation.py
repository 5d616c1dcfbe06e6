"""Automation skeletons: the test frameworks whose step definitions are written from the saved
Gherkin, and the bounds of one skeleton."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import urlsplit


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

# --- the model pass: proposed bodies for playwright-bdd steps (a job of its own) ----------------------

MAX_BASE_URL = 2000  # characters of the base URL a fill job's proposals navigate to
MAX_FILL_STEPS = 200  # distinct steps one fill job proposes bodies for (the first, in order of use)
FILL_BATCH_STEPS = 20  # steps per model call
MAX_PROPOSAL_CHARS = 2000  # of one proposed body
MAX_PROPOSAL_LINES = 40
# The comment above each proposed body: the code is the model's, unreviewed.
PROPOSAL_MARK = "PROPOSAL from {model} — review before use"


# http_url's rules as a pattern for the API's schema (clients check what they send with it): a host
# without credentials, a valid port, no blank or control character (C1 spelled out: \s differs
# between Python and ECMAScript) and no backslash.
_NO = r"\s\x00-\x1f\x7f-\x9f\\"
_PORT = r"(6553[0-5]|655[0-2]\d|65[0-4]\d{2}|6[0-4]\d{3}|[1-5]\d{4}|\d{1,4})"
HTTP_URL_PATTERN = rf"^https?://[^{_NO}@/?#:\[\]]+(:{_PORT})?([/?#][^{_NO}]*)?$"


def http_url(value: str) -> str:
    """`value` when it is an absolute http(s) URL with a host, no credentials, no blanks or control
    characters and at most MAX_BASE_URL characters; ValueError otherwise."""
    if len(value) > MAX_BASE_URL:
        raise ValueError(f"at most {MAX_BASE_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value) or "\\" in value:
        raise ValueError("a URL has no blanks, control characters or backslashes")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an absolute http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a URL without credentials")
    del port
    return value
