"""A GitHub issue or an Azure DevOps work item as one of our user stories.

GitHub: id `{repo}-{number}`, title, the Markdown body as the description (HTML comments of issue
templates left out), acceptance criteria from the list under an "Acceptance criteria" heading, else
the body's task list (`- [ ] …`), else its Given/When/Then lines; the priority from a label
(`critical`, `priority: high`, `P1`…), else medium.

Azure DevOps: id `{project}-{id}`, `System.Title`, `System.Description` (HTML) as text, acceptance
criteria from `Microsoft.VSTS.Common.AcceptanceCriteria` (HTML: its list items, else its lines), else
the description's list under an "Acceptance criteria" heading, else its first list, else its
Given/When/Then lines; `Microsoft.VSTS.Common.Priority` 1-4 as critical, high, medium, low.

An item that cannot be mapped raises `Unmappable` with the reason, which the import reports.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from testgen.domain.imported_stories import ImportedStory, story_id
from testgen.domain.stories import Priority
from testgen.jira.mapping import (
    Unmappable,
    checked_story,
    criteria_from_gherkin,
    criteria_under_heading,
    list_items,
)

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_TASK = re.compile(r"^\s*[-*+]\s+\[[ xX]\]\s+(.*\S)\s*$")
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
_LIST_LINE = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+\S")
_PRIORITY_LABEL = re.compile(r"^(?:priority\s*[:/=-]?\s*)?(critical|urgent|high|medium|normal|low|p[0-3])$")
LABEL_PRIORITIES = {
    "critical": Priority.critical,
    "urgent": Priority.critical,
    "p0": Priority.critical,
    "high": Priority.high,
    "p1": Priority.high,
    "medium": Priority.medium,
    "normal": Priority.medium,
    "p2": Priority.medium,
    "low": Priority.low,
    "p3": Priority.low,
}
AZURE_PRIORITIES = {1: Priority.critical, 2: Priority.high, 3: Priority.medium, 4: Priority.low}
MAX_HTML = 200_000  # characters of a rich-text field read (the story keeps far less)


def _criteria_text(items: list[str]) -> list[str]:
    return [_CHECKBOX.sub("", item).strip() for item in items if _CHECKBOX.sub("", item).strip()]


def markdown_criteria(body: str) -> list[str]:
    """The criteria of a Markdown body: the list under an "Acceptance criteria" heading, else its task
    list, else its Given/When/Then lines."""
    criteria = _criteria_text(criteria_under_heading(body))
    if not criteria:
        criteria = [m.group(1) for m in map(_TASK.match, body.split("\n")) if m]
    if not criteria:
        criteria = criteria_from_gherkin(body)
    return criteria


def label_priority(labels: object) -> Priority:
    """The highest priority a label names (`critical`, `priority: high`, `P1`…), else medium."""
    ranked = []
    for label in labels if isinstance(labels, list) else []:
        name = label.get("name") if isinstance(label, dict) else label
        match = _PRIORITY_LABEL.match(" ".join(str(name or "").lower().split()))
        if match:
            ranked.append(LABEL_PRIORITIES[match.group(1)])
    order = list(Priority)
    return max(ranked, key=order.index) if ranked else Priority.medium


def map_github_issue(issue: Any, repository: str) -> ImportedStory:
    if not isinstance(issue, dict):
        raise Unmappable("not an issue object")
    number = issue.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise Unmappable("no issue number")
    title = issue.get("title")
    if not isinstance(title, str) or not title.strip():
        raise Unmappable("no title")
    body = issue.get("body")
    text = _HTML_COMMENT.sub("", body[:MAX_HTML]).strip() if isinstance(body, str) else ""
    criteria = markdown_criteria(text)
    if not any(c.strip() for c in criteria):
        raise Unmappable(
            "no acceptance criteria found (an 'Acceptance criteria' heading, a task list or "
            "Given/When/Then lines)"
        )
    url = issue.get("html_url")
    return checked_story(
        story_id(repository.rpartition("/")[2], number),
        title,
        text,
        criteria,
        label_priority(issue.get("labels")),
        source_url=url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
    )


class _Text(HTMLParser):
    """HTML as readable text: blocks on their own lines, list items as `- item`, line breaks kept."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    parser = _Text()
    parser.feed(value[:MAX_HTML])
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_criteria(value: object) -> list[str]:
    """A rich-text acceptance criteria field: its list items, else its non-empty lines."""
    text = html_to_text(value)
    return list_items(text.split("\n")) if text else []


def first_list(text: str) -> list[str]:
    lines = text.split("\n")
    start = next((n for n, line in enumerate(lines) if _LIST_LINE.match(line)), None)
    if start is None:
        return []
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        block.append(line)
    return list_items(block)


def map_work_item(item: Any, project: str, page_url: str) -> ImportedStory:
    """`page_url`: the work item's page in Azure DevOps (its source URL)."""
    if not isinstance(item, dict):
        raise Unmappable("not a work item object")
    item_id = item.get("id")
    if not isinstance(item_id, int) or isinstance(item_id, bool) or item_id < 1:
        raise Unmappable("no work item id")
    fields = item.get("fields")
    if not isinstance(fields, dict):
        raise Unmappable("no fields in the answer")
    title = fields.get("System.Title")
    if not isinstance(title, str) or not title.strip():
        raise Unmappable("no title")
    description = html_to_text(fields.get("System.Description"))
    criteria = html_criteria(fields.get("Microsoft.VSTS.Common.AcceptanceCriteria"))
    if not criteria:
        criteria = criteria_under_heading(description)
    if not criteria:
        criteria = first_list(description)
    if not criteria:
        criteria = criteria_from_gherkin(description)
    if not any(c.strip() for c in criteria):
        raise Unmappable(
            "no acceptance criteria found (the Acceptance Criteria field, or a list in the description)"
        )
    rank = fields.get("Microsoft.VSTS.Common.Priority")
    priority = AZURE_PRIORITIES.get(rank, Priority.medium) if isinstance(rank, int) else Priority.medium
    return checked_story(
        story_id(project, item_id), title, description, criteria, priority, source_url=page_url
    )
