"""Job state in Redis: a snapshot key plus an event stream per job, both expiring with the result.

Every write goes through one Lua script, so the snapshot and the stream never disagree and nothing
overwrites a terminal state (a worker finishing cannot undo a cancel that won the race, and the
reverse).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from testgen.core.redis_keys import cancel_key, events_key, state_key
from testgen.data.job_states import TERMINAL
from testgen.domain.job_snapshots import JobSnapshot
from testgen.streaming.snapshots import encode

# KEYS: snapshot, stream. ARGV: snapshot JSON, event name, TTL, stream length, force ("1": write even
# over a final state), then the terminal statuses.
_PUBLISH = """
local current = redis.call('GET', KEYS[1])
if current and ARGV[5] == '0' then
  local status = cjson.decode(current)['status']
  for i = 6, #ARGV do
    if status == ARGV[i] then return false end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'event', ARGV[2], 'data', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return id
"""
_TERMINAL_ARGS = sorted(s.value for s in TERMINAL)


@dataclass(frozen=True)
class StoredEvent:
    id: str
    event: str
    data: str  # the snapshot, JSON-encoded once by the writer

    @cached_property
    def sse(self) -> bytes:
        """The event in SSE wire format, encoded once however many clients receive it."""
        return f"id: {self.id}\nevent: {self.event}\ndata: {self.data}\n\n".encode()


_STREAM_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")
MAX_STREAM_ID_PART = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers


def parse_stream_id(text: str) -> tuple[int, int] | None:
    """`ms-seq` as Redis accepts it (ASCII digits, each part < 2**64), else None."""
    match = _STREAM_ID.fullmatch(text)
    if match is None:
        return None
    ms, seq = int(match[1]), int(match[2] or 0)
    return (ms, seq) if ms <= MAX_STREAM_ID_PART and seq <= MAX_STREAM_ID_PART else None


def stream_id_tuple(stream_id: str) -> tuple[int, int]:
    parsed = parse_stream_id(stream_id)
    if parsed is None:
        raise ValueError("not a Redis stream id")
    return parsed


class ProgressStore:
    def __init__(self, redis: Redis, ttl_s: int, max_events: int = 1000) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.max_events = max_events
        self._publish = redis.register_script(_PUBLISH)

    async def publish(self, snapshot: JobSnapshot, event: str, *, force: bool = False) -> str | None:
        """Store the snapshot and append it to the job's stream. None when the job was already final."""
        result = await self.publish_in(self.redis, snapshot, event, force=force)
        return result.decode() if isinstance(result, bytes) else None

    async def publish_in(
        self, client: Redis | Pipeline, snapshot: JobSnapshot, event: str, *, force: bool = False
    ) -> Any:
        """`publish` through `client`: its result on a connection; on a pipeline, queued (as EVAL:
        a registered script would make every pipeline ask SCRIPT EXISTS first, a round trip more)."""
        task_id = snapshot["task_id"]
        keys = [state_key(task_id), events_key(task_id)]
        args = [encode(snapshot), event, self.ttl_s, self.max_events, "1" if force else "0", *_TERMINAL_ARGS]
        if isinstance(client, Pipeline):
            return client.eval(_PUBLISH, len(keys), *keys, *args)  # type: ignore[arg-type]
        return await self._publish(keys=keys, args=args, client=client)

    async def get(self, task_id: str) -> JobSnapshot | None:
        return decode_state(await self.redis.get(state_key(task_id)))

    def get_in(self, pipe: Pipeline, task_id: str) -> None:
        """`get`, queued on a pipeline: decode its reply with `decode_state`."""
        pipe.get(state_key(task_id))

    async def events_after(self, task_id: str, after: str | None) -> list[StoredEvent]:
        start = f"({after}" if after else "-"
        entries = await self.redis.xrange(events_key(task_id), min=start, max="+")
        return [decode_entry(entry_id, fields) for entry_id, fields in entries]

    async def replay(
        self, cursors: list[tuple[str, str | None]]
    ) -> list[tuple[list[StoredEvent], JobSnapshot | None]]:
        """For each (task id, cursor): the events after the cursor and the live snapshot, in one
        round trip whatever the number of jobs."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id, after in cursors:
                pipe.xrange(events_key(task_id), min=f"({after}" if after else "-", max="+")
                pipe.get(state_key(task_id))
            replies = await pipe.execute()
        return [
            (
                [decode_entry(entry_id, fields) for entry_id, fields in replies[2 * i]],
                decode_state(replies[2 * i + 1]),
            )
            for i in range(len(cursors))
        ]

    async def request_cancel(self, task_id: str) -> None:
        await self.redis.set(cancel_key(task_id), b"1", ex=self.ttl_s)

    async def cancel_requested(self, task_id: str) -> bool:
        return bool(await self.redis.exists(cancel_key(task_id)))


def decode_state(raw: bytes | None) -> JobSnapshot | None:
    """A stored snapshot (written by `publish`: trusted, not validated)."""
    snapshot: JobSnapshot | None = json.loads(raw) if raw else None
    return snapshot


def decode_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> StoredEvent:
    ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return StoredEvent(id=ident, event=fields[b"event"].decode(), data=fields[b"data"].decode())
