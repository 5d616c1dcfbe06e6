"""The SSE cursor (Last-Event-ID) a client sends back: one Redis stream entry id for a single-job
stream, `<task>=<entry id>;<task>=<entry id>` for a multiplexed one. It is hostile input: anything
that is not a valid entry id of a followed job is ignored (the stream then replays from the start).
"""

from __future__ import annotations

from testgen.streaming.progress_store import parse_stream_id, stream_id_tuple

MAX_CURSOR_PARTS = 1000


def parse_cursor(last_event_id: str | None, task_ids: list[str]) -> dict[str, str]:
    """The positions a cursor names for `task_ids`; anything malformed or unknown is ignored."""
    if not last_event_id:
        return {}
    if "=" not in last_event_id:
        valid = len(task_ids) == 1 and parse_stream_id(last_event_id) is not None
        return {task_ids[0]: last_event_id} if valid else {}
    wanted = set(task_ids)
    cursors: dict[str, str] = {}
    for part in last_event_id.split(";", MAX_CURSOR_PARTS)[:MAX_CURSOR_PARTS]:
        task, _, entry = part.partition("=")
        position = parse_stream_id(entry)
        known = cursors.get(task)
        if task in wanted and position is not None and (known is None or position > stream_id_tuple(known)):
            cursors[task] = entry
    return cursors


def merge_cursors(*cursors: dict[str, str]) -> dict[str, str]:
    """Per job, the later of the positions given."""
    merged: dict[str, str] = {}
    for cursor in cursors:
        for task, entry in cursor.items():
            if task not in merged or stream_id_tuple(entry) > stream_id_tuple(merged[task]):
                merged[task] = entry
    return merged
