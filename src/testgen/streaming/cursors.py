"""The SSE cursor (Last-Event-ID) a client sends back: one Redis stream entry id for a single-job
stream, `<task>=<entry id>;<task>=<entry id>` for a multiplexed one. It is hostile input: anything
that is not a valid entry id of a followed job is ignored (the stream then replays from the start),
and so is the last possible id, which Redis refuses to read after.
"""

from __future__ import annotations

from testgen.streaming.progress_store import MAX_STREAM_ID_PART, parse_stream_id, stream_id_tuple

MAX_CURSOR_PARTS = 1000
_LAST_STREAM_ID = (MAX_STREAM_ID_PART, MAX_STREAM_ID_PART)  # XRANGE after it: "invalid start ID"


def parse_cursor(last_event_id: str | None, task_ids: list[str]) -> dict[str, str]:
    """The positions a cursor names for `task_ids`; anything malformed or unknown is ignored."""
    if not last_event_id:
        return {}
    if "=" not in last_event_id:
        valid = len(task_ids) == 1 and _position(last_event_id) is not None
        return {task_ids[0]: last_event_id} if valid else {}
    wanted = set(task_ids)
    cursors: dict[str, str] = {}
    for part in last_event_id.split(";", MAX_CURSOR_PARTS)[:MAX_CURSOR_PARTS]:
        task, _, entry = part.partition("=")
        position = _position(entry)
        known = cursors.get(task)
        if task in wanted and position is not None and (known is None or position > stream_id_tuple(known)):
            cursors[task] = entry
    return cursors


def _position(entry: str) -> tuple[int, int] | None:
    """The position of a stream entry id Redis can read after, else None."""
    position = parse_stream_id(entry)
    return position if position != _LAST_STREAM_ID else None


def merge_cursors(*cursors: dict[str, str]) -> dict[str, str]:
    """Per job, the later of the positions given."""
    merged: dict[str, str] = {}
    for cursor in cursors:
        for task, entry in cursor.items():
            if task not in merged or stream_id_tuple(entry) > stream_id_tuple(merged[task]):
                merged[task] = entry
    return merged
