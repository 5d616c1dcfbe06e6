"""The SSE cursor (Last-Event-ID) a client sends back: one Redis stream entry id for a single-job
stream, `<task>=<entry id>;<task>=<entry id>` for a multiplexed one. It is hostile input: anything
that is not a valid entry id of a followed job is ignored (the stream then replays from the start).
"""

from __future__ import annotations

import re

# A Redis stream entry id: `<ms>` or `<ms>-<seq>`, ASCII digits (int() would take "١٢" and " 12 "),
# each part an unsigned 64-bit number (Redis rejects a larger one with an error).
_ENTRY_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?", re.ASCII)
_MAX_ID_PART = 2**64 - 1


def parse_cursor(last_event_id: str | None, task_ids: list[str]) -> dict[str, str]:
    if not last_event_id:
        return {}
    cursors: dict[str, str] = {}
    if "=" not in last_event_id:
        return {task_ids[0]: last_event_id} if len(task_ids) == 1 and _valid(last_event_id) else {}
    for part in last_event_id.split(";"):
        task, _, entry = part.partition("=")
        if task in task_ids and _valid(entry):
            cursors[task] = entry
    return cursors


def _valid(entry: str) -> bool:
    match = _ENTRY_ID.fullmatch(entry)
    return match is not None and all(int(part) <= _MAX_ID_PART for part in match.groups("0"))
