"""The worker's coalesced progress publishes (worker/publisher.py), on a real Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from testgen.core.redis_keys import FINISHING_KEY, events_key, state_key
from testgen.streaming.progress_store import ProgressStore
from testgen.worker.publisher import Publisher


def snapshot(task_id: str, status: str = "generating", progress: int = 50) -> dict[str, Any]:
    return {"task_id": task_id, "status": status, "progress": progress}


async def script_calls(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha")}


async def test_concurrent_publishes_share_one_round_trip_and_each_gets_its_own_entry(redis: Redis) -> None:
    publisher = Publisher(ProgressStore(redis, 60))
    await publisher.publish(snapshot("warm-up"), "progress")  # Redis has the script from now on
    before = await script_calls(redis)
    ids = await asyncio.gather(
        *(publisher.publish(snapshot(f"job-{i}", progress=i), "progress") for i in range(20))
    )
    after = await script_calls(redis)
    # The first found nothing in flight and went alone; the 19 that came meanwhile went in one pipeline.
    assert {k: after[k] - before[k] for k in after} == {"evalsha": 1, "eval": 19}
    for i, entry_id in enumerate(ids):
        entries = await redis.xrange(events_key(f"job-{i}"))
        assert [e[0].decode() for e in entries] == [entry_id]
        assert json.loads(entries[0][1][b"data"])["progress"] == i
        assert json.loads(await redis.get(state_key(f"job-{i}")) or b"{}")["progress"] == i


async def test_a_final_job_and_a_broken_key_answer_only_their_own_callers(redis: Redis) -> None:
    store = ProgressStore(redis, 60)
    publisher = Publisher(store)
    assert await store.publish(snapshot("done", status="cancelled"), "cancelled") is not None
    await redis.rpush(state_key("broken"), "not a snapshot")  # GET on a list: the script errs
    outcomes = await asyncio.gather(
        publisher.publish(snapshot("first"), "progress"),
        publisher.publish(snapshot("done"), "progress"),
        publisher.publish(snapshot("broken"), "progress"),
        publisher.publish(snapshot("last"), "progress"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], str) and isinstance(outcomes[3], str)
    assert outcomes[1] is None  # a final state is never overwritten
    assert isinstance(outcomes[2], ResponseError)
    assert json.loads(await redis.get(state_key("done")) or b"{}")["status"] == "cancelled"
    assert await publisher.publish(snapshot("after"), "progress") is not None  # and it keeps working


async def test_a_settled_final_state_leaves_the_finishing_set_in_the_same_round_trip(redis: Redis) -> None:
    publisher = Publisher(ProgressStore(redis, 60))
    await redis.zadd(FINISHING_KEY, {"ends": 1.0, "other": 1.0})
    await publisher.publish(snapshot("warm-up"), "progress")
    before = await script_calls(redis)
    entry = await publisher.publish(snapshot("ends", status="completed"), "completed", settled=True)
    assert entry is not None and (await script_calls(redis))["eval"] == before["eval"] + 1
    assert await redis.zrange(FINISHING_KEY, 0, -1) == [b"other"]  # only its own mark goes
    await publisher.publish(snapshot("other"), "progress")
    assert await redis.zrange(FINISHING_KEY, 0, -1) == [b"other"]  # a progress event leaves it
