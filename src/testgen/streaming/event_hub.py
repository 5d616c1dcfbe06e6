"""Fan-out of job events to SSE connections: one Redis reader per API process.

A connection registers a bounded queue for the job streams it watches; a single task reads all
watched streams with one blocking XREAD and copies each entry (encoded once, by the writer) into
the queues. No connection holds its own Redis connection or polls Redis. A queue that fills up
(a client too slow to keep up: SSE_QUEUE_SIZE events, or QUEUE_BYTES of event data) is cut off; the
client resumes from Redis with Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from testgen.core.metrics import service_metrics
from testgen.core.presence import forget_streams, report_streams_forever
from testgen.core.redis_keys import hub_control_key
from testgen.streaming.progress_store import StoredEvent, decode_entry

logger = logging.getLogger(__name__)

CLOSED = "closed"  # the hub is shutting down: tell the client to come back later
OVERFLOW = "overflow"  # the client fell behind: end its stream, it resumes from Redis
REDIS_DOWN = "redis-down"
GONE = "gone"  # the client disconnected: end quietly
PING = "ping"  # not an end: time for a keep-alive comment
STOP_WAIT_S = 2.0
# Event data one connection may have waiting: what a client that stopped reading can hold on to.
QUEUE_BYTES = 2 * 1024 * 1024


class StreamSlot:
    """One of an owner's open streams on this process (`EventHub.take_slot`): taken before the stream
    opens, in the same step as the limit check, then held by the stream's subscription; given back
    once, when the subscription ends or, if the stream never opened, by whoever took it."""

    def __init__(self, counts: dict[str, int], owner: str) -> None:
        self._counts = counts
        self.owner = owner
        self.held = False  # by a subscription, which gives it back when released
        self.released = False

    def release(self) -> None:
        """Give the place back; safe to call more than once."""
        if self.released:
            return
        self.released = True
        left = self._counts.get(self.owner, 0) - 1
        if left > 0:
            self._counts[self.owner] = left
        else:
            self._counts.pop(self.owner, None)


class Subscription:
    """A connection's queue of events, bounded by count (`maxsize`) and by the bytes of event data
    waiting in it (`max_bytes`; one event larger than that still passes alone)."""

    def __init__(
        self, keys: list[str], maxsize: int, slot: StreamSlot | None = None, max_bytes: int = QUEUE_BYTES
    ) -> None:
        self.keys = keys
        self.slot = slot
        self.queue: asyncio.Queue[tuple[str, StoredEvent] | str] = asyncio.Queue(maxsize)
        self.max_bytes = max_bytes
        self.queued_bytes = 0  # event data waiting in the queue
        self.ended = False
        self.released = False

    def push(self, item: tuple[str, StoredEvent]) -> None:
        if self.ended:
            return
        size = len(item[1].data)
        if self.queue.full() or (self.queued_bytes and self.queued_bytes + size > self.max_bytes):
            self.end(OVERFLOW)
        else:
            self.queued_bytes += size
            self.queue.put_nowait(item)

    async def get(self) -> tuple[str, StoredEvent] | str:
        """The next event or signal, waiting for one."""
        item = await self.queue.get()
        self._taken(item)
        return item

    def _taken(self, item: tuple[str, StoredEvent] | str) -> None:
        if not isinstance(item, str):
            self.queued_bytes -= len(item[1].data)

    def ping(self) -> None:
        if not self.ended and not self.queue.full():
            self.queue.put_nowait(PING)

    def end(self, signal: str) -> None:
        """Queue `signal` (dropping one event if full): the stream ends, the client resumes from Redis."""
        if self.ended and signal == OVERFLOW:
            return
        self.ended = True
        if self.queue.full():
            self._taken(self.queue.get_nowait())
        self.queue.put_nowait(signal)


class EventHub:
    def __init__(
        self,
        reader: Redis,
        redis: Redis,
        *,
        queue_size: int = 256,
        queue_bytes: int = QUEUE_BYTES,
        block_ms: int = 10_000,
    ) -> None:
        self.reader = reader  # a dedicated client: the blocking read holds its one connection
        self.redis = redis  # the shared pool, for everything else
        self.queue_size = queue_size
        self.queue_bytes = queue_bytes
        self.block_ms = block_ms
        self._subs: dict[str, set[Subscription]] = {}
        self._cursors: dict[str, str] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self.process_id = uuid.uuid4().hex  # this API process, in Redis
        self._control = hub_control_key(self.process_id)
        self._control_cursor = "0-0"
        self._task: asyncio.Task[None] | None = None
        self._census: asyncio.Task[None] | None = None
        self.connections = 0
        self._by_owner: dict[str, int] = {}

    def open_by(self, owner: str) -> int:
        """How many streams `owner` holds or is opening on this process."""
        return self._by_owner.get(owner, 0)

    def take_slot(self, owner: str, limit: int) -> StreamSlot | None:
        """A place among `owner`'s streams, or None when it holds `limit` (0: no limit). The check
        and the count are one step (no await between them): a burst of opens cannot all pass the
        check before any of them is counted."""
        count = self._by_owner.get(owner, 0)
        if limit and count >= limit:
            return None
        self._by_owner[owner] = count + 1
        return StreamSlot(self._by_owner, owner)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-hub")
        self._census = asyncio.create_task(
            report_streams_forever(self.redis, self.process_id, lambda: self.connections),
            name="stream-census",
        )

    def close_streams(self) -> None:
        """End every open stream with a retry hint (server shutting down)."""
        for subs in self._subs.values():
            for sub in subs:
                sub.end(CLOSED)

    async def stop(self) -> None:
        self.close_streams()
        for task in (self._task, self._census):
            if task is not None:
                task.cancel()
                # Bounded: a task cancelled inside a Redis command may take its time to notice.
                done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_S)
                if not done:
                    logger.warning("%s did not stop within %.0f s", task.get_name(), STOP_WAIT_S)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await forget_streams(self.redis, self.process_id)
                await self.redis.delete(self._control)
        await self.reader.aclose()

    async def subscribe(self, keys: list[str], slot: StreamSlot | None = None) -> Subscription:
        """Register first, then fix cursors: any entry written from now on reaches the queue. The
        subscription holds `slot` from now on and gives it back when it is released."""
        sub = Subscription(keys, self.queue_size, slot, self.queue_bytes)
        if slot is not None:
            slot.held = True
        new = [k for k in keys if k not in self._subs]
        # Keys another subscriber is still fixing a cursor for: wait, or entries written meanwhile
        # would be neither in our replay nor read live.
        pending = {self._pending[k] for k in keys if k in self._pending}
        for key in keys:
            self._subs.setdefault(key, set()).add(sub)
        self.connections += 1
        try:
            if new:
                await self._fix_cursors(new)
            if pending:
                await asyncio.gather(*(asyncio.shield(f) for f in pending))
        except BaseException:
            self.unsubscribe(sub)
            raise
        return sub

    async def _fix_cursors(self, keys: list[str]) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._pending[key] = ready
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.xrevrange(key, count=1)
                lasts = await pipe.execute()
            for key, last in zip(keys, lasts, strict=True):
                if key in self._subs and key not in self._cursors:
                    self._cursors[key] = last[0][0].decode() if last else "0-0"
            ready.set_result(None)
        except BaseException as exc:
            ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError("subscription cancelled"))
            ready.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            for key in keys:
                if self._pending.get(key) is ready:
                    del self._pending[key]
        await self._wake()

    def unsubscribe(self, sub: Subscription) -> None:
        """Release `sub`; safe to call more than once."""
        if sub.released:
            return
        sub.released = True
        self.connections -= 1
        if sub.slot is not None:
            sub.slot.release()
        for key in sub.keys:
            subs = self._subs.get(key)
            if subs is None:
                continue
            subs.discard(sub)
            if not subs:
                del self._subs[key]
                self._cursors.pop(key, None)

    async def _wake(self) -> None:
        """Make the blocking XREAD return so that it picks up newly watched streams."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.xadd(self._control, {"w": "1"}, maxlen=10, approximate=True)

    async def _run(self) -> None:
        backoff = 0.1
        lag = service_metrics().sse_delivery_lag
        while True:
            streams = {**self._cursors, self._control: self._control_cursor}
            try:
                response = await self.reader.xread(streams, count=500, block=self.block_ms)  # type: ignore[arg-type]
                backoff = 0.1
            except (RedisError, OSError) as exc:
                logger.warning("Event hub lost Redis (%s); retrying in %.1fs", type(exc).__name__, backoff)
                for subs in self._subs.values():
                    for sub in subs:
                        sub.end(REDIS_DOWN)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for raw_key, entries in response or []:
                key = raw_key.decode()
                if key == self._control:
                    self._control_cursor = entries[-1][0].decode()
                    continue
                if key not in self._cursors:
                    continue
                now_ms = time.time() * 1000
                for entry_id, fields in entries:
                    event = decode_entry(entry_id, fields)
                    self._cursors[key] = event.id
                    written_ms = int(event.id.partition("-")[0])  # the stream entry's time, in Redis
                    lag.observe(max(0.0, now_ms - written_ms) / 1000)
                    for sub in list(self._subs.get(key, ())):
                        sub.push((key, event))
