"""Server-Sent Event streams of job progress: replay from Redis, then live events from the hub.

The SSE `id:` is a cursor. For one job it is the Redis stream entry id. On a multiplexed stream it
is the position of the job that changed only (`<task>=<entry id>`), so an event costs the same
however many jobs the stream follows; a client resumes by sending the latest position of each job
it follows, `<task>=<entry id>;<task>=<entry id>` (Last-Event-ID or `?last_event_id=`; both are
read, and the later position of a job wins).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from testgen.core.redis_keys import events_key
from testgen.data.job_states import TERMINAL
from testgen.data.models import GenerationJob
from testgen.streaming.cursors import merge_cursors, parse_cursor
from testgen.streaming.event_hub import CLOSED, GONE, PING, EventHub, StreamSlot, Subscription
from testgen.streaming.progress_store import ProgressStore, StoredEvent, stream_id_tuple
from testgen.streaming.snapshots import encode, job_snapshot

PING_INTERVAL_S = 15.0
FINAL_FROM_DB = "0-1"  # id of a final state replayed from the database after Redis forgot the job
RETRY_MS = 1000


@dataclass
class JobStream:
    jobs: list[GenerationJob]
    multiplexed: bool
    hub: EventHub
    sub: Subscription
    cursors: dict[str, str]
    backlog: list[tuple[str, StoredEvent]] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    ping_interval_s: float = PING_INTERVAL_S
    _timer: asyncio.TimerHandle | None = field(default=None, init=False)

    def _format(self, task_id: str, event: StoredEvent) -> bytes:
        self.cursors[task_id] = event.id
        if not self.multiplexed:
            return event.sse
        return f"id: {task_id}={event.id}\nevent: {event.event}\ndata: {event.data}\n\n".encode()

    def _is_new(self, task_id: str, event: StoredEvent) -> bool:
        seen = self.cursors.get(task_id)
        return seen is None or stream_id_tuple(event.id) > stream_id_tuple(seen)

    def close(self) -> None:
        """The client went away: end the stream now rather than at its next event."""
        self.sub.end(GONE)

    def _ping(self) -> None:
        self.sub.ping()
        self._timer = asyncio.get_running_loop().call_later(self.ping_interval_s, self._ping)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # One repeating timer per stream, not a timeout around every wait: with thousands of
        # streams, a timer armed and cancelled per event is a measurable share of a broadcast.
        self._timer = asyncio.get_running_loop().call_later(self.ping_interval_s, self._ping)
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            # Each replayed event is let go once sent: a long replay is not held for the stream's life.
            unsent, self.backlog = self.backlog[::-1], []
            while unsent:
                task_id, event = unsent.pop()
                yield self._format(task_id, event)
            by_key = {events_key(j.id): j.id for j in self.jobs}
            while len(self.done) < len(self.jobs):
                item = await self.sub.get()
                if item == PING:
                    yield b": ping\n\n"
                    continue
                if item == GONE:
                    return
                if isinstance(item, str):
                    yield f"retry: {RETRY_MS if item == CLOSED else RETRY_MS * 2}\n\n".encode()
                    return
                key, event = item
                task_id = by_key[key]
                if task_id in self.done or not self._is_new(task_id, event):
                    continue
                yield self._format(task_id, event)
                if event.event in TERMINAL:
                    self.done.add(task_id)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self.hub.unsubscribe(self.sub)


async def open_stream(
    hub: EventHub,
    store: ProgressStore,
    jobs: list[GenerationJob],
    last_event_ids: list[str | None],
    *,
    multiplexed: bool,
    ping_interval_s: float = PING_INTERVAL_S,
    slot: StreamSlot | None = None,
) -> JobStream | None:
    """Subscribe, then replay what the client has not seen. None: the client has seen every job end.
    `slot` (the client's place among its streams) is held by the stream and given back when it ends."""
    task_ids = [j.id for j in jobs]
    cursors = merge_cursors(*(parse_cursor(c, task_ids) for c in last_event_ids))
    sub = await hub.subscribe([events_key(j.id) for j in jobs], slot)
    stream = JobStream(
        jobs=jobs,
        multiplexed=multiplexed,
        hub=hub,
        sub=sub,
        cursors=dict(cursors),
        ping_interval_s=ping_interval_s,
    )
    try:
        await _replay(store, stream, [j for j in jobs if cursors.get(j.id) != FINAL_FROM_DB])
    except BaseException:
        hub.unsubscribe(sub)
        raise
    if len(stream.done) == len(jobs) and not stream.backlog:
        hub.unsubscribe(sub)
        return None
    # A client that goes away before the body starts never runs the stream's `finally`: release the
    # subscription when the stream object is dropped instead.
    weakref.finalize(stream, hub.unsubscribe, sub)
    return stream


async def _replay(store: ProgressStore, stream: JobStream, jobs: list[GenerationJob]) -> None:
    for job in stream.jobs:
        if stream.cursors.get(job.id) == FINAL_FROM_DB:  # the client already has the final state
            stream.done.add(job.id)
    replies = await store.replay([(job.id, stream.cursors.get(job.id)) for job in jobs])
    for job, (events, live) in zip(jobs, replies, strict=True):
        if any(e.event in TERMINAL for e in events):
            stream.done.add(job.id)
        elif live is not None and live["status"] in TERMINAL:
            stream.done.add(job.id)  # the client's cursor is already past the final event
        elif job.status in TERMINAL:
            events = [*events, *await _final_from_db(store, job, events, stream)]
            stream.done.add(job.id)
        stream.backlog.extend((job.id, e) for e in events)


async def _final_from_db(
    store: ProgressStore, job: GenerationJob, seen: list[StoredEvent], stream: JobStream
) -> list[StoredEvent]:
    """A job final in the database but not in Redis: its worker is about to publish it, died first,
    or Redis forgot the job. Publish it from the row now, so that every client gets the same stream
    entry (the store keeps only the first final state); if Redis got one meanwhile, replay that."""
    snapshot = job_snapshot(job)
    try:
        entry = await store.publish(snapshot, job.status)
        if entry is not None:
            return [StoredEvent(id=entry, event=job.status, data=encode(snapshot))]
        after = seen[-1].id if seen else stream.cursors.get(job.id)
        return await store.events_after(job.id, after)
    except (RedisError, OSError):
        return [StoredEvent(id=FINAL_FROM_DB, event=job.status, data=encode(snapshot))]
