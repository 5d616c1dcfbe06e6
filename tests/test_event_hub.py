"""The SSE fan-out: one Redis reader per process, bounded queues, slow clients cut off."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from redis.asyncio import Redis

from testgen.event_hub import OVERFLOW, EventHub
from testgen.progress import ProgressStore, events_key
from testgen.redis_client import create_blocking_reader
from tests.helpers import make_story, queue


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
        await asyncio.wait_for(reader, 5)
        assert received == ids  # the fast client got everything, in order
        assert slow.queue.qsize() <= 8  # memory stays bounded
        items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
        assert items[-1] == OVERFLOW and slow.ended
        hub.unsubscribe(slow)
        hub.unsubscribe(fast)
        assert hub.connections == 0
    finally:
        await hub.stop()


async def test_sse_connections_hold_no_redis_connections(http: AsyncClient, redis: Redis) -> None:
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
    await asyncio.wait_for(warm_ready.wait(), 5)
    baseline = await connected_clients()

    done = asyncio.Event()
    readies = [asyncio.Event() for _ in range(40)]
    streams = [asyncio.create_task(open_stream(r, done)) for r in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 10)
    during = await connected_clients()
    done.set()
    warm_done.set()
    await asyncio.gather(*streams, warm)
    assert during - baseline <= 3, (baseline, during)  # 41 streams, not one Redis connection each
