"""Jira wiki markup (Data Center's rich text) to the same readable plain text as adf.py writes.

Handles headings (`h1.`-`h6.`), `*`/`#`/`-` lists (nesting by repeated markers), `{code}` and
`{noformat}` blocks, `{panel}`/`{quote}`/`{color}` markers, `bq.`, tables (`||head||` and `|cell|`),
links (`[text|url]`), user links (`[~name]`), `\\\\` line breaks and the common text effects.
Anything else is left as written: it is readable already.
"""

from __future__ import annotations

import re

_HEADING = re.compile(r"^\s*h[1-6]\.\s*(.*)$")
_LIST = re.compile(r"^\s*([*#-]+)\s+(.*)$")
_BLOCK_MACRO = re.compile(r"^\s*\{(code|noformat)(?::[^}]*)?\}(.*)$")
_PANEL = re.compile(r"\{(panel|quote|color|section|column)(?::([^}]*))?\}")
_TABLE_ROW = re.compile(r"^\s*\|")
_LINK = re.compile(r"\[([^\[\]|]*)\|([^\[\]]*)\]")
_USER = re.compile(r"\[~([^\]]+)\]")
_BARE_LINK = re.compile(r"\[((?:https?|mailto):[^\]]+)\]")
_EFFECTS = [
    (re.compile(r"\{\{(.+?)\}\}"), r"\1"),  # monospace
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # bold
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), r"\1"),  # italic
    (re.compile(r"(?<![\w+])\+(?=\S)([^+\n]+?)(?<=\S)\+(?![\w+])"), r"\1"),  # underline
    (re.compile(r"(?<![\w^])\^(?=\S)([^^\n]+?)(?<=\S)\^(?![\w^])"), r"\1"),  # superscript
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), r"\1"),  # subscript
    (re.compile(r"\?\?(.+?)\?\?"), r"\1"),  # citation
]


def _inline(text: str) -> str:
    text = _USER.sub(lambda m: "@" + m.group(1), text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1) else m.group(2), text)
    text = _BARE_LINK.sub(r"\1", text)
    for pattern, replacement in _EFFECTS:
        text = pattern.sub(replacement, text)
    return text.replace("\\\\", "\n")


def to_text(markup: str) -> str:
    out: list[str] = []
    code_end: str | None = None

    def gap() -> None:  # blocks are apart by a blank line, as in adf.py's text
        if out and out[-1] != "":
            out.append("")

    for raw in markup.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if code_end is not None:  # inside {code}/{noformat}: verbatim, indented
            end = raw.find("{" + code_end)
            if end >= 0:
                if raw[:end].strip():
                    out.append("    " + raw[:end])
                code_end = None
                gap()
                continue
            out.append("    " + raw if raw.strip() else "")
            continue
        block = _BLOCK_MACRO.match(raw)
        if block:
            gap()
            rest, code_end = block.group(2), block.group(1)
            end = rest.find("{" + code_end + "}")
            if end >= 0:  # a one-line block
                out.append("    " + rest[:end])
                code_end = None
                gap()
            elif rest.strip():
                out.append("    " + rest)
            continue
        line = _PANEL.sub(lambda m: _panel_title(m.group(2)), raw).rstrip()
        if not line.strip():
            if raw.strip():  # a line holding only a panel marker
                continue
            gap()
            continue
        heading = _HEADING.match(line)
        if heading:
            gap()
            out.append(_inline(heading.group(1).strip()))
            out.append("")
            continue
        if line.lstrip().startswith("bq."):
            out.append("> " + _inline(line.lstrip()[3:].strip()))
            continue
        if _TABLE_ROW.match(line):
            cells = [c.strip() for c in re.split(r"\|\|?", line.strip().strip("|")) if c.strip()]
            out.append(" | ".join(_inline(c) for c in cells))
            continue
        item = _LIST.match(line)
        if item and not (item.group(1) == "-" * len(item.group(1)) and len(item.group(1)) > 1):
            markers = item.group(1)
            depth = len(markers) - 1
            bullet = "1. " if markers[-1] == "#" else "- "
            out.append("  " * depth + bullet + _inline(item.group(2).strip()))
            continue
        if line.strip() == "----":
            out.append("---")
            continue
        out.append(_inline(line.strip()))
    return _number_lists("\n".join(out)).strip("\n")


def _panel_title(attributes: str | None) -> str:
    if not attributes:
        return ""
    for part in attributes.split("|"):
        key, _, value = part.partition("=")
        if key.strip() == "title" and value.strip():
            return value.strip() + "\n"
    return ""


def _number_lists(text: str) -> str:
    """Ordered items written `1. ` above get their running numbers, per nesting level."""
    counters: dict[int, int] = {}
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if body.startswith("1. "):
            counters = {level: n for level, n in counters.items() if level <= indent}
            counters[indent] = counters.get(indent, 0) + 1
            line = " " * indent + f"{counters[indent]}. " + body[3:]
        elif body.startswith("- "):
            counters = {level: n for level, n in counters.items() if level < indent}
        else:
            counters = {}
        lines.append(line)
    return "\n".join(lines)
