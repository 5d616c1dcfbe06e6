"""What the tests and the benchmarks share: the repository root, a migrated database's Alembic config,
an arq worker on the current event loop, deadline-bound waits and per-process CPU and memory readings."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import psutil
from alembic.config import Config

from testgen.core.config import Settings
from testgen.worker.options import worker_options
from testgen.worker.wakeable import WakeableWorker

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 20.0  # generous: a deadline catches a hang, it is no speed target
LONG_WAIT_S = 60.0  # the same, for work that takes seconds even on a quiet machine

T = TypeVar("T")


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    return cfg


@asynccontextmanager
async def run_worker(settings: Settings, cls: type = WakeableWorker, **options: Any) -> AsyncIterator[Any]:
    """An arq worker (ours by default) with testgen's options, running on the current event loop."""
    w = cls(**{**worker_options(settings), **options}, ctx={"settings": settings}, handle_signals=False)
    task = asyncio.create_task(w.main())
    try:
        yield w
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if w.tasks:  # let arq finish recording results of jobs that just ended
            await asyncio.wait(list(w.tasks.values()), timeout=2)
        with contextlib.suppress(asyncio.CancelledError):
            await w.close()


async def wait_for(
    check: Callable[[], Any], *, what: str, timeout_s: float = WAIT_S, poll_s: float = 0.02
) -> Any:
    """Re-check a state until it holds (a truthy result, returned); fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        value = await result if inspect.isawaitable(result) else result
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g}s waiting for {what} (last: {value!r})")
        await asyncio.sleep(poll_s)


def wait_for_sync(
    check: Callable[[], T], timeout_s: float = WAIT_S, what: str = "a condition", poll_s: float = 0.05
) -> T:
    """wait_for for code outside an event loop (subprocesses)."""
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g}s waiting for {what} (last: {value!r})")
        time.sleep(poll_s)
    return value


def cpu_s(pids: Iterable[int]) -> float:
    """User + system CPU seconds the processes have used so far (those gone count nothing)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def rss_mb(pids: Iterable[int]) -> float:
    """The processes' resident memory summed, in MiB (those gone count nothing)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total / 2**20
