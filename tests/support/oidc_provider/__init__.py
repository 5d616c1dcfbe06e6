"""node-oidc-provider (provider.mjs, a certified OpenID Provider) as a process on 127.0.0.1 for the tests.

Its npm packages are installed once with `npm ci` (package-lock.json) into a cache directory named by
the lock file's hash, outside the repository; the script runs from there, next to its node_modules.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import LONG_WAIT_S

HERE = Path(__file__).resolve().parent
FILES = ("package.json", "package-lock.json")
NPM_CI_TIMEOUT_S = 300


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "testgen"


def installed() -> Path:
    """The directory holding provider.mjs and its node_modules; skips the test without node or npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the end-to-end OpenID Connect tests need Node 20+")
    digest = hashlib.sha256(b"".join((HERE / name).read_bytes() for name in FILES)).hexdigest()[:16]
    target = cache_root() / f"oidc-provider-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time, across processes
        if not (target / "node_modules" / "oidc-provider").is_dir():
            for name in FILES:
                shutil.copyfile(HERE / name, target / name)
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"npm ci of tests/support/oidc_provider failed:\n{done.stderr[-2000:]}")
        shutil.copyfile(HERE / "provider.mjs", target / "provider.mjs")
    return target


@contextlib.contextmanager
def running_provider(config: dict[str, Any], log: Path) -> Iterator[str]:
    """node-oidc-provider with `config` (see provider.mjs); yields its issuer URL."""
    directory = installed()
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            ["node", "provider.mjs", json.dumps(config)], cwd=directory, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        yield _issuer(process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _issuer(process: subprocess.Popen[bytes], log: Path) -> str:
    """The issuer the provider prints once it listens."""
    assert process.stdout is not None
    deadline = time.monotonic() + LONG_WAIT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line:
                issuer: str = json.loads(line)["issuer"]
                return issuer
        if process.poll() is not None:
            break
    raise AssertionError(f"node-oidc-provider did not start:\n{log.read_text()[-2000:]}")
