"""The `testgen` command.

Running the service: dev (everything at once), api, worker, migrate. Using a running service over
its HTTP API: generate (with a live progress bar), status, stories import.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testgen import heap, migrations, shared_redis
from testgen.client_commands import API_KEY_ENV, DEFAULT_API, run_client
from testgen.config import Settings
from testgen.logging_setup import configure_logging

logger = logging.getLogger("testgen.cli")

CLIENT_COMMANDS = ("generate", "status", "stories")


def _add_bind(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="testgen", description="Turn user stories into QA test cases.")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser(
        "dev",
        help="migrate, then run Redis (embedded unless REDIS_URL), the API and one worker",
        description="Migrate the database, start an embedded Redis (unless REDIS_URL is set), the API and "
        "one worker; Ctrl-C stops them all.",
    )
    _add_bind(dev)
    dev.add_argument("--no-seed", action="store_true", help="do not add the demo project and story")
    api = sub.add_parser(
        "api", help="run the HTTP API (uvicorn)", description="Run the HTTP API with uvicorn."
    )
    _add_bind(api)
    sub.add_parser(
        "worker",
        help="run one ARQ worker (same as `arq workers.WorkerSettings`)",
        description="Run one ARQ worker (same as `arq workers.WorkerSettings`).",
    )
    sub.add_parser(
        "migrate", help="apply database migrations (alembic upgrade head)", description="alembic upgrade head"
    )
    _add_redis_commands(sub)
    _add_client_commands(sub)
    return parser


def _add_redis_commands(sub: Any) -> None:
    redis = sub.add_parser(
        "redis",
        help="the embedded Redis of DATA_DIR: status, stop",
        description="With REDIS_URL unset, the API, workers and `testgen dev` share one embedded Redis per "
        "DATA_DIR: the first one to need it starts it, and it stops by itself once none of them has used "
        "it for EMBEDDED_REDIS_IDLE_S seconds. Its data (an append-only file) stays in DATA_DIR.",
    )
    redis_sub = redis.add_subparsers(dest="redis_command", required=True)
    redis_sub.add_parser(
        "status",
        help="say whether it runs, its pids and how many testgen processes use it",
        description="Say whether the embedded Redis of DATA_DIR runs, its pids and how many testgen "
        "processes use it. Exits 0 when it runs, 1 when not.",
    )
    redis_sub.add_parser(
        "stop",
        help="stop it now (testgen processes still using it start it again)",
        description="Stop the embedded Redis of DATA_DIR now; its data is kept. testgen processes that "
        "still use it start it again within seconds. Exits 1 when none was running.",
    )
    serve = redis_sub.add_parser(
        "serve",
        help="run it in the foreground (testgen starts this by itself; you need not)",
        description="Run the embedded Redis of DATA_DIR under a supervisor that stops it once no testgen "
        "process has used it for EMBEDDED_REDIS_IDLE_S seconds. testgen starts this by itself.",
    )
    serve.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--socket", type=Path, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--idle-s", type=float, default=None, help=argparse.SUPPRESS)


def run_redis(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.uses_embedded_redis:
        print("REDIS_URL is set: testgen uses that Redis, not an embedded one.")
        return 1
    if args.redis_command == "serve":
        data_dir = args.data_dir or settings.data_dir
        socket = args.socket or settings.embedded_redis_socket
        idle_s = args.idle_s if args.idle_s is not None else settings.embedded_redis_idle_s
        return shared_redis.serve(data_dir, socket, idle_s)
    rdir = shared_redis.redis_dir(settings)
    ok, message = shared_redis.status(rdir) if args.redis_command == "status" else shared_redis.stop(rdir)
    print(message)
    return 0 if ok else 1


def _add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api", default=DEFAULT_API, metavar="URL", help=f"the testgen API to use (default {DEFAULT_API})"
    )
    parser.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help=f"API key, when the server sets API_KEYS (default: ${API_KEY_ENV})",
    )


def _add_client_commands(sub: Any) -> None:
    generate = sub.add_parser(
        "generate",
        help="queue test case generation for a user story (--follow to watch it)",
        description="Queue test case generation for a user story on a running testgen API. With --follow, "
        "show a live progress bar, then the generated test cases; exit 0 when they are ready, 1 when the "
        "job failed or was cancelled.",
    )
    generate.add_argument("story_id", metavar="STORY_ID", help="the user story, e.g. US-001")
    generate.add_argument(
        "--test-cases", type=int, default=5, metavar="N", help="how many test cases (1-50, default 5)"
    )
    generate.add_argument(
        "--scenarios", type=int, default=3, metavar="N", help="scenarios per test case (1-10, default 3)"
    )
    generate.add_argument(
        "--follow", action="store_true", help="watch the progress live and print the result"
    )
    _add_api_options(generate)

    status = sub.add_parser(
        "status",
        help="show the state of a generation task",
        description="Show the state, progress and result (or error) of a generation task. Exits 1 when "
        "the task is unknown or the API cannot be reached.",
    )
    status.add_argument("task_id", metavar="TASK_ID", help="the task id that `testgen generate` printed")
    status.add_argument("--json", action="store_true", help="print the raw JSON status")
    _add_api_options(status)

    stories = sub.add_parser(
        "stories", help="manage user stories (import)", description="Manage user stories."
    )
    stories_sub = stories.add_subparsers(dest="stories_command", required=True)
    load = stories_sub.add_parser(
        "import",
        help="add many user stories from a JSON or CSV file",
        description="Add user stories from a file: a JSON list of stories (as POST /user-stories takes them) "
        "or a CSV file with the columns id,title,description,acceptance_criteria,priority,project_id "
        "(acceptance criteria separated by newlines or '|'). Stories that exist already are skipped. "
        "Exits 1 if any story could not be added.",
    )
    load.add_argument("file", metavar="FILE", type=Path, help="a .json or .csv file")
    load.add_argument(
        "--project-id", type=int, default=None, metavar="ID", help="project of the stories that name none"
    )
    _add_api_options(load)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in CLIENT_COMMANDS:
        return run_client(args)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        migrations.upgrade(settings.database_url)
        return 0
    if args.command == "api":
        return run_api(settings, args.host, args.port)
    if args.command == "worker":
        return run_worker(settings)
    if args.command == "redis":
        return run_redis(settings, args)
    return run_dev(settings, args.host, args.port, seed=not args.no_seed)


def run_api(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from testgen.main import create_app

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
    Server(config).run()
    return 0


def run_worker(settings: Settings) -> int:
    from testgen.arq_worker import WakeableWorker
    from testgen.jobs import worker_options

    redis = shared_redis.attach(settings)
    try:
        WakeableWorker(**worker_options(settings), ctx={"settings": settings, "own_process": True}).run()
    finally:
        if redis is not None:
            redis.close()
    return 0


async def _seed(settings: Settings) -> None:
    from testgen import repository
    from testgen.db import create_engine, create_sessionmaker
    from testgen.models import Project, UserStory

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
    """Everything in one terminal: the API and a worker as children, which share the embedded Redis
    of DATA_DIR (or REDIS_URL). The children are in their own process group, so a Ctrl-C reaches
    only us and we decide what they get; they die with us if we are killed."""
    migrations.upgrade(settings.database_url)
    if seed:
        asyncio.run(_seed(settings))
    base = [sys.executable, "-m", "testgen"]

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*base, *args], process_group=0, preexec_fn=shared_redis.die_with_parent(signal.SIGKILL)
        )

    api = spawn("api", "--host", host, "--port", str(port))
    worker = spawn("worker")
    children = [api, worker]
    signals: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGHUP, lambda signum, _frame: signals.append(signum))

    code = 0
    try:
        code = _announce_when_ready(settings, host, port, children, signals)
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
    settings: Settings, host: str, port: int, children: list[subprocess.Popen[bytes]], signals: list[int]
) -> int:
    """Print the URL once the API answers (not before: it would refuse the first click)."""
    import httpx

    probe = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/health"
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
    for child in (api, worker):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    handled = max(len(signals), 1)
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


# --- commands that use a running API ---------------------------------------------------------------
