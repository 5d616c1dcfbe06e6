"""Atlassian Document Format (Jira Cloud's rich text) to readable plain text.

Blocks are separated by a blank line; lists become `- item` / `1. item` lines, nested lists indented
by two spaces; a table becomes one `cell | cell` line per row; a code block keeps its lines, indented
by four spaces; a panel's first line says its kind (`Note: ...`). A node type this module does not
know is rendered by its children (or dropped when it has none): a new node type never breaks an import.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

MAX_DEPTH = 50  # deeper documents are cut there (hostile input)

_PANEL_LABELS = {
    "info": "Info",
    "note": "Note",
    "warning": "Warning",
    "error": "Error",
    "success": "Success",
    "tip": "Tip",
    "custom": "Note",
}


def is_adf(value: object) -> bool:
    return isinstance(value, dict) and value.get("type") == "doc"


def to_text(doc: object) -> str:
    """The plain text of an ADF document (or of any ADF node)."""
    if not isinstance(doc, dict):
        return ""
    lines = _block(doc, 0)
    return "\n".join(lines).strip("\n")


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    content = node.get("content")
    if not isinstance(content, list):
        return []
    return [child for child in content if isinstance(child, dict)]


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _blocks(nodes: list[dict[str, Any]], depth: int) -> list[str]:
    """Block nodes separated by blank lines; runs of inline nodes form one paragraph."""
    out: list[str] = []
    inline: list[dict[str, Any]] = []

    def flush() -> None:
        if inline:
            text = _inline(inline, depth)
            if text.strip():
                if out:
                    out.append("")
                out.extend(text.split("\n"))
            inline.clear()

    for node in nodes:
        if node.get("type") in _INLINE:
            inline.append(node)
            continue
        flush()
        lines = _block(node, depth + 1)
        if lines and any(line.strip() for line in lines):
            if out:
                out.append("")
            out.extend(lines)
    flush()
    return out


def _block(node: dict[str, Any], depth: int) -> list[str]:
    if depth > MAX_DEPTH:
        return []
    kind = node.get("type")
    if kind in _INLINE:
        return _inline([node], depth).split("\n")
    if kind in ("paragraph", "heading"):
        return _inline(_children(node), depth).split("\n")
    if kind in ("bulletList", "orderedList", "taskList"):
        return _list(node, depth)
    if kind == "codeBlock":
        code = "".join(str(c.get("text", "")) for c in _children(node) if c.get("type") == "text")
        return ["    " + line if line else "" for line in code.split("\n")]
    if kind == "table":
        return _table(node, depth)
    if kind == "panel":
        lines = _blocks(_children(node), depth)
        label = _PANEL_LABELS.get(str(_attrs(node).get("panelType", "info")), "Note")
        return [f"{label}: {lines[0]}", *lines[1:]] if lines else []
    if kind == "blockquote":
        return [f"> {line}" if line else ">" for line in _blocks(_children(node), depth)]
    if kind == "rule":
        return ["---"]
    if kind in ("expand", "nestedExpand"):
        title = str(_attrs(node).get("title") or "").strip()
        body = _blocks(_children(node), depth)
        return [title, *body] if title else body
    if kind in ("mediaSingle", "mediaGroup", "media"):
        return []
    return _blocks(_children(node), depth)  # doc, listItem, layouts and node types we do not know


def _list(node: dict[str, Any], depth: int) -> list[str]:
    kind = node.get("type")
    start = _attrs(node).get("order", 1)
    number = start if isinstance(start, int) and not isinstance(start, bool) and 0 <= start < 10**6 else 1
    lines: list[str] = []
    for item in _children(node):
        if kind == "orderedList":
            marker = f"{number}. "
            number += 1
        elif kind == "taskList":
            marker = "[x] " if _attrs(item).get("state") == "DONE" else "[ ] "
        else:
            marker = "- "
        body = [line for line in _blocks(_children(item), depth) if line != ""]
        first, rest = (body[0], body[1:]) if body else ("", [])
        lines.append(marker + first)
        lines.extend("  " + line for line in rest)
    return lines


def _table(node: dict[str, Any], depth: int) -> list[str]:
    rows = []
    for row in _children(node):
        cells = [
            " ".join(line.strip() for line in _blocks(_children(cell), depth) if line.strip())
            for cell in _children(row)
        ]
        rows.append(" | ".join(cells))
    return rows


_INLINE = frozenset(
    {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "placeholder"}
    | {"inlineExtension"}
)


def _inline(nodes: list[dict[str, Any]], depth: int) -> str:
    parts: list[str] = []
    for node in nodes:
        kind = node.get("type")
        attrs = _attrs(node)
        if kind == "text":
            text = str(node.get("text", ""))
            href = _link(node)
            parts.append(f"{text} ({href})" if href and href != text else text)
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind == "mention":
            name = str(attrs.get("text") or attrs.get("id") or "someone")
            parts.append(name if name.startswith("@") else "@" + name)
        elif kind == "emoji":
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind == "inlineCard":
            parts.append(str(attrs.get("url") or ""))
        elif kind == "date":
            parts.append(_date(attrs.get("timestamp")))
        elif kind == "status":
            parts.append(f"[{attrs.get('text', '')}]")
        elif kind in _INLINE:
            parts.append(str(attrs.get("text") or ""))
        else:  # a block inside inline content: keep its text
            parts.append(" ".join(_block(node, depth + 1)))
    return "".join(parts)


def _link(node: dict[str, Any]) -> str | None:
    marks = node.get("marks")
    if isinstance(marks, list):
        for mark in marks:
            if isinstance(mark, dict) and mark.get("type") == "link":
                href = _attrs(mark).get("href")
                if isinstance(href, str):
                    return href
    return None


def _date(timestamp: object) -> str:
    try:
        millis = int(str(timestamp))
        return dt.datetime.fromtimestamp(millis / 1000, dt.UTC).date().isoformat()
    except (ValueError, OverflowError, OSError):
        return ""
