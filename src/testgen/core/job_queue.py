"""Many arq jobs queued in one round trip.

arq's `enqueue_job` takes four round trips per job (WATCH, EXISTS, MULTI/EXEC); a bulk enqueue of
a thousand stories would spend most of its time there. This script does the same per job (skip an
id that is queued, running or has a kept result; else store the job and add it to the queue)
for every job at once, inside a pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio.client import Pipeline

_ENQUEUE_MANY = """
local queued, score = 0, ARGV[#ARGV]
for i = 4, #ARGV - 1, 2 do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[1] .. id, ARGV[2] .. id) == 0 then
    redis.call('PSETEX', ARGV[1] .. id, ARGV[3], ARGV[i + 1])
    redis.call('ZADD', KEYS[1], score, id)
    queued = queued + 1
  end
end
return queued
"""


def enqueue_many(
    pipe: Pipeline,
    redis: ArqRedis,
    function: str,
    job_ids: Sequence[str],
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Add to `pipe` the queueing of one `function(job_id, **kwargs)` job per id, with `job_id` as
    arq's id."""
    now = timestamp_ms()
    args: list[str | bytes | int] = [job_key_prefix, result_key_prefix, redis.expires_extra_ms]
    extra = dict(kwargs or {})
    for job_id in job_ids:
        payload = serialize_job(function, (job_id,), extra, None, now, serializer=redis.job_serializer)
        args += [job_id, payload]
    args.append(now)
    # EVAL, not a registered script: no SCRIPT EXISTS round trip first (redis-py types args as str only)
    pipe.eval(_ENQUEUE_MANY, 1, redis.default_queue_name, *args)  # type: ignore[arg-type]
