"""The HTTP clients the model SDKs send through.

The Gemini SDK sends through aiohttp (`model_aiohttp_session`), a transport the SDK supports: its pool
hands out a connection in constant time and its C HTTP parser costs about a quarter of httpx2's CPU
per request (0.14 against 0.6 ms on this project's machine, 1,500 requests at 500 at once). The
OpenAI SDK only sends through httpx2 (`model_http_client`): its connections spread over several
small pools.

httpcore looks at every connection of its pool each time it assigns a request or a response ends
(pydantic/httpx2#1169 tracks making that incremental), and asks each idle one whether its socket is
readable. With a pool sized to thousands of concurrent model calls that scan cost more CPU than the
calls themselves (py-spy on bench_jobs.py: a third of the worker's time at 1,000 jobs). Several
pools of at most SHARD_SIZE connections, taken in turn, keep each scan short; each pool is still the
library's own transport.
"""

from __future__ import annotations

import itertools
import math
import urllib.parse
import urllib.request

import aiohttp
import httpx2

SHARD_SIZE = 64


class ShardedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, max_connections: int, shard_size: int = SHARD_SIZE) -> None:
        count = max(1, math.ceil(max_connections / shard_size))
        per_shard = math.ceil(max_connections / count)
        limits = httpx2.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self.shards = [httpx2.AsyncHTTPTransport(limits=limits) for _ in range(count)]
        self._next = itertools.cycle(self.shards)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self.shards:
            await shard.aclose()


def model_http_client(max_connections: int) -> httpx2.AsyncClient:
    """A client for `max_connections` model calls at once; the SDK applies its own timeouts. It follows
    no redirect: httpx2 would send a key header other than Authorization (Azure's `api-key`) on to
    another host (redirects.py)."""
    return httpx2.AsyncClient(
        transport=ShardedTransport(max_connections), timeout=None, follow_redirects=False
    )


def model_aiohttp_session(max_connections: int, url: str) -> aiohttp.ClientSession:
    """An aiohttp session for `max_connections` model calls at once to `url`'s server (call it on the
    running loop); the SDK applies its own timeouts. The proxy the environment names for `url` is read
    once, as httpx2 does: aiohttp's `trust_env` would read it, and ~/.netrc, on a thread for every
    request (0.15-0.2 ms of CPU a call)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=0), proxy=env_proxy(url)
    )


def env_proxy(url: str) -> str | None:
    """The proxy of `url`'s scheme in the environment (HTTP_PROXY, HTTPS_PROXY), unless NO_PROXY
    exempts its host: aiohttp's own rule (`helpers.get_env_proxy_for_url`), less ~/.netrc."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)
