"""The model-call pacing through each provider's real SDK against its fake server keeping a quota (the
fake answers 429 past it, in the vendor's documented shape): tokens a minute charged before a call and
corrected after, and what a quota 429 teaches every worker. The fake's window and the limiter's run on
one fake clock (`clock`), so no test waits for a real minute."""

from __future__ import annotations

import asyncio
import heapq
import time

import pytest
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.generation.llm.base import BatchRequest
from testgen.generation.llm.quota import Quota, gemini_quota, openai_quota
from testgen.generation.planning import plan_batches
from tests.support.fake_clock import FakeClock
from tests.support.model_servers import STORY, MakeProvider, ModelServer

LEARNED = "testgen:llm:rpm:{provider}:{model}:learned"
SETTLE_WAIT_S = 10.0  # a bound on waiting for a call to reach the server


class SettlingClock(FakeClock):
    """A fake clock that wakes its sleepers one at a time, earliest first, and moves to a sleeper's
    time only once every call the pacing let through by now (counted in Redis) has reached the fake
    server: the server's window and the limiter's see each call at the same moment, as on a real
    clock. `uncharged`: calls that reached the server without being charged (before a 429 taught a
    limit)."""

    def __init__(self, server: ModelServer, redis: Redis) -> None:
        super().__init__()
        self._server, self._redis = server, redis
        self._log = LEARNED.format(provider=server.name, model=server.model).removesuffix(":learned")
        self._sleepers: list[tuple[int, int]] = []  # (wake, order), a heap
        self._order = 0
        self.uncharged = 0

    async def _settled(self) -> bool:
        ahead = await self._redis.zcount(self._log, f"({self.ms}", "+inf")  # charged for later
        charged = int(await self._redis.get(f"{self._log}:seq") or 0) - ahead
        return self._server.fake.calls - self.uncharged >= charged

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._order += 1
        me = (self.ms + round(seconds * 1000), self._order)  # from when the sleep began
        heapq.heappush(self._sleepers, me)
        try:
            deadline = time.monotonic() + SETTLE_WAIT_S
            while self._sleepers[0] != me or not (
                me[0] <= self.ms or await self._settled() or time.monotonic() > deadline
            ):
                await asyncio.sleep(0.005)
        finally:
            self._sleepers.remove(me)
            heapq.heapify(self._sleepers)
        self.ms = max(self.ms, me[0])


@pytest.fixture
def clock(provider: ModelServer, redis: Redis) -> FakeClock:
    return SettlingClock(provider, redis)


def one_scenario_batches(n: int) -> list[BatchRequest]:
    return plan_batches(STORY, n, 1, 1)


async def tokens_of_one_call(provider: ModelServer, make_provider: MakeProvider) -> int:
    """What the fake counts for one of these calls (its prompt and answer, as its usage says)."""
    await make_provider().generate_batch(one_scenario_batches(1)[0])
    usage = provider.fake.requests[-1].usage
    assert usage is not None
    total = usage[provider.usage_fields[2]]
    provider.fake.reset()
    return total


@pytest.mark.parametrize("configured", [True, False], ids=["LLM_TPM set", "nothing set"])
async def test_tokens_a_minute_keep_two_workers_under_the_quota(
    provider: ModelServer, make_provider: MakeProvider, clock: FakeClock, redis: Redis, configured: bool
) -> None:
    """A quota of 3 calls' tokens a minute and 8 calls from two workers. With LLM_TPM at the quota,
    each call is charged its estimate before it is sent: none is refused, and the calls wait for the
    window instead. With nothing set, the first 429 names the token quota (Gemini's QuotaFailure,
    OpenAI's x-ratelimit-limit-tokens) and every worker paces to it from then on."""
    per_call = await tokens_of_one_call(provider, make_provider)
    quota = per_call * 3 + per_call // 2
    provider.fake.enforce(tpm=quota, window_s=60.0, now=lambda: clock.ms / 1000)
    workers = [make_provider(llm_tpm=quota if configured else 0, llm_max_attempts=5) for _ in range(2)]

    plan = one_scenario_batches(8)
    results = await asyncio.gather(*(workers[n % 2].generate_batch(b) for n, b in enumerate(plan)))

    assert all(len(r.test_cases) == 1 for r in results)
    assert any(s >= 60.0 for s in clock.sleeps)  # waited for the window (or the quota's reset)
    key = LEARNED.format(provider=provider.name, model=provider.model)
    if configured:
        assert provider.fake.quota_refusals == 0
        assert await redis.exists(key) == 0  # nothing to learn
    else:
        assert provider.fake.quota_refusals >= 1
        assert int(await redis.hget(key, "tpm") or 0) == quota


async def test_a_quota_429_paces_every_worker(
    provider: ModelServer, make_provider: MakeProvider, clock: FakeClock, redis: Redis
) -> None:
    """Nothing configured and a quota of 2 requests a minute: the third call is refused once, waits
    the quota's reset and goes. From then on another worker paces to the 2 requests a minute it
    learned: its 3 calls at once wait for the window instead of being refused."""
    provider.fake.enforce(rpm=2, window_s=60.0, now=lambda: clock.ms / 1000)
    first, second = make_provider(), make_provider()
    for batch in one_scenario_batches(3):
        await first.generate_batch(batch)
    assert provider.fake.quota_refusals == 1
    assert isinstance(clock, SettlingClock)
    clock.uncharged = 3  # the calls before the 429 taught the limit
    learned = await redis.hgetall(LEARNED.format(provider=provider.name, model=provider.model))
    assert learned[b"rpm"] == b"2" and float(learned[b"until"]) > 0
    assert 59.0 <= clock.sleeps[0] <= 60.05  # the reset the 429 gave, not a blind backoff

    results = await asyncio.gather(*(second.generate_batch(b) for b in one_scenario_batches(3)))
    assert all(len(r.test_cases) == 1 for r in results)
    assert provider.fake.quota_refusals == 1 and provider.fake.calls == 7


async def test_limits_need_redis(provider: ModelServer) -> None:
    settings = Settings(_env_file=None, **{**provider.values(), "llm_tpm": 1000})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="LLM_TPM"):
        provider.build(settings, None)


def test_gemini_quota_failure_details() -> None:
    """The documented shape: QuotaFailure violations and RetryInfo, in any order, among other details."""
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_input_token_count",
                    "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                    "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                    "quotaValue": "1000000",
                },
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model_per_day",
                    "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    "quotaValue": "250",
                },
                {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "oops"},
                "not a violation",
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.Help", "links": []},
    ]
    assert gemini_quota(details, 53.0) == Quota(tpm=1_000_000, rpd=250, pause_s=53.0)
    assert gemini_quota([], None) == Quota() and not Quota()
    hostile = [
        {"@type": "x/google.rpc.QuotaFailure", "violations": [{"quotaId": "PerMinute", "quotaValue": "-5"}]}
    ]
    assert gemini_quota(hostile, None) == Quota()
    assert gemini_quota([{"@type": "google.rpc.QuotaFailure", "violations": {"a": 1}}], 1.0) == Quota(
        pause_s=1.0
    )


def test_openai_rate_limit_headers() -> None:
    headers = {
        "x-ratelimit-limit-requests": "600",
        "x-ratelimit-limit-tokens": "300000",
        "x-ratelimit-remaining-requests": "12",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert openai_quota(headers, 360.0) == Quota(rpm=600, tpm=300_000, pause_s=360.0)
    # Tokens left but too few for the call: the tokens' reset, unless the server says retry-after.
    fewer = {**headers, "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "120ms"}
    assert openai_quota(fewer, 1.0).pause_s == pytest.approx(0.12)
    assert openai_quota({**fewer, "Retry-After": "2"}, 2.0).pause_s == 2.0
    assert openai_quota({"x-ratelimit-limit-requests": "lots"}, None) == Quota()
