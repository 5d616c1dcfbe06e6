"""Shared plumbing for the benchmarks: a private Redis, a migrated SQLite DB, API/worker processes.

Everything is started on free ports / in a temp dir and torn down on exit; nothing touches ./data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from testgen.core import embedded_redis, heap  # noqa: E402
from testgen.core.config import Settings  # noqa: E402
from testgen.core.database import create_engine  # noqa: E402
from testgen.core.languages import detect_story_language  # noqa: E402
from testgen.data import migrations  # noqa: E402
from testgen.data.models import Project, UserStory  # noqa: E402
from tests.support.harness import cpu_s, rss_mb, run_worker  # noqa: E402, F401  (the benchmarks' share)

# The benchmarks are one client doing the work of many: the per-client limits are off.
NO_CLIENT_LIMITS = {"rate_limit_per_minute": 0, "max_jobs_in_flight_per_key": 0, "max_streams_per_key": 0}
CRITERIA = ["A reset link is emailed", "The link expires after 1 hour", "Old passwords are rejected"]


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Env:
    tmp: Path
    redis_url: str
    database_url: str

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "data_dir": self.tmp / "data",
            "llm_provider": "offline",
            "gemini_api_key": None,
            "api_keys": None,
            "log_level": "WARNING",
            **NO_CLIENT_LIMITS,
        }
        return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]

    def env_vars(self, **overrides: Any) -> dict[str, str]:
        """Environment for `python -m testgen api|worker` subprocesses."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "API_KEYS"))}
        env.update(
            REDIS_URL=self.redis_url,
            DATABASE_URL=self.database_url,
            DATA_DIR=str(self.tmp / "data"),
            LLM_PROVIDER="offline",
            LOG_LEVEL="WARNING",
            NO_PROXY="127.0.0.1,localhost",
        )
        env.update({k.upper(): str(v) for k, v in NO_CLIENT_LIMITS.items()})
        env.update({k.upper(): str(v) for k, v in overrides.items()})
        return env


@contextmanager
def environment(postgres_url: str | None = None) -> Iterator[Env]:
    """A private Redis (no persistence) and a freshly migrated database: SQLite in a temp dir, or,
    with `postgres_url` (any database URL of the server), a new database on that PostgreSQL server,
    dropped at the end."""
    raise_nofile()
    heap.settle()  # the benchmark's own clients should not stall for a full garbage collection either
    with tempfile.TemporaryDirectory(prefix="testgen-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = embedded_redis.start(data_dir=tmp / "redis", persist=False)
        try:
            with (
                fresh_postgres(postgres_url)
                if postgres_url
                else contextlib.nullcontext(f"sqlite+aiosqlite:///{tmp / 'bench.db'}")
            ) as url:
                with ThreadPoolExecutor(1) as pool:  # alembic's env.py calls asyncio.run()
                    pool.submit(migrations.upgrade, url).result()
                yield Env(tmp, server.url, url)
        finally:
            server.stop()


@contextmanager
def fresh_postgres(server_url: str) -> Iterator[str]:
    """A new, empty database `testgen_bench_<pid>` on the server of `server_url` (never a database
    someone else uses); yields its URL and drops it afterwards."""
    import asyncpg  # only the PostgreSQL runs need it

    url = make_url(server_url)
    name = f"testgen_bench_{os.getpid()}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def run(sql: str) -> None:  # on a thread of its own: the caller may be inside an event loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, execute(sql)).result()

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed_stories(database_url: str, n: int, prefix: str = "B") -> list[str]:
    """One project and `n` stories, inserted in bulk; returns the story ids."""
    engine = create_engine(database_url)
    ids = [f"{prefix}-{i:05d}" for i in range(n)]
    # As the API records it when a story is created (the stories differ only in their ids).
    detected = await detect_story_language(f"Story {ids[0]}", "", CRITERIA) if ids else None
    try:
        async with engine.begin() as conn:
            result = await conn.execute(insert(Project).values(name=f"bench {prefix}"))
            project_id = result.inserted_primary_key[0]  # type: ignore[index]
            rows = [
                {
                    "id": i,
                    "project_id": project_id,
                    "title": f"Story {i}",
                    "acceptance_criteria": CRITERIA,
                    "detected_language": detected,
                }
                for i in ids
            ]
            for start in range(0, len(rows), 500):
                await conn.execute(insert(UserStory), rows[start : start + 500])
    finally:
        await engine.dispose()
    return ids


def free_port() -> int:
    return embedded_redis.free_port()


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


@contextmanager
def subprocess_api(env: Env, **overrides: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m testgen api` on a free port; yields (base URL, process)."""
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "testgen", "api", "--port", str(port)],
        env=env.env_vars(**overrides),
        cwd=ROOT,
        preexec_fn=raise_nofile,
    )
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        stop(proc)


@contextmanager
def subprocess_worker(env: Env, **overrides: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [PYTHON, "-m", "testgen", "worker"], env=env.env_vars(**overrides), cwd=ROOT, preexec_fn=raise_nofile
    )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def sse_client(
    port: int, path: str, on_event: Callable[[str, str, float], None], ready: asyncio.Event | None = None
) -> None:
    """A raw HTTP/1.1 SSE reader: calls on_event(event, id, receive time) until the stream ends.

    It reads whole chunks and stamps each with one clock reading, so that thousands of clients in
    one process add as little as possible to the latencies they measure.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    ident, rest = "", b""
    try:
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"SSE {path}: {status!r}")
        while chunk := await reader.read(2**16):
            at = time.time()
            *lines, rest = (rest + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"id: "):
                    ident = line[4:].strip().decode()
                elif line.startswith(b"event: "):
                    on_event(line[7:].strip().decode(), ident, at)
                    if ready is not None:
                        ready.set()
                elif line == b"0\r":  # last chunk
                    return
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def stream_ms(entry_id: str) -> float:
    """The Redis server time (ms since the epoch) in a stream entry id."""
    return float(entry_id.partition("-")[0])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        print(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
