"""What a Jira issue brings besides its own text, when an import asks for it: its comments (as text,
the newest first, capped in number and size), its linked issues (key, summary and how they relate)
and its sub-tasks' summaries. Read from the issue's `comment`, `issuelinks` and `subtasks` fields as
the search answers them; a malformed entry is left out, never the issue."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection
from typing import Any

from testgen.domain.imported_stories import (
    MAX_LINKED_ISSUES,
    MAX_SUBTASKS,
    MAX_SUMMARY,
    ImportedStory,
    LinkedIssue,
)
from testgen.domain.job_options import JiraContext
from testgen.jira.mapping import rich_text

COMMENT_FIELD, LINKS_FIELD, SUBTASKS_FIELD, ATTACHMENT_FIELD = (
    "comment",
    "issuelinks",
    "subtasks",
    "attachment",
)


def fields_for(include: Collection[JiraContext]) -> list[str]:
    """The issue fields a search asks for besides the story's own, for what the import includes."""
    wanted = {
        JiraContext.comments: [COMMENT_FIELD],
        JiraContext.links: [LINKS_FIELD, SUBTASKS_FIELD],
        JiraContext.attachments: [ATTACHMENT_FIELD],
    }
    return [name for part in JiraContext if part in include for name in wanted[part]]


def with_context(
    story: ImportedStory,
    issue: dict[str, Any],
    include: Collection[JiraContext],
    *,
    max_comments: int,
    max_comment_chars: int,
) -> ImportedStory:
    """`story` with the comments, links and sub-tasks of its issue that the import includes."""
    fields = issue.get("fields")
    if not isinstance(fields, dict):
        return story
    changes: dict[str, Any] = {}
    if JiraContext.comments in include:
        changes["comments"] = comments_of(fields, max_comments, max_comment_chars)
    if JiraContext.links in include:
        changes["linked_issues"] = links_of(fields)
        changes["subtasks"] = subtasks_of(fields)
    return dataclasses.replace(story, **changes) if changes else story


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _created(comment: dict[str, Any]) -> dt.datetime | None:
    value = comment.get("created")
    if not isinstance(value, str):
        return None
    for layout in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return dt.datetime.strptime(value, layout)
        except ValueError:
            continue
    return None


def comments_of(fields: dict[str, Any], max_count: int, max_chars: int) -> list[str]:
    """The issue's comments as plain text, newest first (by `created`; else the reverse of Jira's
    oldest-first order), at most `max_count`, each cut to `max_chars`."""
    field = fields.get(COMMENT_FIELD)
    found = field.get("comments") if isinstance(field, dict) else field
    entries = [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []
    newest_first = list(reversed(entries))
    dated = [(stamp, c) for c in newest_first if (stamp := _created(c)) is not None]
    if len(dated) == len(newest_first):
        newest_first = [c for _, c in sorted(dated, key=lambda pair: pair[0], reverse=True)]
    texts = []
    for comment in newest_first:
        text = rich_text(comment.get("body")).strip()
        if text:
            texts.append(_clip(text, max_chars))
        if len(texts) == max_count:
            break
    return texts


def _summary(issue: object) -> tuple[str, str] | None:
    if not isinstance(issue, dict):
        return None
    key = issue.get("key")
    fields = issue.get("fields")
    summary = fields.get("summary") if isinstance(fields, dict) else None
    if not isinstance(key, str) or not key.strip():
        return None
    text = " ".join(summary.split()) if isinstance(summary, str) else ""
    return key.strip()[:64], _clip(text, MAX_SUMMARY)


def links_of(fields: dict[str, Any]) -> list[LinkedIssue]:
    """The issues linked to this one: each link's other issue, with the link type as read from here
    (its `outward` text when this issue is the inward one's partner, else `inward`)."""
    found = fields.get(LINKS_FIELD)
    links: list[LinkedIssue] = []
    for link in found if isinstance(found, list) else []:
        if not isinstance(link, dict):
            continue
        kind = link.get("type") if isinstance(link.get("type"), dict) else {}
        assert isinstance(kind, dict)
        for side, wording in (("outwardIssue", "outward"), ("inwardIssue", "inward")):
            other = _summary(link.get(side))
            if other is not None:
                relation = kind.get(wording) or kind.get("name") or "relates to"
                links.append(LinkedIssue(other[0], other[1], _clip(str(relation), 100)))
                break
        if len(links) == MAX_LINKED_ISSUES:
            break
    return links


def subtasks_of(fields: dict[str, Any]) -> list[str]:
    found = fields.get(SUBTASKS_FIELD)
    summaries = [_summary(task) for task in found] if isinstance(found, list) else []
    return [summary for _, summary in filter(None, summaries) if summary][:MAX_SUBTASKS]
