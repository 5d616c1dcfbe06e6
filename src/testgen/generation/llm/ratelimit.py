"""The pacing of one provider's model, shared by every worker process through Redis: requests a
minute (`LLM_RPM`), tokens a minute (`LLM_TPM`), requests a day (`LLM_RPD`), and what the server's
429s taught (a lower limit, or a pause every worker keeps until the quota's reset).

Sliding-window logs in sorted sets, checked and charged atomically by one Lua script that reads
Redis's own clock, so workers on different hosts agree on the windows. A call is charged its
estimated tokens before it is sent (`acquire`) and corrected with the real usage after (`settle`).
A call over budget is not refused: it is charged for the earliest time it may go, and its caller
sleeps until then (so waiting workers never all ask again at once); one more than a window ahead
asks again then, when a 429 may have taught more. Within the
windows, calls also keep an even pace (each takes its share of the window after the one before: a
request 1/LLM_RPM of it, a call its tokens/LLM_TPM), which they may run ahead of by 5% of the window
or 10 calls' share: so a low limit's first calls still go at once, and a high limit's do not leave
in one burst that the server would see spread out by the workers' own delays. A call stays in its
window `guard` longer than the window (2% of it), so that the server, which sees each call a little
later than we counted it, never sees one more than its limit. A `Clock` with its own `now_ms`
(a test's) replaces Redis's clock.

The keys hang off `redis_keys.llm_rate_key(provider, model)`: the key itself is the minute's log
(call id -> time), `:tokens` each call's tokens, `:total` their sum, `:day` the day's log, `:seq`
the call ids, `:pace` when the next request and the next token are due on the even pace, `:learned`
what 429s taught (`rpm`, `tpm`, `rpd`, `until`: the time every worker waits for).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from testgen.generation.llm.clock import SYSTEM_CLOCK, Clock
from testgen.generation.llm.quota import Quota

logger = logging.getLogger(__name__)

DAY_WINDOWS = 1440  # a day is this many minute windows (of an injected window length too)
LEARNED_WINDOWS = 60  # what a 429 taught lasts this many windows after the last 429 that said it
GUARD_FRACTION = 0.02
BURST_FRACTION = 0.05  # calls go at most this share of the window ahead of an even pace,
LOGGED_WAIT_S = 1.0  # waits this long or longer are logged at INFO
BURST_CALLS = 10  # or this many calls' share (of a low limit: its first calls go at once)

# The windows' clock, shared by both scripts: ARGV[1] the time in ms, or '' for Redis's TIME.
_NOW = """
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: log, tokens, total, day, seq, learned, pace. ARGV: now, rpm, tpm, rpd (0: none), window ms,
# day ms, guard ms, the call's estimated tokens, burst ms. Returns {ms to wait, call id, the limit that
# sets the wait}: with an id, the call is charged for then (and '' with no wait when no limit applies:
# nothing is written); without, the caller waits and asks again.
_ACQUIRE = (
    _NOW
    + f"local BURST_CALLS = {BURST_CALLS}\n"
    + """
local rpm, tpm, rpd = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local window, day, guard, need = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local burst = tonumber(ARGV[9])
local learned = redis.call('HMGET', KEYS[6], 'rpm', 'tpm', 'rpd', 'until')
local function lower(configured, taught)
  taught = tonumber(taught)
  if taught == nil or taught < 1 then return configured end
  if configured == 0 or taught < configured then return taught end
  return configured
end
rpm, tpm, rpd = lower(rpm, learned[1]), lower(tpm, learned[2]), lower(rpd, learned[3])
local blocked = tonumber(learned[4]) or 0
if blocked > now then return {blocked - now, '', 'quota'} end
if rpm == 0 and tpm == 0 and rpd == 0 then return {0, '', ''} end
local span = window + guard
day = day + guard
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - span)
if #old > 0 then
  local freed = 0
  for i = 1, #old, 1000 do
    local ids = {unpack(old, i, math.min(i + 999, #old))}
    for _, t in ipairs(redis.call('HMGET', KEYS[2], unpack(ids))) do freed = freed + (tonumber(t) or 0) end
    redis.call('HDEL', KEYS[2], unpack(ids))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
  redis.call('DECRBY', KEYS[3], freed)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - day)
-- The earliest time the call may go (`at`, ms), and the limit that sets it.
local at, why = now, ''
local function not_before(t, what)
  if t > at then at, why = t, what end
end
local function after(key, limit, length, what)
  local n = redis.call('ZCARD', key)
  if limit > 0 and n >= limit then
    local last = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
    not_before(tonumber(last[2]) + length, what)
  end
end
after(KEYS[1], rpm, span, 'requests per minute')
after(KEYS[4], rpd, day, 'requests per day')
if tpm > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used ~= 0 and redis.call('ZCARD', KEYS[1]) == 0 then
    used = 0
    redis.call('DEL', KEYS[3])
  end
  if used > 0 and used + need > tpm then
    local excess, freed, last = used + need - tpm, 0, nil
    local calls = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
    for i = 1, #calls, 2000 do
      local ids, times = {}, {}
      for j = i, math.min(i + 1999, #calls), 2 do
        ids[#ids + 1] = calls[j]
        times[#times + 1] = calls[j + 1]
      end
      local tokens = redis.call('HMGET', KEYS[2], unpack(ids))
      for k = 1, #ids do
        freed = freed + (tonumber(tokens[k]) or 0)
        last = times[k]
        if freed >= excess then break end
      end
      if freed >= excess then break end
    end
    not_before(tonumber(last or now) + span, 'tokens per minute')
  end
end
-- An even pace besides the windows (a call's share of the window after the one before), so that
-- calls do not leave in bursts that reach the server spread out; a call may go `burst` ms (or
-- BURST_CALLS calls) ahead of it.
local pace = redis.call('HMGET', KEYS[7], 'requests', 'tokens')
local due_r, due_t = tonumber(pace[1]) or now, tonumber(pace[2]) or now
local step_r = rpm > 0 and span / rpm or 0
local step_t = tpm > 0 and math.min(span, span * need / tpm) or 0
local ahead_r = math.max(burst, math.min(rpm, BURST_CALLS) * step_r)
local ahead_t = math.max(burst, math.min(span, BURST_CALLS * step_t))
if rpm > 0 then not_before(due_r - ahead_r, 'requests per minute') end
if tpm > 0 then not_before(due_t - ahead_t, 'tokens per minute') end
at = math.ceil(at)
-- Beyond a window ahead, the caller looks again then (a 429 may have taught more by that time);
-- nearer, the call is charged for its time now, and its caller sleeps until then.
if at - now > span then return {at - now, '', why} end
if rpm > 0 then redis.call('HSET', KEYS[7], 'requests', math.max(at, due_r) + step_r) end
if tpm > 0 then redis.call('HSET', KEYS[7], 'tokens', math.max(at, due_t) + step_t) end
if rpm > 0 or tpm > 0 then redis.call('PEXPIRE', KEYS[7], span * 2) end
local id = tostring(redis.call('INCR', KEYS[5]))
redis.call('PEXPIRE', KEYS[5], day * 2)
if rpm > 0 or tpm > 0 then
  redis.call('ZADD', KEYS[1], at, id)
  redis.call('HSET', KEYS[2], id, need)
  redis.call('INCRBY', KEYS[3], need)
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], span * 3) end
end
if rpd > 0 then
  redis.call('ZADD', KEYS[4], at, id)
  redis.call('PEXPIRE', KEYS[4], day * 2)
end
return {at - now, id, why}
"""
)

# KEYS: tokens, total, pace. ARGV: now (unused), call id, its real tokens, the ms a token is paced
# (0: tokens are not paced). A call that already left the window is not counted again.
_SETTLE = """
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  local delta = tonumber(ARGV[3]) - tonumber(old)
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('INCRBY', KEYS[2], delta)
  local per_token = tonumber(ARGV[4])
  if per_token > 0 and redis.call('HEXISTS', KEYS[3], 'tokens') == 1 then
    redis.call('HINCRBYFLOAT', KEYS[3], 'tokens', delta * per_token)
  end
end
return 0
"""

# KEYS: learned. ARGV: now, rpm, tpm, rpd (0: not said), pause ms, ms to keep what was learned.
_LEARN = (
    _NOW
    + """
for i, field in ipairs({'rpm', 'tpm', 'rpd'}) do
  local value = tonumber(ARGV[i + 1])
  if value > 0 then
    local known = tonumber(redis.call('HGET', KEYS[1], field))
    if known == nil or value < known then redis.call('HSET', KEYS[1], field, value) end
  end
end
local pause = tonumber(ARGV[5])
if pause > 0 then
  local known = tonumber(redis.call('HGET', KEYS[1], 'until')) or 0
  if now + pause > known then redis.call('HSET', KEYS[1], 'until', now + pause) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
return 0
"""
)


@dataclass(frozen=True)
class Limits:
    """Requests a minute, tokens a minute, requests a day; 0: that one is not limited."""

    rpm: int = 0
    tpm: int = 0
    rpd: int = 0


class RateLimiter:
    """One model's shared pacing. `acquire` charges a call, `settle` corrects its tokens, `learn`
    takes in what a 429 said. With no limit configured and nothing learned, nothing is written."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        limits: Limits,
        *,
        window_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._redis = redis
        self._keys = [
            *(key, f"{key}:tokens", f"{key}:total", f"{key}:day"),
            *(f"{key}:seq", f"{key}:learned", f"{key}:pace"),
        ]
        self._limits = limits
        self._window_ms = max(1, round(window_s * 1000))
        self._day_ms = self._window_ms * DAY_WINDOWS
        self._guard_ms = round(self._window_ms * GUARD_FRACTION)
        self._burst_ms = round(self._window_ms * BURST_FRACTION)
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._settle: Any = redis.register_script(_SETTLE)
        self._learn: Any = redis.register_script(_LEARN)
        self._clock = clock

    def _now(self) -> int | str:
        return self._clock.now_ms() if self._clock.now_ms is not None else ""

    async def acquire(self, label: str = "", tokens: int = 0) -> str:
        """Charge one call of about `tokens` tokens, waiting as long as needed; returns the call's id
        for `settle` ('' when nothing was charged)."""
        waited = 0.0
        while True:
            limits = self._limits
            args = [self._now(), limits.rpm, limits.tpm, limits.rpd, self._window_ms, self._day_ms]
            wait_ms, charged, what = (
                v.decode() if isinstance(v, bytes) else v
                for v in await self._acquire(
                    keys=self._keys, args=[*args, self._guard_ms, max(0, tokens), self._burst_ms]
                )
            )
            if int(wait_ms) == 0:
                return str(charged)
            # A call charged for later sleeps until its time. One that must ask again sleeps a little
            # more, at random, so that waiting workers do not all ask in the same millisecond.
            delay = int(wait_ms) / 1000 + (0.0 if charged else random.uniform(0, 0.05))
            if waited == 0.0:  # an even pace's short waits are routine: only long ones are news
                logger.log(
                    logging.INFO if delay >= LOGGED_WAIT_S else logging.DEBUG,
                    "%sLLM budget of %s used up, waiting %.1fs",
                    f"{label}: " if label else "",
                    "the server's quota" if what == "quota" else what,
                    delay,
                )
            try:
                await self._clock.sleep(delay)
            except asyncio.CancelledError:
                if charged:  # the call will not be made: it uses no tokens
                    await asyncio.shield(self.settle(str(charged), 0))
                raise
            if charged:
                return str(charged)
            waited += delay

    async def settle(self, call_id: str, tokens: int) -> None:
        """The call `call_id` used `tokens` tokens in all (its estimate is replaced)."""
        if call_id:
            tpm = self._limits.tpm
            per_token = (self._window_ms + self._guard_ms) / tpm if tpm else 0
            keys = [self._keys[1], self._keys[2], self._keys[6]]
            await self._settle(keys=keys, args=[self._now(), call_id, max(0, tokens), per_token])

    async def learn(self, quota: Quota) -> None:
        """Pace every worker to what a 429 said: a lower limit, or no call before its reset."""
        if not quota:
            return
        pause_ms = round((quota.pause_s or 0) * 1000)
        args = [self._now(), quota.rpm or 0, quota.tpm or 0, quota.rpd or 0, pause_ms]
        await self._learn(keys=self._keys[5:6], args=[*args, self._window_ms * LEARNED_WINDOWS + pause_ms])
        logger.info(
            "The server's quota paces every worker from now on: %s",
            ", ".join(
                f"{name} {value:g}"
                for name, value in (
                    ("requests per minute", quota.rpm),
                    ("tokens per minute", quota.tpm),
                    ("requests per day", quota.rpd),
                    ("no call for (s)", quota.pause_s),
                )
                if value is not None
            ),
        )
