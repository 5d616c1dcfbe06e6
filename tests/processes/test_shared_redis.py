"""The embedded Redis of a DATA_DIR with real processes: one server, outliving each of its users."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from testgen.core import shared_redis
from testgen.core.embedded_redis import free_port, is_alive_unix, redis_server_binary
from testgen.core.messages import NO_WORKER_RUNNING
from tests.support.harness import LONG_WAIT_S, ROOT, WAIT_S, wait_for_sync
from tests.support.procs import (
    Process,
    answers,
    embedded_env,
    redis_dir,
    redis_servers,
    run_testgen,
    stays,
    stop_embedded_redis,
    supervisors,
)

pytestmark = pytest.mark.slow

Racer = Callable[[dict[str, str]], subprocess.Popen[bytes]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory whose embedded Redis is stopped after the test (and checked to be gone)."""
    path = tmp_path / "data"
    yield path
    stop_embedded_redis(path)


# Each racer waits on its stdin for "go", attaches, prints the server's pid, and holds on until stdin closes.
RACER = textwrap.dedent(
    """
    import sys
    from testgen.core import shared_redis
    from testgen.core.config import Settings
    sys.stdin.readline()
    settings = Settings()
    user = shared_redis.attach(settings)
    print(shared_redis.read_pids(shared_redis.redis_dir(settings))["server"], flush=True)
    sys.stdin.read()
    user.close()
    """
)


@pytest.fixture
def racer(data_dir: Path, tmp_path: Path) -> Iterator[Callable[[dict[str, str]], subprocess.Popen[bytes]]]:
    """Starts RACER processes; kills any still running after the test (before data_dir stops Redis)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-c", RACER]
        proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_processes_starting_it_at_the_same_instant_get_one_server(data_dir: Path, racer: Racer) -> None:
    env = embedded_env(data_dir, EMBEDDED_REDIS_IDLE_S="1")
    racers = [racer(env) for _ in range(4)]
    for proc in racers:  # all are importing or waiting on stdin: release them together
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
    for proc in racers:
        assert proc.stdin is not None
        proc.stdin.flush()
    pids = {int(proc.stdout.readline()) for proc in racers if proc.stdout is not None}
    servers = redis_servers(data_dir)
    assert len(pids) == 1 and [p.pid for p in servers] == list(pids)
    assert len(supervisors(data_dir)) == 1
    assert shared_redis.live_users(redis_dir(data_dir)) == 4
    for proc in racers:
        assert proc.stdin is not None
        proc.stdin.close()
    assert [proc.wait(20) for proc in racers] == [0] * 4


def test_it_stops_by_itself_once_its_users_are_killed(data_dir: Path, racer: Racer) -> None:
    env = embedded_env(data_dir, EMBEDDED_REDIS_IDLE_S="1")
    user = racer(env)
    assert user.stdin is not None and user.stdout is not None
    user.stdin.write(b"go\n")
    user.stdin.flush()
    server_pid = int(user.stdout.readline())
    user.kill()  # no clean-up of its own: the kernel drops its lock
    user.wait()
    wait_for_sync(lambda: not redis_servers(data_dir) and not supervisors(data_dir), 20, "the orphan to stop")
    log = (data_dir / "redis.log").read_text()
    assert "(its users are gone); stopping it" in log
    assert f"{server_pid}:M" in log and "Redis is now ready to exit" in log
    assert not (data_dir / "redis.pid").exists() and (data_dir / "appendonly.aof").exists()


def test_api_keeps_redis_while_the_worker_restarts_and_says_when_no_worker_runs(
    data_dir: Path, tmp_path: Path
) -> None:
    """`testgen api` and `testgen worker` apart: the worker stopped and started three times never
    takes Redis from the API; a job queued while no worker runs says so, until a worker starts."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = embedded_env(data_dir, EMBEDDED_REDIS_IDLE_S="1")
    assert run_testgen("migrate", env=env, cwd=tmp_path).returncode == 0
    api = Process(["api", "--port", str(port)], env, tmp_path)
    worker: Process | None = None
    try:
        wait_for_sync(lambda: answers(f"{base}/health"), LONG_WAIT_S, "the API")
        http = httpx.Client(base_url=base, timeout=10)
        http.post("/projects", json={"name": "P"}).raise_for_status()
        for story in ("US-1", "US-2", "US-3", "US-4"):
            http.post("/user-stories", json={"id": story, "project_id": 1, "title": "t"}).raise_for_status()
        server = redis_servers(data_dir)
        assert len(server) == 1

        for round_, story in enumerate(("US-1", "US-2", "US-3", "US-4")):
            queued = http.post(f"/generate-test-cases/{story}/queue").json()
            assert queued["warning"] == NO_WORKER_RUNNING
            status = http.get(queued["status_url"]).json()
            assert status["status"] == "queued" and status["message"] == NO_WORKER_RUNNING
            assert status["warning"] == NO_WORKER_RUNNING

            worker = Process(["worker"], env, tmp_path)
            done = wait_for_sync(
                lambda url=queued["status_url"]: (s := http.get(url).json())["status"] == "completed" and s,
                60,
                f"{story} to complete once a worker runs",
            )
            assert done["warning"] is None and NO_WORKER_RUNNING not in done["message"]
            if round_ == 3:
                break
            worker.proc.send_signal(signal.SIGTERM)  # a routine restart
            assert worker.wait(30) == 0
            ready = http.get("/ready").json()
            assert ready["checks"]["redis"] == "ok", ready  # the API kept its Redis
            assert redis_servers(data_dir) == server  # the very same server
    finally:
        for proc in (worker, api):
            if proc is not None:
                proc.kill()


def test_a_vanished_server_is_started_again_and_ready_recovers(data_dir: Path, tmp_path: Path) -> None:
    """`testgen redis stop` under a running API: the API starts it again by itself, with its data."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = embedded_env(data_dir, EMBEDDED_REDIS_IDLE_S="1")
    assert run_testgen("migrate", env=env, cwd=tmp_path).returncode == 0
    api = Process(["api", "--port", str(port)], env, tmp_path)
    worker: Process | None = None
    try:
        wait_for_sync(lambda: answers(f"{base}/health"), LONG_WAIT_S, "the API")
        http = httpx.Client(base_url=base, timeout=10)
        http.post("/projects", json={"name": "P"}).raise_for_status()
        http.post("/user-stories", json={"id": "US-1", "project_id": 1, "title": "t"}).raise_for_status()
        queued = http.post("/generate-test-cases/US-1/queue").json()  # no worker: it waits in Redis
        [first] = redis_servers(data_dir)
        assert json.loads((data_dir / "redis.pid").read_text())["server"] == first.pid

        stop = run_testgen("redis", "stop", env=env, cwd=tmp_path)
        assert stop.returncode == 0 and "1 testgen process still uses it" in stop.stdout, stop.stdout
        redis = lambda: httpx.get(f"{base}/ready", timeout=5).json()["checks"]["redis"]  # noqa: E731
        wait_for_sync(lambda: redis() == "ok", LONG_WAIT_S, "/ready to say Redis is ok again")
        [second] = redis_servers(data_dir)
        assert second.pid != first.pid
        api.wait_for_line("The embedded Redis at .* was gone; started it again", WAIT_S)
        status = run_testgen("redis", "status", env=env, cwd=tmp_path)
        assert status.returncode == 0 and f"server pid {second.pid}" in status.stdout
        assert "used by 1 testgen process." in status.stdout

        worker = Process(["worker"], env, tmp_path)  # the queued job outlived the restart (append-only file)
        done = lambda: http.get(queued["status_url"]).json()["status"] == "completed"  # noqa: E731
        wait_for_sync(done, 60, "the job queued before the restart to complete")
    finally:
        for proc in (worker, api):
            if proc is not None:
                proc.kill()


def test_an_arq_cli_worker_counts_as_a_user(data_dir: Path, tmp_path: Path) -> None:
    """`arq workers.WorkerSettings` on the embedded Redis keeps it up once the API that started it is gone."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'testgen.db'}"
    env = embedded_env(data_dir, EMBEDDED_REDIS_IDLE_S="1", DATABASE_URL=database)
    assert run_testgen("migrate", env=env, cwd=tmp_path).returncode == 0
    port = free_port()
    api = Process(["api", "--port", str(port)], env, tmp_path)
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_for_sync(lambda: answers(f"http://127.0.0.1:{port}/health"), LONG_WAIT_S, "the API")
        [server] = redis_servers(data_dir)
        arq = [str(Path(sys.executable).parent / "arq"), "workers.WorkerSettings"]
        worker = subprocess.Popen(
            arq, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        rdir = redis_dir(data_dir)
        wait_for_sync(
            lambda: shared_redis.live_users(rdir) == 2, LONG_WAIT_S, "the arq worker to count as a user"
        )
        api.kill()
        wait_for_sync(lambda: shared_redis.live_users(rdir) == 1, 10, "the API to be gone")
        stays(lambda: redis_servers(data_dir) == [server], 3, "the server, with one user left")
        worker.kill()  # the last user: now it stops
        wait_for_sync(
            lambda: not redis_servers(data_dir), 20, "the server to stop once its last user is gone"
        )
    finally:
        api.kill()
        if worker is not None:
            worker.kill()
            worker.wait(10)


def test_an_unsupervised_server_on_the_socket_is_replaced_not_doubled(data_dir: Path, racer: Racer) -> None:
    """An orphan left by an older testgen (a bare redis-server on our socket, holding no lock) is shut
    down (it writes its append-only file) before the supervised one starts on the same files."""
    rdir = redis_dir(data_dir)
    data_dir.mkdir(parents=True)
    args = [str(redis_server_binary()), "--dir", str(rdir.data_dir), "--port", "0", "--save", ""]
    args += ["--unixsocket", str(rdir.socket), "--appendonly", "yes", "--logfile", str(data_dir / "old.log")]
    orphan = subprocess.Popen(
        args,
        start_new_session=True,
    )
    try:
        wait_for_sync(lambda: is_alive_unix(rdir.socket), 10, "the orphan to answer")
        env = embedded_env(data_dir, EMBEDDED_REDIS_IDLE_S="1")
        user = racer(env)
        assert user.stdin is not None and user.stdout is not None
        user.stdin.write(b"go\n")
        user.stdin.flush()
        server_pid = int(user.stdout.readline())
        assert orphan.wait(10) == 0  # it was asked to shut down, and did
        assert [p.pid for p in redis_servers(data_dir)] == [server_pid]
        user.stdin.close()
        user.wait(20)
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()
