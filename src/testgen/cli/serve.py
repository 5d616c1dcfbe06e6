"""Running the service: the API, a worker, or everything at once for development (`testgen dev`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from testgen.cli.processes import shared_metrics, supervise
from testgen.core import event_loop, heap, metrics, shared_redis
from testgen.core.config import Settings
from testgen.core.orphans import die_with_parent
from testgen.core.presence import WORKER_FRESH_S, beat_age_s

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger("testgen.cli")

TESTGEN = [sys.executable, "-m", "testgen"]


def run_api(settings: Settings, host: str, port: int, *, workers: int = 1, reuse_port: bool = False) -> int:
    """The API; with `workers` > 1, that many API processes sharing the port (SO_REUSEPORT)."""
    if workers > 1:
        command = [*TESTGEN, "api", "--host", host, "--port", str(port), "--reuse-port"]
        with shared_metrics() as (_, env):  # any of them answers /metrics with the sum of all
            return supervise(command, workers, stop_timeout_s=15, env=env)

    import uvicorn

    from testgen.mcp_server.mounted import create_app  # the API with its MCP server at /mcp

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

    config = api_config(app, settings, host, port)
    Server(config).run(sockets=[_shared_socket(host, port)] if reuse_port else None)
    return 0


# The request line and headers uvicorn reads (its default is 16 KiB): the longest request the API
# documents, a multiplexed event stream naming its most jobs with their cursors, fits.
MAX_REQUEST_HEAD_BYTES = 512 * 1024


def api_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings for the API. The client address (the per-client limits' and the access
    log's) is the connection's: X-Forwarded-For and X-Forwarded-Proto are read only from the proxies
    FORWARDED_ALLOW_IPS lists (taking the right-most address that is not one of them). uvicorn's own
    default trusts 127.0.0.1, so any process on the machine could claim any address."""
    import uvicorn

    proxies = settings.forwarded_allow_ip_list
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        timeout_graceful_shutdown=5,
        log_config=None,
        loop=event_loop.resolve(settings.event_loop),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )


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
        with shared_metrics() as (directory, env):
            server = None
            if settings.worker_metrics_port is not None:  # one port for all of them: the sum
                registry = metrics.multiprocess_registry(directory)
                server = metrics.serve(settings.worker_metrics_host, settings.worker_metrics_port, registry)
            try:
                wait = settings.worker_shutdown_wait_s + 5
                return supervise([*TESTGEN, "worker"], processes, stop_timeout_s=wait, env=env)
            finally:
                if server is not None:
                    server.shutdown()
                    server.server_close()

    from testgen.worker.options import worker_options
    from testgen.worker.wakeable import WakeableWorker

    asyncio.set_event_loop(event_loop.new_event_loop(settings.event_loop))
    redis = shared_redis.attach(settings)
    try:
        WakeableWorker(**worker_options(settings), ctx={"settings": settings, "own_process": True}).run()
    finally:
        if redis is not None:
            redis.close()
    return 0


async def _seed(settings: Settings) -> None:
    from testgen.core.database import create_engine, create_sessionmaker
    from testgen.data import repository
    from testgen.data.models import Project, UserStory
    from testgen.domain.stories import Priority

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
                    priority=Priority.high,
                )
            )
            await session.commit()
            logger.info("Added the demo project and story US-001")
    finally:
        await engine.dispose()


def run_dev(settings: Settings, host: str, port: int, *, seed: bool) -> int:
    """Everything in one terminal: the API and a worker as children, which share the embedded Redis
    of DATA_DIR (or REDIS_URL). The children are in their own process group, so a Ctrl-C reaches
    only us and we decide what they get; they die with us if we are killed."""
    from testgen.data import migrations  # alembic is slow to import: only for the commands using it

    migrations.upgrade(settings.database_url)
    if seed:
        asyncio.run(_seed(settings))
    base = [sys.executable, "-m", "testgen"]

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*base, *args], process_group=0, preexec_fn=die_with_parent(signal.SIGKILL))

    api = spawn("api", "--host", host, "--port", str(port))
    worker = spawn("worker")
    children = [api, worker]
    signals: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGHUP, lambda signum, _frame: signals.append(signum))

    code = 0
    try:
        code = _announce_when_ready(host, port, children, signals)
        while not signals and code == 0:
            if any(c.poll() is not None for c in children):
                logger.error("A testgen process exited; stopping the others")
                code = 1
                break
            time.sleep(0.2)
    finally:
        _stop_children(settings, api, worker, signals)
    return code


def _announce_when_ready(
    host: str, port: int, children: list[subprocess.Popen[bytes]], signals: list[int]
) -> int:
    """Print the URL once the API answers (not before: it would refuse the first click)."""
    import httpx

    target = "127.0.0.1" if host in ("0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    probe = f"http://{target}:{port}/health"
    deadline = time.monotonic() + 120
    while not signals and time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            logger.error("A testgen process exited while starting; stopping the others")
            return 1
        try:
            if httpx.get(probe, timeout=1, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        if not signals:
            logger.error("The API did not answer at %s within 120 s; stopping", probe)
            return 1
        return 0
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(
        f"\n  testgen is running: http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)\n"
        "  Press Ctrl-C to stop.\n",
        flush=True,
    )
    return 0


def _stop_children(
    settings: Settings, api: subprocess.Popen[bytes], worker: subprocess.Popen[bytes], signals: list[int]
) -> None:
    """SIGTERM both: the worker waits for its running jobs (it says how long and for how many). A
    second Ctrl-C (or SIGTERM) is passed on: the worker then stops at once and re-queues its jobs."""
    handled = len(signals)  # a signal after these is a second Ctrl-C (the first, if we stop on our own)
    for child in (api, worker):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + settings.worker_shutdown_wait_s + 15
    while time.monotonic() < deadline and any(c.poll() is None for c in (api, worker)):
        if len(signals) > handled:
            handled = len(signals)
            if worker.poll() is None:
                logger.warning("Stopping now: running jobs go back on the queue")
                worker.send_signal(signal.SIGTERM)
        time.sleep(0.05)
    for child in (api, worker):
        if child.poll() is None:
            child.kill()
        child.wait()


def run_redis(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.uses_embedded_redis:
        print("REDIS_URL (or REDIS_SENTINELS) is set: testgen uses that Redis, not an embedded one.")
        return 1
    if args.redis_command == "serve":
        data_dir = args.data_dir or settings.data_dir
        socket_path = args.socket or settings.embedded_redis_socket
        idle_s = args.idle_s if args.idle_s is not None else settings.embedded_redis_idle_s
        return shared_redis.serve(data_dir, socket_path, idle_s)
    rdir = shared_redis.redis_dir(settings)
    ok, message = shared_redis.status(rdir) if args.redis_command == "status" else shared_redis.stop(rdir)
    print(message)
    return 0 if ok else 1
