"""Who the client is, behind the API's real uvicorn configuration (`testgen api`): the connection's
address unless FORWARDED_ALLOW_IPS lists the peer as a proxy; only then does X-Forwarded-For name the
client, for the per-client limits and the access log alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from httpx import AsyncClient
from pydantic import ValidationError
from redis.asyncio import Redis

from testgen.api.app import create_app
from testgen.cli.serve import api_config
from testgen.core.config import Settings
from testgen.core.redis_keys import limit_requests_key

ROTATING = [f"203.0.113.{n}" for n in range(1, 6)]  # what a client claims, a new address each time


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[AsyncClient]:
    """The API as `testgen api` serves it, on 127.0.0.1, and a client of it (connecting from 127.0.0.1)."""
    server = uvicorn.Server(api_config(create_app(settings), settings, "127.0.0.1", 0))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


async def request_buckets(redis: Redis) -> dict[str, int]:
    """Requests counted per client (RATE_LIMIT_PER_MINUTE's counters), whatever minute they fell in."""
    prefix, middle = limit_requests_key("", 0).split(":requests:")[0], ":requests:"
    counts: dict[str, int] = {}
    async for key in redis.scan_iter(match=f"{prefix}*{middle}*"):
        principal = key.decode().removeprefix(prefix).rsplit(middle, 1)[0]
        counts[principal] = counts.get(principal, 0) + int(await redis.get(key) or 0)
    return counts


async def access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The access log's lines of the requests to /projects, once there are `count` of them."""
    async with asyncio.timeout(10):
        while True:
            lines = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
            lines = [line for line in lines if '"GET /projects HTTP' in line]
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.01)


async def test_without_trusted_proxies_x_forwarded_for_changes_nothing(
    settings: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    assert settings.forwarded_allow_ip_list == []  # the default: no proxy is trusted
    async with api(settings) as client:
        for claimed in ROTATING:
            r = await client.get("/projects", headers={"X-Forwarded-For": claimed})
            assert r.status_code == 200
        lines = await access_lines(caplog, len(ROTATING))
    assert await request_buckets(redis) == {"addr:127.0.0.1": len(ROTATING)}  # one client, one bucket
    assert all(line.startswith("127.0.0.1:") for line in lines), lines
    assert not any("203.0.113." in line for line in lines)


async def test_a_trusted_proxy_names_the_client_right_most_untrusted_first(
    settings: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    settings.forwarded_allow_ips = "127.0.0.1, 10.0.0.0/8"  # this proxy, and another before it
    async with api(settings) as client:
        for claimed in ROTATING:
            assert (await client.get("/projects", headers={"X-Forwarded-For": claimed})).status_code == 200
        # The client wrote the first address; the proxies appended the others: the right-most that is
        # not a proxy is the client as the first proxy saw it.
        chain = "198.51.100.9, 192.0.2.44, 10.1.2.3"
        assert (await client.get("/projects", headers={"X-Forwarded-For": chain})).status_code == 200
        lines = await access_lines(caplog, len(ROTATING) + 1)
    assert await request_buckets(redis) == {f"addr:{a}": 1 for a in [*ROTATING, "192.0.2.44"]}
    assert [line.split(":", 1)[0] for line in lines] == [*ROTATING, "192.0.2.44"]


def test_forwarded_allow_ips_takes_addresses_and_networks_only() -> None:
    settings = Settings(_env_file=None, forwarded_allow_ips=" 10.0.0.7/24,::1 ,192.0.2.1")  # type: ignore[call-arg]
    assert settings.forwarded_allow_ip_list == ["10.0.0.0/24", "::1", "192.0.2.1"]
    with pytest.raises(ValidationError, match=r"FORWARDED_ALLOW_IPS lists 'proxy\.internal'"):
        Settings(_env_file=None, forwarded_allow_ips="10.0.0.1,proxy.internal")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not an IP address or network"):
        Settings(_env_file=None, forwarded_allow_ips="*")  # type: ignore[call-arg]
