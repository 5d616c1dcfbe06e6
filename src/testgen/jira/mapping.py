"""A Jira issue as one of our user stories: id = key, title = summary, the description as plain text,
acceptance criteria (a custom field, else the list under an "Acceptance criteria" heading, else the
Given/When/Then lines), the priority mapped to ours, and the issue's URL.

An issue that cannot be mapped raises `Unmappable` with the reason, which the import reports.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from testgen.domain.imported_stories import ImportedStory
from testgen.domain.stories import MAX_CRITERIA, Priority, StoryContent
from testgen.domain.text_fields import MAX_CRITERION, MAX_DESCRIPTION, MAX_TITLE
from testgen.jira import adf, wiki

# Jira's priority names (default schemes of Cloud and Data Center, and common custom ones) to ours.
PRIORITIES = {
    "highest": Priority.critical,
    "blocker": Priority.critical,
    "critical": Priority.critical,
    "high": Priority.high,
    "major": Priority.high,
    "medium": Priority.medium,
    "normal": Priority.medium,
    "low": Priority.low,
    "lowest": Priority.low,
    "minor": Priority.low,
    "trivial": Priority.low,
}

_CRITERIA_HEADING = re.compile(
    r"^\s*(?:#+\s*|h[1-6]\.\s*)?\**\s*(acceptance\s+criteria|criterios\s+de\s+aceptaci[oó]n|ac)\s*\**\s*:?\s*$",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^(\s*)(?:[-*•]|\d+[.)]|\[[ xX]\])\s+(.*)$")
_GWT = re.compile(
    r"^\s*(?:[-*•]\s+|\d+[.)]\s+)?(given|when|then|and|but|dado|cuando|entonces|y|pero)\b\s*(.*)$",
    re.IGNORECASE,
)
_GWT_START = {"given", "dado"}


class Unmappable(Exception):
    """The issue cannot become a story; the message is the reason, for the import's report."""


def rich_text(value: object) -> str:
    """A description or text field as plain text: ADF (Cloud), wiki markup (Data Center) or plain."""
    if adf.is_adf(value):
        return adf.to_text(value)
    if isinstance(value, str):
        return wiki.to_text(value)
    return ""


def list_items(lines: list[str]) -> list[str]:
    """The top-level items of a list (nested items join their parent), or, without list markers, the
    non-empty lines."""
    items: list[str] = []
    base_indent: int | None = None
    for line in lines:
        match = _LIST_ITEM.match(line)
        if match:
            indent = len(match.group(1))
            if base_indent is None:
                base_indent = indent
            if indent <= base_indent or not items:
                items.append(match.group(2).strip())
            else:
                items[-1] += "; " + match.group(2).strip()
        elif line.strip() and items and line.startswith(" "):
            items[-1] += " " + line.strip()
    if items:
        return items
    return [line.strip() for line in lines if line.strip()]


def criteria_from_field(value: object) -> list[str]:
    text = rich_text(value) if not isinstance(value, list) else "\n".join(f"- {v}" for v in value)
    return list_items(text.split("\n"))


def criteria_under_heading(text: str) -> list[str]:
    """The list (or the lines) under an "Acceptance criteria" heading, up to the next blank-separated
    paragraph that is not part of it."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not _CRITERIA_HEADING.match(line):
            continue
        section: list[str] = []
        in_list = after_blank = False
        for following in lines[index + 1 :]:
            if not following.strip():
                if section and not in_list:
                    break  # the paragraph under the heading ended
                after_blank = True
                continue
            nested = in_list and following.startswith(" ") and not after_blank
            item = bool(_LIST_ITEM.match(following)) or nested
            after_blank = False
            if in_list and not item:
                break  # a paragraph after the list: the next section
            in_list = in_list or item
            section.append(following)
        return list_items(section)
    return []


def criteria_from_gherkin(text: str) -> list[str]:
    """Given/When/Then lines grouped into one criterion per Given (Spanish keywords too)."""
    groups: list[list[str]] = []
    for line in text.split("\n"):
        match = _GWT.match(line)
        if not match or not match.group(2).strip():
            continue
        keyword = match.group(1).lower()
        if keyword in _GWT_START or not groups:
            groups.append([])
        groups[-1].append(f"{match.group(1).capitalize()} {match.group(2).strip()}")
    return [" ".join(group) for group in groups]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def map_issue(issue: Any, base_url: str, acceptance_field: str | None) -> ImportedStory:
    if not isinstance(issue, dict):
        raise Unmappable("not an issue object")
    key = issue.get("key")
    if not isinstance(key, str) or not key:
        raise Unmappable("no issue key")
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        raise Unmappable("no fields in the answer")
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise Unmappable("no summary")
    description = rich_text(fields.get("description"))
    criteria: list[str] = []
    if acceptance_field and fields.get(acceptance_field) not in (None, "", []):
        criteria = criteria_from_field(fields[acceptance_field])
    if not criteria:
        criteria = criteria_under_heading(description)
    if not criteria:
        criteria = criteria_from_gherkin(description)
    if not any(c.strip() for c in criteria):
        where = f"field {acceptance_field}, " if acceptance_field else ""
        raise Unmappable(
            f"no acceptance criteria found ({where}an 'Acceptance criteria' heading or Given/When/Then lines)"
        )
    priority_field = fields.get("priority")
    name = priority_field.get("name") if isinstance(priority_field, dict) else None
    priority = PRIORITIES.get(str(name).strip().lower(), Priority.medium) if name else Priority.medium
    return checked_story(
        key, summary, description, criteria, priority, jira_url=f"{base_url.rstrip('/')}/browse/{key}"
    )


def checked_story(
    story_id: str,
    title: str,
    description: str,
    criteria: list[str],
    priority: Priority,
    *,
    jira_url: str | None = None,
    source_url: str | None = None,
) -> ImportedStory:
    """A story read from a source, its texts cut to the limits every story keeps (criteria on one
    line each, at most MAX_CRITERIA); `Unmappable` naming the field a limit still refuses."""
    kept = [_clip(" ".join(c.split()), MAX_CRITERION) for c in criteria if c.strip()][:MAX_CRITERIA]
    try:
        checked = StoryContent(
            id=story_id,
            title=_clip(" ".join(title.split()), MAX_TITLE),
            description=_clip(description, MAX_DESCRIPTION),
            acceptance_criteria=kept,
            priority=priority,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise Unmappable(f"{where}: {first['msg']}") from None
    return ImportedStory(
        id=checked.id,
        title=checked.title,
        description=checked.description,
        acceptance_criteria=list(checked.acceptance_criteria),
        priority=checked.priority,
        jira_url=jira_url,
        source_url=source_url,
    )
