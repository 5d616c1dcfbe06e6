"""The SSE fan-out: one Redis reader per process, bounded queues, slow clients cut off."""

from __future__ import annotations

import asyncio
import gc
import weakref

from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.redis import create_blocking_reader, create_redis
from testgen.core.redis_keys import events_key
from testgen.streaming.event_hub import OVERFLOW, EventHub
from testgen.streaming.progress_store import ProgressStore, stream_id_tuple
from tests.support.harness import WAIT_S, wait_for
from tests.support.helpers import make_story, queue


def snapshot(task_id: str, progress: int) -> dict[str, object]:
    return {"task_id": task_id, "story_id": "S", "status": "generating", "progress": progress}


async def test_slow_subscriber_is_cut_off_and_others_keep_receiving(redis: Redis, redis_url: str) -> None:
    hub = EventHub(create_blocking_reader(redis_url), redis, queue_size=8)
    await hub.start()
    store = ProgressStore(redis, ttl_s=60)
    try:
        slow = await hub.subscribe([events_key("t1")])
        fast = await hub.subscribe([events_key("t1")])
        received = []

        async def drain() -> None:
            while len(received) < 50:
                item = await fast.queue.get()
                assert not isinstance(item, str)
                received.append(item[1].id)

        reader = asyncio.create_task(drain())
        ids = [await store.publish(snapshot("t1", p), "progress") for p in range(50)]
        await asyncio.wait_for(reader, WAIT_S)
        assert received == ids  # the fast client got everything, in order
        items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        # Cut off at the 9th event: the oldest queued event made room for the end signal, and
        # nothing was queued after it (the queue holds 8, 50 were published).
        assert [item[1].id for item in items[:-1] if not isinstance(item, str)] == ids[1:8]
        assert items[-1] == OVERFLOW and slow.ended
        hub.unsubscribe(slow)
        hub.unsubscribe(fast)
        assert hub.connections == 0
    finally:
        await hub.stop()


async def test_sse_connections_hold_no_redis_connections(
    http: AsyncClient, redis: Redis, settings: Settings
) -> None:
    settings.max_streams_per_key = 0  # 41 streams of one client
    await make_story(http, "US-001")
    job = await queue(http, "US-001")  # no worker: the job stays queued and streams stay open

    async def connected_clients() -> int:
        return len(await redis.client_list())

    async def open_stream(ready: asyncio.Event, done: asyncio.Event) -> None:
        async with http.stream("GET", job["events_url"]) as response:
            async for chunk in response.aiter_text():
                if "event: queued" in chunk:
                    ready.set()
                    break
            await done.wait()

    warm_ready, warm_done = asyncio.Event(), asyncio.Event()
    warm = asyncio.create_task(open_stream(warm_ready, warm_done))
    await asyncio.wait_for(warm_ready.wait(), WAIT_S)
    baseline = await connected_clients()

    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(40)]
    streams = [asyncio.create_task(open_stream(r, done)) for r in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), WAIT_S)
    during = await connected_clients()
    done.set()
    warm_done.set()
    await asyncio.gather(*streams, warm)
    assert during - baseline <= 3, (baseline, during)  # 41 streams, not one Redis connection each


async def test_concurrent_subscribers_miss_nothing_while_events_flow(redis: Redis, redis_url: str) -> None:
    """Subscribe, replay, then read live (as SSE does), many at once while a writer appends.

    A two-connection pool (like the API's small one) makes subscribers queue for connections, which
    is when one subscriber's replay can overtake another's cursor set-up.
    """
    small = create_redis(redis_url, max_connections=2)
    hub = EventHub(create_blocking_reader(redis_url), small, queue_size=1000)
    await hub.start()
    store = ProgressStore(small, ttl_s=60)
    total = 150
    try:
        writer_done = asyncio.Event()

        async def writer() -> list[str]:
            ids = []
            for p in range(total):
                ids.append(await store.publish(snapshot("t2", p), "progress"))
                if p % 10 == 0:
                    await asyncio.sleep(0)
            writer_done.set()
            return [i for i in ids if i]

        async def subscriber(delay: float) -> list[str]:
            await asyncio.sleep(delay)
            sub = await hub.subscribe([events_key("t2")])
            seen = [e.id for e in await store.events_after("t2", None)]
            try:
                while len(seen) < total:
                    item = await asyncio.wait_for(sub.queue.get(), WAIT_S)
                    assert not isinstance(item, str)
                    if not seen or stream_id_tuple(item[1].id) > stream_id_tuple(seen[-1]):
                        seen.append(item[1].id)
            finally:
                hub.unsubscribe(sub)
            return seen

        results = await asyncio.gather(writer(), *(subscriber(i * 0.0005) for i in range(60)))
        written = results[0]
        for seen in results[1:]:
            assert seen == written
    finally:
        await hub.stop()
        await small.aclose()


async def test_a_stream_never_started_releases_its_subscription(redis: Redis, redis_url: str) -> None:
    from testgen.data.models import GenerationJob
    from testgen.streaming.job_streams import open_stream

    hub = EventHub(create_blocking_reader(redis_url), redis)
    await hub.start()
    store = ProgressStore(redis, ttl_s=60)
    try:
        job = GenerationJob(id="t3", story_id="S", status="queued")
        await store.publish(snapshot("t3", 0) | {"status": "queued"}, "queued")
        stream = await open_stream(hub, store, [job], [None], multiplexed=False)
        assert stream is not None and hub.connections == 1
        del stream  # the client left before the response body was iterated
        gc.collect()
        assert hub.connections == 0 and not hub._subs
    finally:
        await hub.stop()


async def test_a_client_that_leaves_releases_its_subscription_at_once(
    app: FastAPI, http: AsyncClient
) -> None:
    """No event or ping is due (ping interval 15 s), yet the stream ends as soon as the client goes."""
    await make_story(http, "US-001")
    job = await queue(http, "US-001")  # no worker: nothing more is published
    hub: EventHub = app.state.hub
    async with http.stream("GET", job["events_url"]) as response:
        async for chunk in response.aiter_text():
            if "event: queued" in chunk:
                break
        assert hub.connections == 1
    await wait_for(lambda: hub.connections == 0, what="the hub to drop the connection")
    assert not hub._subs


async def test_an_unread_stream_holds_a_bounded_number_of_bytes(redis: Redis, redis_url: str) -> None:
    """A client that stops reading is cut off once the event data waiting for it passes the byte
    bound, long before its queue's count bound."""
    hub = EventHub(create_blocking_reader(redis_url), redis, queue_size=1000, queue_bytes=16_384)
    await hub.start()
    store = ProgressStore(redis, ttl_s=60)
    try:
        key = events_key("t4")
        unread = await hub.subscribe([key])
        ids = [
            await store.publish(snapshot("t4", p) | {"message": "x" * 1000}, "progress") for p in range(100)
        ]
        # the hub read the last event, and so handed every event to the subscriber
        await wait_for(lambda: hub._cursors.get(key) == ids[-1], what="the hub to read every event")
        held = unread.queued_bytes
        items = [await unread.get() for _ in range(unread.queue.qsize())]
        events = [item[1] for item in items if not isinstance(item, str)]
        assert held == sum(len(e.data) for e in events) <= 16_384 and len(events) < 16
        assert items[-1] == OVERFLOW and unread.ended and unread.queued_bytes == 0
        hub.unsubscribe(unread)
    finally:
        await hub.stop()


async def test_a_replayed_event_is_let_go_once_sent(redis: Redis, redis_url: str) -> None:
    """A multiplexed stream replays every event of every job in order, and holds each only until it
    is sent: a long replay is not kept for the stream's life."""
    from testgen.data.models import GenerationJob
    from testgen.streaming.job_streams import open_stream

    hub = EventHub(create_blocking_reader(redis_url), redis)
    await hub.start()
    store = ProgressStore(redis, ttl_s=60)
    try:
        jobs = [GenerationJob(id=f"m{i}", story_id=f"S{i}", status="generating") for i in range(30)]
        entries: dict[str, list[str]] = {job.id: [] for job in jobs}
        for progress in range(20):
            for job in jobs:
                entry = await store.publish(snapshot(job.id, progress), "progress")
                assert entry is not None
                entries[job.id].append(entry)
        stream = await open_stream(hub, store, jobs, [None], multiplexed=True)
        assert stream is not None
        assert [(task, event.id) for task, event in stream.backlog] == [
            (job.id, entry) for job in jobs for entry in entries[job.id]
        ]
        replayed = [weakref.ref(event) for _, event in stream.backlog]
        sent = aiter(stream)
        assert await anext(sent) == b"retry: 1000\n\n"
        for _ in range(11):
            assert (await anext(sent)).startswith(f"id: {jobs[0].id}=".encode())
        gc.collect()  # (the 11th is the one being sent)
        assert [ref() is None for ref in replayed] == [True] * 10 + [False] * (len(replayed) - 10)
        await sent.aclose()
        assert hub.connections == 0
    finally:
        await hub.stop()
