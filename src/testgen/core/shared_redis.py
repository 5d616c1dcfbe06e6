"""The embedded Redis of a DATA_DIR, shared by every testgen process that uses it.

One server per data directory, whoever starts first, and it outlives each of its users:

- `redis.lock` (flock) serialises every start and stop decision for the directory.
- `redis.server.lock` is held (flock) by the supervisor and inherited by its redis-server for as long
  as either lives: "a server runs for this directory" is that lock being held, whatever the pids say.
  A start happens only under `redis.lock` after finding it free, so two servers never share files.
- `redis.pid` says which processes hold it (for `testgen redis status|stop`).
- `redis-users/*.user`: one file per process using the server, flocked for that process's lifetime.
  The kernel drops the lock when the process dies, even by SIGKILL, so the count is never stale.

The supervisor (`testgen redis serve`, started detached by the first user) runs redis-server as its
child, stops it when no user has been alive for `idle_s` seconds (saying so in `redis.log`), and
takes it down with itself if it is killed. Each user runs a watchdog thread that starts the server
again within a second or two if it vanished, so nobody has to restart after `testgen redis stop`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testgen.core.config import Settings
from testgen.core.embedded_redis import is_alive_unix, redis_server_binary
from testgen.core.orphans import die_with_parent

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 1.0
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
LOCK_WAIT_S = 2.0


class SharedRedisError(RuntimeError):
    """The embedded Redis could not be started or reached; the message says what to do."""


@dataclass(frozen=True)
class RedisDir:
    """The files of the embedded Redis of one data directory."""

    data_dir: Path
    socket: Path

    @classmethod
    def of(cls, data_dir: Path, socket_path: Path) -> RedisDir:
        return cls(data_dir.resolve(), socket_path)

    @property
    def lock(self) -> Path:
        return self.data_dir / "redis.lock"

    @property
    def server_lock(self) -> Path:
        return self.data_dir / "redis.server.lock"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def users(self) -> Path:
        return self.data_dir / "redis-users"

    @property
    def log(self) -> Path:
        return self.data_dir / "redis.log"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


@contextlib.contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on `path` for the block; with wait=False, yield False if it is taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the only descriptor releases the lock


def _held(path: Path) -> bool:
    """Whether some open file description holds a lock on `path` (this process's own ones included)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _take(fd: int, timeout_s: float) -> bool:
    """Lock `fd` exclusively, trying for up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


def server_running(rdir: RedisDir) -> bool:
    return _held(rdir.server_lock)


def live_users(rdir: RedisDir, *, prune: bool = False) -> int:
    """How many processes use the server now; `prune` deletes the files of dead ones."""
    count = 0
    for path in rdir.users.glob("*.user") if rdir.users.is_dir() else []:
        if _held(path):
            count += 1
        elif prune:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return count


def read_pids(rdir: RedisDir) -> dict[str, int]:
    try:
        raw = json.loads(rdir.pidfile.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in raw.items() if k in ("supervisor", "server") and isinstance(v, int)}


class _Registration:
    """This process's user file: locked, then renamed into place, so a pruner never sees it unlocked."""

    def __init__(self, rdir: RedisDir) -> None:
        rdir.users.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = rdir.users / f"{name}.new"
        self.fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.path = rdir.users / f"{name}.user"
        os.rename(tmp, self.path)

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)


def _shutdown_unsupervised(rdir: RedisDir) -> None:
    """A server answers on our socket without holding the server lock (left by an older testgen):
    ask it to shut down (it writes its append-only file first) so that only a supervised one runs."""
    logger.warning(
        "An unsupervised Redis answers at %s; shutting it down to start a supervised one", rdir.url
    )
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(rdir.socket))
        sock.sendall(b"SHUTDOWN\r\n")
        sock.recv(64)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while is_alive_unix(rdir.socket):
        if time.monotonic() > deadline:
            raise SharedRedisError(
                f"a Redis not started by testgen answers at {rdir.socket} and does not stop; stop it, "
                "or set REDIS_URL to use it"
            )
        time.sleep(0.05)


def _spawn_supervisor(rdir: RedisDir, idle_s: float, deadline: float) -> None:
    """Start `testgen redis serve` detached and wait until its server answers. Call under the lock."""
    with contextlib.suppress(FileNotFoundError):
        rdir.pidfile.unlink()
    if is_alive_unix(rdir.socket):
        _shutdown_unsupervised(rdir)
    with contextlib.suppress(FileNotFoundError):
        rdir.socket.unlink()
    args = [sys.executable, "-m", "testgen", "redis", "serve", "--data-dir", str(rdir.data_dir)]
    args += ["--socket", str(rdir.socket), "--idle-s", str(idle_s)]
    supervisor = subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the starter's process group: a Ctrl-C or killpg spares it
    )
    while time.monotonic() < deadline:
        if is_alive_unix(rdir.socket):
            logger.info("Embedded Redis started at %s (supervisor pid %d)", rdir.url, supervisor.pid)
            return
        if supervisor.poll() is not None:
            break
        time.sleep(0.02)
    if supervisor.poll() is None:
        supervisor.terminate()
    raise SharedRedisError(f"the embedded Redis did not start; see {rdir.log}")


def start_or_attach(rdir: RedisDir, idle_s: float, timeout_s: float = START_TIMEOUT_S) -> bool:
    """Make sure the directory's server runs and answers; True when this call started it."""
    rdir.data_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    while True:
        with _locked(rdir.lock):
            if not server_running(rdir):
                _spawn_supervisor(rdir, idle_s, deadline)
                return True
            if is_alive_unix(rdir.socket):
                return False
        # it runs but does not answer yet (its supervisor is between two states): ask again shortly
        if time.monotonic() > deadline:
            pids = read_pids(rdir)
            raise SharedRedisError(
                f"an embedded Redis for {rdir.data_dir} runs (pid {pids.get('server', '?')}) but does not "
                f"answer at {rdir.socket}; see {rdir.log}, or stop it with `testgen redis stop`"
            )
        time.sleep(0.1)


class SharedRedisUser:
    """This process uses the directory's embedded Redis: registered as a user, with a watchdog that
    starts the server again if it vanishes. `close()` unregisters; it never stops the server."""

    def __init__(self, rdir: RedisDir, idle_s: float) -> None:
        self.rdir = rdir
        self.idle_s = idle_s
        rdir.data_dir.mkdir(parents=True, exist_ok=True)
        self._registration = _Registration(rdir)
        try:
            if not start_or_attach(rdir, idle_s):
                logger.info("Using the embedded Redis already running at %s", rdir.url)
        except BaseException:
            self._registration.close()
            raise
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="embedded-redis-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            if is_alive_unix(self.rdir.socket):
                continue
            try:
                if start_or_attach(self.rdir, self.idle_s):
                    logger.warning("The embedded Redis at %s was gone; started it again", self.rdir.url)
            except (SharedRedisError, OSError) as exc:
                logger.error(
                    "The embedded Redis at %s is down and could not be restarted: %s", self.rdir.url, exc
                )

    def close(self) -> None:
        self._stop.set()
        self._watchdog.join(timeout=STOP_TIMEOUT_S + START_TIMEOUT_S)
        self._registration.close()


def redis_dir(settings: Settings) -> RedisDir:
    return RedisDir.of(settings.data_dir, settings.embedded_redis_socket)


def attach(settings: Settings) -> SharedRedisUser | None:
    """Use the embedded Redis when REDIS_URL is unset (starting it if needed); None otherwise."""
    if not settings.uses_embedded_redis:
        return None
    return SharedRedisUser(redis_dir(settings), settings.embedded_redis_idle_s)


# --- the supervisor: `testgen redis serve` ---------------------------------------------------------


def _server_args(rdir: RedisDir) -> list[str]:
    return [
        str(redis_server_binary()),
        "--dir",
        str(rdir.data_dir),
        "--protected-mode",
        "yes",
        "--port",
        "0",
        "--unixsocket",
        str(rdir.socket),
        "--unixsocketperm",
        "700",
        "--appendonly",
        "yes",
        "--save",
        "",
        "--logfile",
        str(rdir.log),
    ]


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: Redis flushes its append-only file, removes its socket and exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(data_dir: Path, socket_path: Path, idle_s: float) -> int:
    """Run the directory's redis-server until told to stop or no user is left for `idle_s` seconds."""
    rdir = RedisDir.of(data_dir, socket_path)
    rdir.data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(rdir.log)
    handler.setFormatter(logging.Formatter("%(process)d:S %(asctime)s testgen supervisor: %(message)s"))
    log = logging.getLogger("testgen.redis-supervisor")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    server_lock = os.open(rdir.server_lock, os.O_RDWR | os.O_CREAT, 0o600)
    if not _take(server_lock, LOCK_WAIT_S):  # our starter saw it free; a probe may hold it a moment
        log.warning("Another embedded Redis runs for %s; not starting a second one", rdir.data_dir)
        return 1
    stop = threading.Event()
    reason: list[str] = []

    def _on_signal(signum: int, _frame: Any) -> None:
        reason.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    process = subprocess.Popen(
        _server_args(rdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(server_lock,),  # the server holds the directory's lock too, for as long as it lives
        preexec_fn=die_with_parent(signal.SIGTERM),  # SIGTERM: it flushes its append-only file
    )
    rdir.pidfile.write_text(json.dumps({"supervisor": os.getpid(), "server": process.pid}))
    log.info(
        "Started redis-server (pid %d) at %s; stops %g s after its last user", process.pid, rdir.url, idle_s
    )
    idle_since: float | None = None
    next_look = 0.0
    code = 0
    while True:
        if stop.wait(0.1):
            log.info("Stopping the embedded Redis on request (%s)", reason[0] if reason else "signal")
            _stop_server(process)
            break
        if process.poll() is not None:  # looked at often: its users wait for us to go to start another
            log.warning("redis-server exited with code %s; its next user starts it again", process.returncode)
            code = 1
            break
        if time.monotonic() < next_look:
            continue
        next_look = time.monotonic() + WATCH_INTERVAL_S
        if live_users(rdir, prune=True):
            idle_since = None
            continue
        now = time.monotonic()
        idle_since = idle_since or now
        if now - idle_since < idle_s:
            continue
        with _locked(rdir.lock, wait=False) as locked:  # nobody may attach while we decide and stop
            if not locked:  # someone is attaching, or `testgen redis stop` runs: look again later
                continue
            if live_users(rdir):
                idle_since = None
                continue
            log.info(
                "No testgen process has used the embedded Redis for %g s (its users are gone); stopping it",
                idle_s,
            )
            _stop_server(process)
            _cleanup(rdir)
            os.close(server_lock)  # before redis.lock: whoever waits on it may start afresh at once
            log.info("Embedded Redis stopped")
            return 0
    _cleanup(rdir)
    log.info("Embedded Redis stopped")
    return code


def _cleanup(rdir: RedisDir) -> None:
    with contextlib.suppress(FileNotFoundError):
        rdir.pidfile.unlink()


# --- `testgen redis status|stop` -------------------------------------------------------------------


def status(rdir: RedisDir) -> tuple[bool, str]:
    if not server_running(rdir):
        return False, f"No embedded Redis runs for {rdir.data_dir}."
    pids = read_pids(rdir)
    answers = "answers" if is_alive_unix(rdir.socket) else "does NOT answer"
    users = live_users(rdir)
    return True, (
        f"Embedded Redis for {rdir.data_dir}: running (server pid {pids.get('server', '?')}, supervisor pid "
        f"{pids.get('supervisor', '?')}), {answers} at {rdir.url}; used by {users} testgen "
        f"process{'' if users == 1 else 'es'}."
    )


def stop(rdir: RedisDir) -> tuple[bool, str]:
    """Stop the directory's server (its append-only file is kept). Returns (stopped, message)."""
    if not rdir.data_dir.is_dir():
        return False, f"No embedded Redis runs for {rdir.data_dir}."
    with _locked(rdir.lock):
        if not server_running(rdir):
            return False, f"No embedded Redis runs for {rdir.data_dir}."
        pids = read_pids(rdir)
        target = pids.get("supervisor") or pids.get("server")
        if target is None:
            return False, f"The embedded Redis for {rdir.data_dir} runs but {rdir.pidfile} is unreadable"
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S + 5
        while server_running(rdir):
            if time.monotonic() > deadline:
                return False, f"The embedded Redis (pid {target}) did not stop; see {rdir.log}"
            time.sleep(0.05)
    users = live_users(rdir, prune=True)
    message = f"Stopped the embedded Redis for {rdir.data_dir} (its data is kept)."
    if users:
        message += (
            f" {users} testgen process{' still uses' if users == 1 else 'es still use'} it and will start "
            "it again; stop them first to keep it stopped."
        )
    return True, message
