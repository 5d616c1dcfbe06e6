"""Several copies of one command as child processes (`testgen api --workers N`, `testgen worker
--processes N`): SIGINT/SIGTERM are passed on, and a copy that dies is started again.

The copies run in a process group of their own, so a Ctrl-C in the terminal reaches only us and
each copy gets one SIGTERM from us (a second one is a second Ctrl-C: a worker then stops at once);
they get SIGTERM too if we are killed."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from testgen.core.metrics import MULTIPROC_ENV
from testgen.core.orphans import die_with_parent

logger = logging.getLogger("testgen.cli")

RESTART_DELAY_S = 1.0
MAX_RESTARTS_PER_MINUTE = 5  # past this, a copy is crashing at start-up: give up instead of looping


def supervise(
    command: list[str], copies: int, *, stop_timeout_s: float, env: dict[str, str] | None = None
) -> int:
    """Run `copies` of `command` (with environment `env`, default ours) until a signal; return 0
    after a clean stop, 1 after giving up."""

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, process_group=0, preexec_fn=die_with_parent(signal.SIGTERM), env=env)

    children = [start() for _ in range(copies)]
    logger.info("Started %d processes: %s", copies, " ".join(command[2:]))
    stopping = False
    restarts: list[float] = []
    signals: list[int] = []

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        signals.append(signum)

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, child in enumerate(children):
                if stopping or child.poll() is None:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > MAX_RESTARTS_PER_MINUTE:
                    logger.error("Processes keep exiting (%d restarts in a minute); stopping", len(restarts))
                    code = 1
                    stopping = True
                    break
                logger.warning("Process %d exited with %s; starting it again", child.pid, child.returncode)
                time.sleep(RESTART_DELAY_S)
                children[i] = start()
    finally:
        handled = len(signals)  # a signal after these is a second Ctrl-C: passed on too
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + stop_timeout_s
        while time.monotonic() < deadline and any(c.poll() is None for c in children):
            if len(signals) > handled:
                handled = len(signals)
                for child in children:
                    if child.poll() is None:
                        child.send_signal(signal.SIGTERM)
            time.sleep(0.05)
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


@contextmanager
def shared_metrics() -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh directory for prometheus-client's multiprocess mode and the environment that gives it
    to the copies (each writes its values there; a scrape adds them up); removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="testgen-metrics-"))
    try:
        yield directory, {**os.environ, MULTIPROC_ENV: str(directory)}
    finally:
        shutil.rmtree(directory, ignore_errors=True)
