"""What a story's tracker says around it (a Jira import's comments, linked issues and sub-tasks), as
the prompt shows it inside the story's data fence: read from the story's row, bounded in size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRACKER_MAX_CHARS = 6000  # of the whole section in one prompt; the newest comments come first


@dataclass(frozen=True)
class TrackerContext:
    comments: tuple[str, ...] = ()  # newest first
    linked_issues: tuple[tuple[str, str, str], ...] = ()  # (key, summary, relation)
    subtasks: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.comments or self.linked_issues or self.subtasks)


def tracker_of(story: Any) -> TrackerContext:
    """The context stored on a story row (none for a row or an object without it)."""
    comments = getattr(story, "comments", None) or []
    links = getattr(story, "linked_issues", None) or []
    subtasks = getattr(story, "subtasks", None) or []
    return TrackerContext(
        comments=tuple(str(c) for c in comments if isinstance(c, str) and c.strip()),
        linked_issues=tuple(
            (str(link.get("key", "")), str(link.get("summary", "")), str(link.get("relation", "")))
            for link in links
            if isinstance(link, dict) and link.get("key")
        ),
        subtasks=tuple(str(s) for s in subtasks if isinstance(s, str) and s.strip()),
    )


def tracker_lines(context: TrackerContext, max_chars: int = TRACKER_MAX_CHARS) -> list[str]:
    """The context as lines of the story's data (linked issues, sub-tasks, then comments), cut where
    the section would pass `max_chars`; no line when there is none."""
    if not context:
        return []
    lines: list[str] = []
    if context.linked_issues:
        lines.append("Linked issues:")
        lines += [
            f"- {relation} {key}: {summary}".strip() for key, summary, relation in context.linked_issues
        ]
    if context.subtasks:
        lines.append("Sub-tasks:")
        lines += [f"- {summary}" for summary in context.subtasks]
    if context.comments:
        lines.append("Comments (newest first):")
        lines += ["- " + " ".join(comment.split()) for comment in context.comments]
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > max_chars:
            kept.append("(more left out)")
            break
        kept.append(line)
        used += len(line) + 1
    return kept
