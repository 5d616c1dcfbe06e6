"""Per-client limits: requests per minute and jobs in flight shared through Redis by
every API process, open event streams per client; 429 with Retry-After and the setting's name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from httpx import ASGITransport, AsyncClient, Limits, Response

from testgen.api.app import create_app
from testgen.core.config import Settings
from tests.api.test_hardening import asgi_client, keyed, serve
from tests.support.harness import ROOT
from tests.support.helpers import make_story, queue, read_events


def assert_limited(r: Response, setting: str) -> None:
    assert r.status_code == 429, r.text
    assert setting in r.json()["detail"]
    assert 1 <= int(r.headers["retry-after"]) <= 60


class MinuteClock:
    """The per-minute limits' wall clock: 30 s into a minute, where it stays until a test moves it, so a
    test's requests all fall in one window however long they take."""

    def __init__(self) -> None:
        self.now = 1_800_000_030.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def limited_client(settings: Settings, clock: MinuteClock) -> AsyncIterator[AsyncClient]:
    """An in-process client of the app whose limits count in the minutes of `clock`."""
    app = create_app(settings, wall_clock=clock)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


@asynccontextmanager
async def two_processes(settings: Settings) -> AsyncIterator[tuple[AsyncClient, AsyncClient]]:
    """Two API instances on one Redis and one database, as two processes would be (on one clock)."""
    clock = MinuteClock()
    first, second = create_app(settings, wall_clock=clock), create_app(settings, wall_clock=clock)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        AsyncClient(transport=ASGITransport(app=first), base_url="http://t") as a,
        AsyncClient(transport=ASGITransport(app=second), base_url="http://t") as b,
    ):
        yield a, b


async def test_requests_per_minute(settings: Settings, redis: object) -> None:
    settings.rate_limit_per_minute = 5
    clock = MinuteClock()
    async with limited_client(settings, clock) as client:
        for _ in range(5):
            assert (await client.get("/projects")).status_code == 200
        limited = await client.get("/projects")
        assert_limited(limited, "RATE_LIMIT_PER_MINUTE")
        assert limited.headers["retry-after"] == "30"  # the rest of the minute
        assert_limited(await client.post("/projects", json={"name": "x"}), "RATE_LIMIT_PER_MINUTE")
        for _ in range(20):  # /health is exempt
            assert (await client.get("/health")).status_code == 200
        clock.now += 29.5  # still the same minute
        assert_limited(await client.get("/projects"), "RATE_LIMIT_PER_MINUTE")
        clock.now += 0.5  # the next minute counts afresh
        assert (await client.get("/projects")).status_code == 200


async def test_the_request_limit_is_per_api_key(settings: Settings, redis: object) -> None:
    settings = keyed(settings, "alpha-key-1234567,beta-key-1234567")
    settings.rate_limit_per_minute = 3
    alpha, beta = {"Authorization": "Bearer alpha-key-1234567"}, {"Authorization": "Bearer beta-key-1234567"}
    async with limited_client(settings, MinuteClock()) as client:
        for _ in range(3):
            assert (await client.get("/projects", headers=alpha)).status_code == 200
        assert_limited(await client.get("/projects", headers=alpha), "RATE_LIMIT_PER_MINUTE")
        assert (await client.get("/projects", headers=beta)).status_code == 200


async def test_two_api_processes_share_one_request_limit(settings: Settings, redis: object) -> None:
    settings.rate_limit_per_minute = 4
    async with two_processes(settings) as (a, b):
        for client in (a, b, a, b):
            assert (await client.get("/projects")).status_code == 200
        assert_limited(await a.get("/projects"), "RATE_LIMIT_PER_MINUTE")
        assert_limited(await b.get("/projects"), "RATE_LIMIT_PER_MINUTE")


async def test_jobs_in_flight_shared_by_two_processes(settings: Settings, redis: object) -> None:
    settings.max_jobs_in_flight_per_key = 2
    async with two_processes(settings) as (a, b):
        for story in ("US-1", "US-2", "US-3"):
            await make_story(a, story)
        first = await queue(a, "US-1")
        await queue(b, "US-2")
        r = await a.post("/generate-test-cases/US-3/queue")
        assert_limited(r, "MAX_JOBS_IN_FLIGHT_PER_KEY")
        assert (await b.post("/generate-test-cases/US-3/queue")).status_code == 429
        # asking again for a story's running job takes no new place
        assert (await b.post("/generate-test-cases/US-1/queue")).status_code == 200
        # a job that ends frees its place
        assert (await a.post(f"/generate-test-cases/{first['task_id']}/cancel")).status_code == 202
        assert (await b.post("/generate-test-cases/US-3/queue")).status_code == 202
        assert (await a.post("/generate-test-cases/US-1/queue")).status_code == 429


async def test_event_streams_per_client(settings: Settings, redis: object) -> None:
    settings.max_streams_per_key = 1
    app = create_app(settings)
    async with serve(app) as url, AsyncClient(base_url=url, timeout=10) as http:
        await make_story(http, "US-1")
        task = (await queue(http, "US-1"))["task_id"]
        events = f"/generate-test-cases/status/{task}/events"
        async with http.stream("GET", events) as held:
            assert held.status_code == 200
            second = await http.get(f"/generate-test-cases/events?task_id={task}")
            assert_limited(second, "MAX_STREAMS_PER_KEY")
        async with asyncio.timeout(10):  # the server notices the client left
            while app.state.hub.open_by("addr:127.0.0.1"):
                await asyncio.sleep(0.01)
        assert (await read_events(http, events, limit=1))[0].event == "queued"


async def test_a_burst_of_stream_opens_gets_exactly_the_limit(settings: Settings, redis: object) -> None:
    """Opens that arrive together are counted as they arrive, not once they have opened: of N at
    once, L are served and N - L are refused; a place comes back when its stream ends or fails."""
    limit, burst = 5, 60
    settings.max_streams_per_key = limit
    app = create_app(settings)
    pool = Limits(max_connections=burst + 10, max_keepalive_connections=burst + 10)
    async with serve(app) as url, AsyncClient(base_url=url, timeout=30, limits=pool) as http:
        await make_story(http, "US-1")
        task = (await queue(http, "US-1"))["task_id"]  # no worker: its streams stay open
        urls = [f"/generate-test-cases/status/{task}/events", f"/generate-test-cases/events?task_id={task}"]
        codes: list[int] = []
        release = asyncio.Event()

        async def open_one(i: int) -> None:
            async with http.stream("GET", urls[i % 2]) as response:
                codes.append(response.status_code)
                if response.status_code == 200:
                    await release.wait()  # held open until every answer is in
                else:
                    await response.aread()
                    assert_limited(response, "MAX_STREAMS_PER_KEY")

        opens = [asyncio.create_task(open_one(i)) for i in range(burst)]
        async with asyncio.timeout(30):
            while len(codes) < burst:
                await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*opens)
        assert codes.count(200) == limit and codes.count(429) == burst - limit, codes
        async with asyncio.timeout(10):  # the ended streams give their places back
            while app.state.hub.open_by("addr:127.0.0.1"):
                await asyncio.sleep(0.01)
        for _ in range(limit + 1):  # a stream that fails to open gives its place back at once
            assert (await http.get("/generate-test-cases/status/nope/events")).status_code == 404
            assert (await http.get("/generate-test-cases/events?task_id=nope")).status_code == 404
        assert app.state.hub.open_by("addr:127.0.0.1") == 0
        assert (await read_events(http, urls[0], limit=1))[0].event == "queued"


async def test_failed_authentications_per_address(settings: Settings, redis: object) -> None:
    settings = keyed(settings, "alpha-key-1234567")
    settings.auth_failures_per_minute = 3
    good, bad = {"Authorization": "Bearer alpha-key-1234567"}, {"Authorization": "Bearer guess-1234567"}
    clock = MinuteClock()
    app = create_app(settings, wall_clock=clock)
    elsewhere = ASGITransport(app=app, client=("10.0.0.2", 123))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
        AsyncClient(transport=elsewhere, base_url="http://t") as other,
    ):
        assert (await client.get("/projects", headers=bad)).status_code == 401
        assert (await client.get("/projects")).status_code == 401  # no key is a failure too
        assert (await client.get("/generate-test-cases/events?task_id=x&access_token=x")).status_code == 401
        assert_limited(await client.get("/projects", headers=bad), "AUTH_FAILURES_PER_MINUTE")
        # the rest of the minute, this address is refused unchecked, even with the right key
        assert_limited(await client.get("/projects", headers=good), "AUTH_FAILURES_PER_MINUTE")
        assert (await client.get("/health")).status_code == 200
        # other addresses are not affected
        assert (await other.get("/projects", headers=good)).status_code == 200
        assert (await other.get("/projects", headers=bad)).status_code == 401
        clock.now += 30  # the next minute: the address's key is checked again
        assert (await client.get("/projects", headers=good)).status_code == 200


async def test_two_api_processes_share_one_failed_authentication_limit(
    settings: Settings, redis: object
) -> None:
    settings = keyed(settings, "alpha-key-1234567")
    settings.auth_failures_per_minute = 2
    good, bad = {"Authorization": "Bearer alpha-key-1234567"}, {"Authorization": "Bearer guess-1234567"}
    async with two_processes(settings) as (a, b):
        assert (await a.get("/projects", headers=bad)).status_code == 401
        assert (await b.get("/projects", headers=bad)).status_code == 401
        assert_limited(await a.get("/projects", headers=bad), "AUTH_FAILURES_PER_MINUTE")
        for client in (a, b):
            assert_limited(await client.get("/projects", headers=good), "AUTH_FAILURES_PER_MINUTE")


async def test_failed_authentications_unlimited_when_off(settings: Settings, redis: object) -> None:
    settings = keyed(settings, "alpha-key-1234567")
    settings.auth_failures_per_minute = 0
    async with asgi_client(settings) as client:
        for _ in range(30):
            assert (await client.get("/projects")).status_code == 401
        assert (
            await client.get("/projects", headers={"Authorization": "Bearer alpha-key-1234567"})
        ).status_code == 200


def test_defaults_are_generous_and_documented() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.rate_limit_per_minute >= 600  # the page loads a status per running job
    assert defaults.max_jobs_in_flight_per_key >= 50
    assert defaults.max_streams_per_key >= 5  # the page needs one, the CLI one per --follow
    assert defaults.auth_failures_per_minute >= 10  # a few mistyped keys are not an attack
    example = (ROOT / ".env.example").read_text()
    security = (ROOT / "docs" / "security.md").read_text()
    for name in (
        "RATE_LIMIT_PER_MINUTE",
        "MAX_JOBS_IN_FLIGHT_PER_KEY",
        "MAX_STREAMS_PER_KEY",
        "AUTH_FAILURES_PER_MINUTE",
        "STREAM_TOKEN_SECRET",
        "ALLOWED_HOSTS",
    ):
        assert f"{name}=" in example and name in security, name
