"""Running the service: the API, a worker, or everything at once for development (`testgen dev`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from testgen.cli.processes import supervise
from testgen.core import embedded_redis, heap
from testgen.core.config import Settings
from testgen.core.presence import WORKER_FRESH_S, beat_age_s
from testgen.data import migrations

logger = logging.getLogger("testgen.cli")

TESTGEN = [sys.executable, "-m", "testgen"]


def run_api(settings: Settings, host: str, port: int, *, workers: int = 1, reuse_port: bool = False) -> int:
    """The API; with `workers` > 1, that many API processes sharing the port (SO_REUSEPORT)."""
    if workers > 1:
        command = [*TESTGEN, "api", "--host", host, "--port", str(port), "--reuse-port"]
        return supervise(command, workers, stop_timeout_s=15)

    import uvicorn

    from testgen.api.app import create_app

    app = create_app(settings)

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            heap.settle()

        async def shutdown(self, sockets: Any = None) -> None:
            """uvicorn waits for open connections: end the SSE streams (with a retry hint) first."""
            hub = getattr(app.state, "hub", None)
            if hub is not None:
                hub.close_streams()
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=5, log_config=None)
    Server(config).run(sockets=[_shared_socket(host, port)] if reuse_port else None)
    return 0


def _shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind too: the kernel spreads connections."""
    family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def check_worker(settings: Settings) -> int:
    """The worker's liveness probe: its heartbeat file is fresh."""
    if settings.worker_heartbeat_file is None:
        print(
            "testgen: error: set WORKER_HEARTBEAT_FILE (the worker touches it on every beat)", file=sys.stderr
        )
        return 2
    age = beat_age_s(settings.worker_heartbeat_file)
    if age is None or age > WORKER_FRESH_S:
        seen = "never" if age is None else f"{age:.0f} s ago"
        print(f"worker not alive: last heartbeat {seen} (limit {WORKER_FRESH_S} s)", file=sys.stderr)
        return 1
    print(f"worker alive: last heartbeat {age:.0f} s ago")
    return 0


def run_worker(settings: Settings, *, processes: int = 1) -> int:
    """One worker in this process; with `processes` > 1, that many `testgen worker` processes."""
    if processes > 1:
        return supervise([*TESTGEN, "worker"], processes, stop_timeout_s=settings.worker_shutdown_wait_s + 5)

    from testgen.worker.options import worker_options
    from testgen.worker.wakeable import WakeableWorker

    own = None
    if settings.uses_embedded_redis:
        own = embedded_redis.ensure(settings.data_dir, settings.embedded_redis_socket)
    try:
        WakeableWorker(**worker_options(settings), ctx={"settings": settings, "own_process": True}).run()
    finally:
        if own is not None:
            own.stop()
    return 0


async def _seed(settings: Settings) -> None:
    from testgen.core.database import create_engine, create_sessionmaker
    from testgen.data import repository
    from testgen.data.models import Project, UserStory

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            if await repository.list_stories(session, None, 1, 0):
                return
            project = Project(name="Demo shop", description="A demo project; delete it when you like")
            session.add(project)
            await session.flush()
            session.add(
                UserStory(
                    id="US-001",
                    project_id=project.id,
                    title="Log in with email and password",
                    description="As a registered shopper I want to log in so that I can see my orders.",
                    acceptance_criteria=[
                        "A shopper with a valid email and password reaches the order history page",
                        "A wrong password shows 'Email or password is incorrect' and stays on the login page",
                        "After 5 failed attempts in 15 minutes the account is locked for 15 minutes",
                    ],
                    priority="high",
                )
            )
            await session.commit()
            logger.info("Added the demo project and story US-001")
    finally:
        await engine.dispose()


def run_dev(settings: Settings, host: str, port: int, *, seed: bool) -> int:
    """Everything in one terminal. Children get REDIS_URL, so all of them share one Redis."""
    migrations.upgrade(settings.database_url)
    if seed:
        asyncio.run(_seed(settings))
    redis = None
    env = dict(os.environ)
    if settings.uses_embedded_redis:
        redis = embedded_redis.start(data_dir=settings.data_dir, unix_socket=settings.embedded_redis_socket)
        env["REDIS_URL"] = redis.url
    base = [sys.executable, "-m", "testgen"]
    children = [
        subprocess.Popen([*base, "api", "--host", host, "--port", str(port)], env=env),
        subprocess.Popen([*base, "worker"], env=env),
    ]
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(
        f"\n  testgen is running: http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)\n"
        "  Press Ctrl-C to stop.\n",
        flush=True,
    )
    code = 0
    try:
        while not stopping:
            if any(c.poll() is not None for c in children):
                logger.error("A testgen process exited; stopping the others")
                code = 1
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + max(settings.worker_shutdown_wait_s, 5) + 5
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if redis is not None:
            redis.stop()
    return code
