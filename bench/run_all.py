"""Run every benchmark in quick mode (a CI smoke run); fails if any of them errors.

    .venv/bin/python bench/run_all.py --quick

Missed targets are reported by each script but never fail the run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_pickup",
    "bench_progress",
    "bench_fanout",
    "bench_jobs",
    "bench_api",
    "bench_floor",
    "bench_parallel",
    "bench_stream_burst",
    "bench_duplicates",
    "bench_scale",
    "bench_page",
    "bench_push",
    "bench_mcp",
    "bench_quota",
    "bench_tokens",
]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script")
    args = parser.parse_args()
    failed = []
    for name in SCRIPTS:
        cmd = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if args.quick else [])]
        print(f"== {name}", flush=True)
        started = time.monotonic()
        try:
            rc = subprocess.run(cmd, cwd=HERE.parent, timeout=120 if args.quick else 1200).returncode
        except subprocess.TimeoutExpired:
            rc = -1
        print(
            f"== {name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.monotonic() - started:.1f}s\n",
            flush=True,
        )
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    print("all benchmarks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
