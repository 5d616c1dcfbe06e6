"""Hostile and careless clients: stream tokens, key revocation, token expiries, malformed stream ids,
formula cells in CSV, keyless mode's host checks, security headers, strict numbers, short error bodies,
a burst of stream opens."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Limits
from pydantic import SecretStr

from testgen.api.app import create_app
from testgen.api.security import StreamTokens
from testgen.api.services.csv_cells import csv_cell
from testgen.core.config import Settings
from testgen.data import migrations
from tests.api.test_export import WEIRD_CASE, saved_story
from tests.support.helpers import STREAM_TOKEN_SECRET, make_story, queue, read_events

SECRET = STREAM_TOKEN_SECRET.encode()
ClientFactory = Callable[..., AbstractAsyncContextManager[AsyncClient]]


@pytest.fixture
def make_client(redis: object) -> ClientFactory:
    """A client of the app behind a real uvicorn (event streams need one: ASGITransport buffers)."""

    @asynccontextmanager
    async def make(settings: Settings) -> AsyncIterator[AsyncClient]:
        async with serve(create_app(settings)) as url, AsyncClient(base_url=url, timeout=10) as c:
            yield c

    return make


@asynccontextmanager
async def asgi_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    """In-process client (no streams): the app sees the address it is bound to as `t`."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """`app` behind a real uvicorn on 127.0.0.1 (with its lifespan and access log); yields the URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=True, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


def keyed(settings: Settings, keys: str) -> Settings:
    copy = settings.model_copy(update={"api_keys": SecretStr(keys)})
    copy.__dict__.pop("api_key_list", None)  # a cached property, copied along
    return copy


# --- 1. a stream token opens the event-stream routes only ---------------------------------------


async def test_a_stream_token_opens_event_streams_only(
    settings: Settings, make_client: ClientFactory
) -> None:
    auth = {"Authorization": "Bearer alpha-key-1234567"}
    async with make_client(keyed(settings, "alpha-key-1234567")) as client:
        client.headers.update(auth)
        await make_story(client, "events")  # a story whose id is `events`
        task = (await queue(client, "events"))["task_id"]
        token = (await client.post("/auth/stream-token")).json()["token"]
        client.headers.pop("Authorization")
        t = f"access_token={token}"
        assert (await client.patch(f"/user-stories/events?{t}", json={"title": "x"})).status_code == 401
        assert (await client.delete(f"/user-stories/events?{t}")).status_code == 401
        assert (await client.get(f"/user-stories/events?{t}")).status_code == 401
        assert (await client.get(f"/openapi.json?{t}")).status_code == 401
        assert (await client.get(f"/generate-test-cases/status/{task}?{t}")).status_code == 401
        # an event-stream path, but not GET
        assert (await client.post(f"/generate-test-cases/status/{task}/events?{t}")).status_code == 401
        # the event streams themselves
        for url in (
            f"/generate-test-cases/status/{task}/events",
            f"/generate-test-cases/events?task_id={task}",
        ):
            sep = "&" if "?" in url else "?"
            events = await read_events(client, f"{url}{sep}{t}", limit=1)
            assert events[0].event == "queued"
        story = await client.get("/user-stories/events", headers=auth)
        assert story.status_code == 200 and story.json()["title"] != "x"


# --- 11. tokens bound to their key, strict expiry -------------------------------------------------


async def test_removing_a_key_revokes_its_tokens_only(settings: Settings, make_client: ClientFactory) -> None:
    async with make_client(keyed(settings, "alpha-key-1234567,beta-key-1234567")) as client:
        client.headers["Authorization"] = "Bearer alpha-key-1234567"
        await make_story(client, "US-001")
        task = (await queue(client, "US-001"))["task_id"]
        tokens = {}
        for key in ("alpha-key-1234567", "beta-key-1234567"):
            client.headers["Authorization"] = f"Bearer {key}"
            tokens[key] = (await client.post("/auth/stream-token")).json()["token"]
    url = f"/generate-test-cases/status/{task}/events?access_token="
    async with make_client(keyed(settings, "beta-key-1234567,gamma-key-1234567")) as client:
        assert (await client.get(url + tokens["alpha-key-1234567"])).status_code == 401  # its key is gone
        assert (await read_events(client, url + tokens["beta-key-1234567"], limit=1))[0].event == "queued"


@pytest.mark.parametrize(
    "expiry",
    ["9" * 5000, "\uff11\uff12\uff13", "²", "-1", "+99999999999", " 99999999999", "9" * 13, ""],
)
def test_a_token_expiry_is_parsed_strictly(expiry: str) -> None:
    tokens = StreamTokens(["alpha-key-1234567"], SECRET)
    ident = tokens.issue("alpha-key-1234567")[0].split(".")[0]
    forged = f"{ident}.{expiry}.{StreamTokens._sign(tokens.secrets[ident], ident, 0)}"
    assert tokens.owner(forged) is None  # never an exception


async def test_a_huge_token_expiry_is_401_not_500(settings: Settings, make_client: ClientFactory) -> None:
    async with make_client(keyed(settings, "alpha-key-1234567")) as client:
        for token in (f"{'9' * 5000}.x", f"0123456789abcdef.{'9' * 5000}.x"):
            r = await client.get(f"/generate-test-cases/events?task_id=x&access_token={token}")
            assert r.status_code == 401


# --- 4. malformed Last-Event-ID: never 500, never logged whole -------------------------------------

HOSTILE_IDS = [
    "99999999999999999999999-0",
    "1-99999999999999999999999",
    "1_000-0",
    "18446744073709551616-0",
    "9" * 4000 + "-0",
    f"{2**64 - 1}-{2**64 - 1}",  # in range, but Redis cannot read after the last possible id
]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_malformed_stream_ids_are_ignored(
    hostile: str, http: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await make_story(http, "US-001")
    task = (await queue(http, "US-001"))["task_id"]
    single = f"/generate-test-cases/status/{task}/events"
    multi = f"/generate-test-cases/events?task_id={task}"
    for url, cursor in ((single, hostile), (multi, hostile), (multi, f"{task}={hostile}")):
        sep = "&" if "?" in url else "?"
        events = await read_events(http, f"{url}{sep}last_event_id={quote(cursor)}", limit=1)
        assert events[0].event == "queued"  # ignored: read from the start
        async with http.stream("GET", url, headers={"Last-Event-ID": cursor.encode()}) as r:
            assert r.status_code == 200
    assert hostile not in caplog.text


async def test_a_cursor_outside_printable_ascii_is_refused(http: AsyncClient) -> None:
    """Arabic-Indic digits: int() takes them, Redis does not; no id the service sends holds them."""
    await make_story(http, "US-001")
    task = (await queue(http, "US-001"))["task_id"]
    for url in (f"/generate-test-cases/status/{task}/events", f"/generate-test-cases/events?task_id={task}"):
        sep = "&" if "?" in url else "?"
        r = await http.get(f"{url}{sep}last_event_id={quote('١٢٣-0')}")
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "last_event_id"]


# --- 3. multiplexed ids do not grow with the number of jobs ----------------------------------------


async def test_multiplexed_ids_name_only_the_job_that_changed(http: AsyncClient) -> None:
    tasks = []
    for i in range(30):
        await make_story(http, f"US-{i:03d}", project="Shop")
        tasks.append((await queue(http, f"US-{i:03d}"))["task_id"])
    url = "/generate-test-cases/events?" + "&".join(f"task_id={t}" for t in tasks)
    events = await read_events(http, url, limit=30)
    assert {e.data["task_id"] for e in events} == set(tasks)
    for event in events:
        task, _, entry = event.id.partition("=")
        assert task == event.data["task_id"] and ";" not in entry
    one = await read_events(http, f"/generate-test-cases/events?task_id={tasks[0]}", limit=1)
    assert len(events[0].id) == len(one[0].id)  # the same size whatever the number of jobs
    # resuming from the positions of the first 10 jobs replays only the other 20
    cursor = ";".join(e.id for e in events[:10])
    rest = await read_events(http, url, last_event_id=cursor, limit=20)
    assert {e.data["task_id"] for e in rest} == set(tasks) - {e.data["task_id"] for e in events[:10]}


# --- 5. CSV formula injection ---------------------------------------------------------------------


def test_formula_cells_are_neutralised() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(text) == "'" + text
    for text in ("plain", "a=b", " =x", "", "'quoted"):
        assert csv_cell(text) == text
    assert csv_cell(42) == 42


async def test_csv_export_neutralises_formulas(client: AsyncClient, worker: object) -> None:
    case = {
        **WEIRD_CASE,
        "title": '=HYPERLINK("http://evil.example","click")',
        "scenarios": [
            {"title": "+cmd|' /C calc'!A0", "given": ["@SUM(1)"], "when": ["-2+3"], "then": ["ok"]}
        ],
    }
    await saved_story(client, [case])
    r = await client.get("/user-stories/WEIRD-1/test-cases/export?format=csv")
    [header, row] = list(csv.reader(io.StringIO(r.text, newline="")))
    record = dict(zip(header, row, strict=True))
    assert record["title"] == "'" + case["title"]
    assert record["scenario"] == "'+cmd|' /C calc'!A0"
    assert record["given"] == "'@SUM(1)" and record["when"] == "'-2+3" and record["then"] == "ok"


# --- 6. keyless mode: Host, Origin, JSON bodies -----------------------------------------------------


async def test_keyless_mode_checks_the_host(settings: Settings, make_client: ClientFactory) -> None:
    async with asgi_client(settings) as client:
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "t"):  # `t`: the address bound
            assert (await client.get("/projects", headers={"Host": host})).status_code == 200, host
        r = await client.get("/projects", headers={"Host": "rebound.evil.example"})
        assert r.status_code == 400 and "ALLOWED_HOSTS" in r.json()["detail"]
        assert (await client.get("/health", headers={"Host": "rebound.evil.example"})).status_code == 400
    settings.allowed_hosts = "qa.internal"
    async with asgi_client(settings) as client:
        assert (await client.get("/projects", headers={"Host": "qa.internal:8000"})).status_code == 200
    async with asgi_client(keyed(settings, "alpha-key-1234567")) as client:  # with keys, a key is the guard
        r = await client.get("/health", headers={"Host": "testgen.example.com"})
        assert r.status_code == 200


async def test_keyless_mode_refuses_other_sites(settings: Settings, make_client: ClientFactory) -> None:
    async with asgi_client(settings) as client:
        await make_story(client, "US-001")
        url = "/generate-test-cases/US-001/queue"
        evil = {"Origin": "https://evil.example"}
        r = await client.post(url, headers=evil)
        assert r.status_code == 403 and "CORS_ORIGINS" in r.json()["detail"]
        assert (await client.post(url, headers={"Origin": "null"})).status_code == 403
        assert (await client.delete("/user-stories/US-001", headers=evil)).status_code == 403
        r = await client.post(url, headers={"Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        r = await client.post(url, headers={"Sec-Fetch-Site": "same-site"})  # another port of localhost
        assert r.status_code == 403
        assert (await client.get("/projects", headers=evil)).status_code == 200  # reads: CORS decides
        # a text/plain POST (what a form or no-cors fetch can send) is refused, even with no body
        r = await client.post(url, headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and "application/json" in r.json()["detail"]
        r = await client.post(url, content=b'{"num_test_cases": 1}', headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        assert (await client.get("/generate-test-cases/status/x")).status_code == 404
        # the page itself (same origin) and clients that send no Origin (CLI, curl) work
        r = await client.post(url, headers={"Origin": "http://t", "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 202
    settings.cors_origins = "https://qa.example.org"
    async with asgi_client(settings) as client:
        await make_story(client, "US-002")
        r = await client.post(
            "/generate-test-cases/US-002/queue", headers={"Origin": "https://qa.example.org"}
        )
        assert r.status_code == 202


# --- 7. secrets in the access log ---------------------------------------------------------------


async def test_stream_tokens_never_reach_the_access_log(
    settings: Settings, redis: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    app = create_app(keyed(settings, "alpha-key-1234567"))
    async with serve(app) as url, AsyncClient(base_url=url, timeout=10) as http:
        auth = {"Authorization": "Bearer alpha-key-1234567"}
        token = (await http.post("/auth/stream-token", headers=auth)).json()
        r = await http.get(f"/generate-test-cases/events?task_id=nope&access_token={token['token']}&x=1")
        assert r.status_code == 404
        async with asyncio.timeout(10):
            while "task_id=nope" not in caplog.text:
                await asyncio.sleep(0.01)
        for name in ("access%5Ftoken", "access%5ftoken", "%61ccess_token", "access%255Ftoken"):
            r = await http.get(f"/generate-test-cases/events?task_id=other&{name}={token['token']}")
            assert r.status_code == 401, name  # only `access_token` spelt so carries a token
        async with asyncio.timeout(10):
            while "task_id=other&access%255Ftoken" not in caplog.text:
                await asyncio.sleep(0.01)
    assert token["token"] not in caplog.text
    assert "access_token=[redacted]&x=1" in caplog.text
    assert "access%5Ftoken=[redacted]" in caplog.text


# --- 8. DATA_DIR moves the default database ------------------------------------------------------


async def test_two_data_dirs_share_nothing(tmp_path: Path, redis_url: str, redis: object) -> None:
    def settings_in(name: str) -> Settings:
        return Settings(_env_file=None, redis_url=redis_url, data_dir=tmp_path / name)  # type: ignore[call-arg]

    one, two = settings_in("one"), settings_in("two")
    assert one.database_url == f"sqlite+aiosqlite:///{tmp_path / 'one' / 'testgen.db'}"
    assert one.database_url != two.database_url
    for settings in (one, two):
        await asyncio.to_thread(migrations.upgrade, settings.database_url)
    app_one, app_two = create_app(one), create_app(two)
    async with (
        app_one.router.lifespan_context(app_one),
        app_two.router.lifespan_context(app_two),
        AsyncClient(transport=ASGITransport(app=app_one), base_url="http://t") as first,
        AsyncClient(transport=ASGITransport(app=app_two), base_url="http://t") as second,
    ):
        await make_story(first, "US-001")
        assert (await second.get("/user-stories")).json() == []
        assert (await second.get("/user-stories/US-001")).status_code == 404
    assert (tmp_path / "one" / "testgen.db").exists()


# --- 9. security headers ---------------------------------------------------------------------------


async def test_security_headers(client: AsyncClient) -> None:
    for url in ("/", "/static/app.js", "/projects", "/nope"):
        r = await client.get(url)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
    docs = await client.get("/docs")  # Swagger UI comes from a CDN: only the framing rule there
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"


# --- 10. strict types, short error bodies -----------------------------------------------------------


async def test_request_bodies_take_numbers_as_numbers(client: AsyncClient) -> None:
    await make_story(client, "US-001")
    for bad in ("3", True, 3.5, "three"):
        r = await client.post("/generate-test-cases/US-001/queue", json={"num_test_cases": bad})
        assert r.status_code == 422, bad
    r = await client.post(
        "/user-stories", json={"id": "US-002", "title": "t", "project_id": "1", "acceptance_criteria": []}
    )
    assert r.status_code == 422
    assert (
        await client.post("/generate-test-cases/US-001/queue", json={"num_test_cases": 3})
    ).status_code == 202


async def test_error_bodies_do_not_echo_long_input(client: AsyncClient) -> None:
    long = "x" * 100_000
    for body in (
        {"id": "US-1", "title": long},  # too long
        {"id": long, "title": "t"},  # bad pattern and too long
        {"id": "US-1", "title": "t", "acceptance_criteria": [long] * 3},
        {"id": "US-1", "title": "t", long: 1},
    ):
        r = await client.post("/user-stories", json=body)
        assert r.status_code in (201, 422)
        assert "x" * 300 not in r.text and len(r.text) < 5_000, r.text[:500]
    r = await client.post("/generate-test-cases/US-1/queue", json={"num_test_cases": 1, long: 1})
    assert r.status_code in (404, 422) and "x" * 300 not in r.text


# --- 2. a burst of stream opens does not lock others out -------------------------------------------


@pytest.mark.slow
async def test_a_burst_of_stream_opens_leaves_the_database_to_others(
    settings: Settings, redis: object
) -> None:
    """100 streams of 200 jobs each, opened at once and never read; `GET /projects` keeps answering
    while they open (counted; its latency target is measured by bench/bench_stream_burst.py)."""
    settings.max_streams_per_key = 0
    settings.rate_limit_per_minute = 0
    app = create_app(settings)
    deadline = asyncio.timeout(180)  # a generous deadline for the whole test: it fails, never hangs
    async with deadline, serve(app) as url:  # noqa: SIM117 (the client is reused after the burst)
        async with AsyncClient(base_url=url, timeout=30) as http:
            tasks = await _queued_jobs(http, 200)
            query = "&".join(f"task_id={t}" for t in tasks)
            answered: list[int] = []  # GET /projects answers while the streams open
            opened: list[int] = []
            burst_over = asyncio.Event()

            async def hold_stream(client: AsyncClient) -> None:
                async with client.stream("GET", f"/generate-test-cases/events?{query}") as r:
                    opened.append(r.status_code)
                    await burst_over.wait()  # never read: the body stays in the buffers

            async def measure() -> None:
                while not burst_over.is_set():
                    r = await http.get("/projects")
                    assert r.status_code == 200
                    answered.append(r.status_code)

            limits = Limits(max_connections=200, max_keepalive_connections=0)
            async with AsyncClient(base_url=url, timeout=60, limits=limits) as streams:
                holders = [asyncio.create_task(hold_stream(streams)) for _ in range(100)]
                measuring = asyncio.create_task(measure())
                async with asyncio.timeout(60):
                    while len(opened) < 100:
                        await asyncio.sleep(0.05)
                burst_over.set()
                await asyncio.gather(*holders, measuring)
            assert opened == [200] * 100
            assert (await http.get("/ready")).status_code in (200, 503)  # 503 only for "no worker"
            assert (await http.get("/ready")).json()["checks"]["database"] == "ok"
    assert len(answered) >= 5, "the streams held the database while they opened"


async def _queued_jobs(http: AsyncClient, count: int) -> list[str]:
    await http.post("/projects", json={"name": "Burst"})
    project = (await http.get("/projects")).json()[0]["id"]
    tasks = []
    for i in range(count):
        story = {"id": f"B-{i}", "project_id": project, "title": "t", "acceptance_criteria": ["a"]}
        assert (await http.post("/user-stories", json=story)).status_code == 201
        tasks.append((await http.post(f"/generate-test-cases/B-{i}/queue")).json()["task_id"])
    return tasks
