"""Helpers for tests that run testgen as real processes: their output, the embedded Redis they share."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from testgen.core import shared_redis
from testgen.core.config import Settings
from tests.support.harness import WAIT_S, wait_for_sync


def embedded_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a testgen process using the embedded Redis of `data_dir` (REDIS_URL unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "LLM_PROVIDER")}
    env |= {"NO_PROXY": "127.0.0.1,localhost", "DATA_DIR": str(data_dir), "LLM_PROVIDER": "offline"}
    return env | extra


def redis_dir(data_dir: Path) -> shared_redis.RedisDir:
    settings = Settings(_env_file=None, data_dir=data_dir, redis_url=None)  # type: ignore[call-arg]
    return shared_redis.redis_dir(settings)


def redis_servers(data_dir: Path) -> list[psutil.Process]:
    """The redis-server processes serving `data_dir` (Redis retitles itself `redis-server unixsocket:...`)."""
    socket = str(redis_dir(data_dir).socket)
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "redis-server" and socket in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def supervisors(data_dir: Path) -> list[psutil.Process]:
    wanted = str(redis_dir(data_dir).data_dir)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "serve" in cmd and "redis" in cmd and wanted in cmd:
            found.append(proc)
    return found


def stays(check: Callable[[], Any], window_s: float, what: str) -> None:
    """Watch that `check` holds for all of `window_s` (something that must NOT happen has no event
    to wait for: we look for it throughout a window, failing as soon as it shows)."""
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        assert check(), f"{what} did not last {window_s} s"
        time.sleep(0.05)


def answers(url: str) -> bool:
    """Whether `url` answers 200: at once False when nothing listens; a listening process that is
    slow to answer (a first request on a busy machine) is given WAIT_S."""
    try:
        return httpx.get(url, timeout=WAIT_S).status_code == 200
    except httpx.TransportError:
        return False


TESTGEN = [sys.executable, "-m", "testgen"]
ARQ = [str(Path(sys.executable).parent / "arq")]  # stock arq's command line, as the venv installs it


class Process:
    """A testgen command (or `program` with `args`) whose merged output is read line by line in the
    background."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: Path,
        *,
        own_group: bool = False,
        program: list[str] = TESTGEN,
    ) -> None:
        self.proc = subprocess.Popen(
            [*program, *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self._new.put(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first line (already seen or to come) matching `pattern`, within `timeout_s`."""
        regex = re.compile(pattern)
        for line in list(self.lines):
            if m := regex.search(line):
                return m
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout_s} s:\n{self.output[-3000:]}"
                )
            try:
                line = self._new.get(timeout=remaining)
            except queue.Empty:
                continue
            if m := regex.search(line):
                return m

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout_s} s:\n{self.output[-4000:]}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def stop_embedded_redis(data_dir: Path) -> None:
    """Stop the directory's server (as `testgen redis stop` does) and check that none is left."""
    shared_redis.stop(redis_dir(data_dir))
    wait_for_sync(
        lambda: not redis_servers(data_dir) and not supervisors(data_dir), 20, "the embedded Redis to stop"
    )


def run_testgen(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a short testgen command to its end; its output is captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "testgen", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
