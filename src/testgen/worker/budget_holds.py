"""Tokens held against a project's daily budget by its running jobs, so that jobs starting at the same
time cannot together pass it.

A job of a project with a budget holds its estimated tokens in Redis (a hash per project and UTC day:
task id -> tokens) before its first model call. A hold counts while the job's lease lives: when the
job ends, or its worker dies, the lease goes and so does the hold (the next job to look removes it).
The hold takes the job's lease if the claim did not (arq's own worker, `arq workers.WorkerSettings`,
leaves that to the lease's first renewal). The job's tokens are recorded in the database before its
lease is deleted, so for a moment they count twice, never zero times.

The order matters: hold first, then read what the project spent. A job that finishes in between has
either recorded its tokens before that read, or still held them when ours were held. The Lua script
runs alone, so of two jobs starting at once the second sees the first's hold.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from redis.asyncio import Redis

from testgen.core.redis_keys import budget_holds_key, lease_key
from testgen.worker.reaper import LEASE_TTL_S

HOLD_TTL_S = 2 * 86_400  # a day's holds outlive the day (in UTC), then go with their key
_LEASE_PREFIX, _LEASE_SUFFIX = lease_key("\n").split("\n")

# KEYS[1] the project's holds of the day; ARGV[1] this job's task id, ARGV[2] its tokens, ARGV[3] and
# ARGV[4] the lease key around a task id, ARGV[5] the holds' TTL and ARGV[6] the lease's, in s. Holds
# this job's tokens (again, if it runs again) and returns the tokens its other running jobs hold; drops
# the holds whose lease is gone. Lease keys are read by name: a single Redis (or Sentinel), not Cluster.
_HOLD = """
redis.call('SET', ARGV[3] .. ARGV[1] .. ARGV[4], '1', 'NX', 'EX', ARGV[6])
local others = 0
local holds = redis.call('HGETALL', KEYS[1])
for i = 1, #holds, 2 do
  local task = holds[i]
  if task ~= ARGV[1] then
    if redis.call('EXISTS', ARGV[3] .. task .. ARGV[4]) == 1 then
      others = others + tonumber(holds[i + 1])
    else
      redis.call('HDEL', KEYS[1], task)
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return others
"""


class BudgetHolds:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._hold: Any = redis.register_script(_HOLD)

    async def hold(self, project_id: int, task_id: str, tokens: int, day: dt.date) -> int:
        """Hold `tokens` for the job; returns what the project's other running jobs hold."""
        args = [task_id, tokens, _LEASE_PREFIX, _LEASE_SUFFIX, HOLD_TTL_S, LEASE_TTL_S]
        return int(await self._hold(keys=[budget_holds_key(project_id, day)], args=args))

    async def release(self, project_id: int, task_id: str, day: dt.date) -> None:
        await self._redis.hdel(budget_holds_key(project_id, day), task_id)  # type: ignore[misc]
