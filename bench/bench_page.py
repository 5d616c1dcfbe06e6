"""The web page with 5,000 stories in a project, in headless Chromium.

    .venv/bin/python bench/bench_page.py [--quick] [--part all|browse|lighthouse] [--runs N] [--reports DIR]

`python -m testgen api` and a worker as subprocesses, 5,000 stories inserted in bulk.

*browse*: measured in Debian's Chromium (Playwright, no browser download): from the start of
navigation to the first rows of the list on screen, in fresh tabs (the static files cached after the
first, as for a user); then 50 jobs of the first page generate while the page streams their progress,
and meanwhile a search is typed: the time until the list shows its answer, and the longest main-thread
task (Long Tasks API). Targets: first rows < 1 s; the search answered < 1 s and no main-thread task
over 200 ms while the 50 jobs stream.

*lighthouse*: Lighthouse (npm, bench/lighthouse/package-lock.json, installed once into
~/.cache/testgen/; skipped with a message without Node and npm), desktop preset, against the same
Chromium, on the main view and on a story view while the 50 jobs of the first page are running (the
offline model held for an hour). Each figure is the median of `--runs` runs (3; `--quick`: 1). Targets:
performance ≥ 0.9, accessibility 1.0, largest contentful paint < 2.0 s, cumulative layout shift
< 0.05, total blocking time < 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _harness import environment, pct, seed_stories, subprocess_api, subprocess_worker, table
from playwright.async_api import Page, async_playwright, expect

TARGET_FIRST_ROWS_S = 1.0
TARGET_SEARCH_S = 1.0
TARGET_LONG_TASK_MS = 200
TARGET_PERFORMANCE = 0.9
TARGET_ACCESSIBILITY = 1.0
TARGET_LCP_MS = 2000
TARGET_CLS = 0.05
TARGET_TBT_MS = 150
RUNNING_JOBS = 50
LIGHTHOUSE = Path(__file__).resolve().parent / "lighthouse"
NPM_TIMEOUT_S = 600
LIGHTHOUSE_TIMEOUT_S = 180
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


async def first_rows(page: Page) -> float:
    started = time.perf_counter()
    await page.goto("/")
    await expect(page.locator("tr[data-story]").first).to_be_visible(timeout=30_000)
    return time.perf_counter() - started


async def browse(stories: int, loads: int, jobs: int, executable: str) -> bool:
    with environment() as env:
        await seed_stories(env.database_url, stories)
        with subprocess_api(env) as (url, _api), subprocess_worker(env, offline_llm_delay_s=0.5):
            async with async_playwright() as pw, httpx.AsyncClient(base_url=url) as client:
                browser = await pw.chromium.launch(executable_path=executable, args=ARGS)
                context = await browser.new_context(base_url=url, viewport={"width": 1400, "height": 900})
                loads_s = []
                for _ in range(loads):
                    page = await context.new_page()
                    loads_s.append(await first_rows(page))
                    await page.close()
                page = await context.new_page()
                await first_rows(page)
                await page.evaluate(
                    """window.__long = []; new PerformanceObserver((list) => {
                         for (const e of list.getEntries()) window.__long.push(e.duration);
                       }).observe({ type: "longtask" });"""
                )
                buttons = (await page.locator("button.generate").all())[:jobs]
                for button in buttons:
                    await button.click()
                await expect(page.locator('.badge[data-state="generating"]').first).to_be_visible(
                    timeout=30_000
                )
                started = time.perf_counter()
                await page.locator("#filters [name=q]").fill("B-04999")
                await expect(page.locator("tr[data-story]")).to_have_count(1, timeout=30_000)
                search_s = time.perf_counter() - started
                await page.locator("#filters [name=q]").fill("")
                await expect(page.locator("tr[data-story]")).to_have_count(50, timeout=30_000)
                await expect(page.locator('.badge[data-state="completed"]')).to_have_count(
                    jobs, timeout=120_000
                )
                longest = max(await page.evaluate("window.__long"), default=0.0)
                done = (await client.get("/user-stories", params={"state": "draft_ready"})).headers
                await browser.close()

    ok = (
        pct(loads_s, 50) < TARGET_FIRST_ROWS_S
        and search_s < TARGET_SEARCH_S
        and longest <= TARGET_LONG_TASK_MS
    )
    print(f"{stories} stories in one project; the page in headless Chromium\n")
    table(
        ["what", "value"],
        [
            ["navigation → first rows, fresh tabs", f"{len(loads_s)} loads"],
            ["  first (nothing cached)", f"{loads_s[0] * 1000:.0f} ms"],
            ["  p50", f"{pct(loads_s, 50) * 1000:.0f} ms"],
            ["  max", f"{max(loads_s) * 1000:.0f} ms"],
            [f"search answered while {jobs} jobs stream", f"{search_s * 1000:.0f} ms"],
            ["longest main-thread task meanwhile", f"{longest:.0f} ms (0: none over 50 ms)"],
            ["stories with a draft ready after", done.get("x-total-count", "?")],
        ],
    )
    print(
        f"\ntargets: first rows p50 < {TARGET_FIRST_ROWS_S * 1000:.0f} ms, "
        f"search < {TARGET_SEARCH_S * 1000:.0f} ms (250 ms of it the typing pause), "
        f"no task over {TARGET_LONG_TASK_MS} ms: {'met' if ok else 'MISSED'}"
    )
    return ok


def lighthouse_cli() -> Path | str:
    """Lighthouse's command line, installed with `npm ci` (bench/lighthouse/package-lock.json) once
    into a cache directory named by the lock file's hash, outside the repository; or why there is none."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        return "no Node.js and npm"
    files = ("package.json", "package-lock.json")
    digest = hashlib.sha256(b"".join((LIGHTHOUSE / name).read_bytes() for name in files)).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "testgen"
    target = cache / f"lighthouse-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    cli = target / "node_modules" / "lighthouse" / "cli" / "index.js"
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one install at a time, across processes
        if not cli.exists():
            for name in files:
                shutil.copyfile(LIGHTHOUSE / name, target / name)
            print(f"installing Lighthouse into {target} (npm ci) …", flush=True)
            try:
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                    cwd=target,
                    capture_output=True,
                    text=True,
                    timeout=NPM_TIMEOUT_S,
                    env={**os.environ, "npm_config_update_notifier": "false"},
                )
            except subprocess.TimeoutExpired:
                return f"npm ci took more than {NPM_TIMEOUT_S} s"
            if done.returncode != 0:
                return f"npm ci failed (no registry?): {done.stderr[-500:]}"
    return cli


def audit(cli: Path, url: str, executable: str, keep: Path | None) -> dict[str, float]:
    """One Lighthouse run (desktop preset) of `url`: the two scores and the three metrics; its JSON
    report is copied to `keep` when given."""
    with tempfile.TemporaryDirectory(prefix="testgen-lighthouse-") as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                "node",
                str(cli),
                url,
                "--preset=desktop",
                "--only-categories=performance,accessibility",
                "--output=json",
                f"--output-path={report}",
                "--quiet",
                f"--chrome-flags={' '.join(ARGS)}",
            ],
            env={**os.environ, "CHROME_PATH": executable},
            check=True,
            timeout=LIGHTHOUSE_TIMEOUT_S,
        )
        result: dict[str, Any] = json.loads(report.read_text())
        if keep is not None:
            shutil.copyfile(report, keep)
    categories, audits = result["categories"], result["audits"]
    failing = [
        name
        for name, item in audits.items()
        if item.get("score") is not None and item["score"] < 1 and item.get("scoreDisplayMode") == "binary"
    ]
    if failing:
        print(f"  {url}: audits not passed: {', '.join(sorted(failing))}")
    return {
        "performance": categories["performance"]["score"],
        "accessibility": categories["accessibility"]["score"],
        "lcp": audits["largest-contentful-paint"]["numericValue"],
        "cls": audits["cumulative-layout-shift"]["numericValue"],
        "tbt": audits["total-blocking-time"]["numericValue"],
    }


async def hold_running_jobs(client: httpx.AsyncClient, count: int) -> list[str]:
    """Queue the first `count` stories of the list (the page's first rows) and wait until each job
    is generating (the worker's offline model holds every call for an hour)."""
    first = (await client.get("/user-stories", params={"limit": count})).json()
    queued = await client.post(
        "/generate-test-cases/queue", json={"story_ids": [story["id"] for story in first]}
    )
    queued.raise_for_status()
    tasks = [job["task_id"] for job in queued.json()["jobs"]]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = [
            (await client.get(f"/generate-test-cases/status/{task}")).json()["status"] for task in tasks
        ]
        if all(status == "generating" for status in statuses):
            return tasks
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{count} jobs were not all generating after 120 s")


async def lighthouse(stories: int, runs: int, executable: str, cli: Path, reports: Path | None) -> bool:
    with environment() as env:
        ids = await seed_stories(env.database_url, stories)
        with (
            subprocess_api(env) as (url, _api),
            subprocess_worker(env, offline_llm_delay_s=3600, worker_max_jobs=RUNNING_JOBS),
        ):
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                tasks = await hold_running_jobs(client, RUNNING_JOBS)
                views = {"main view": f"{url}/", "story view": f"{url}/?story={ids[0]}"}
                measured: dict[str, list[dict[str, float]]] = {view: [] for view in views}
                for run in range(runs):
                    for view, address in views.items():
                        keep = reports / f"{view.replace(' ', '-')}-{run + 1}.json" if reports else None
                        measured[view].append(await asyncio.to_thread(audit, cli, address, executable, keep))
                for task in tasks:  # the worker then stops at once
                    await client.post(f"/generate-test-cases/{task}/cancel")

    print(f"\n{stories} stories in one project, {RUNNING_JOBS} jobs running; Lighthouse, desktop preset\n")
    rows, ok = [], True
    for view, results in measured.items():
        median = {key: statistics.median(result[key] for result in results) for key in results[0]}
        checks = [
            (
                "performance",
                f"{median['performance']:.2f}",
                median["performance"] >= TARGET_PERFORMANCE,
                f"≥ {TARGET_PERFORMANCE}",
            ),
            (
                "accessibility",
                f"{median['accessibility']:.2f}",
                median["accessibility"] >= TARGET_ACCESSIBILITY,
                f"{TARGET_ACCESSIBILITY}",
            ),
            (
                "largest contentful paint",
                f"{median['lcp']:.0f} ms",
                median["lcp"] < TARGET_LCP_MS,
                f"< {TARGET_LCP_MS} ms",
            ),
            (
                "cumulative layout shift",
                f"{median['cls']:.3f}",
                median["cls"] < TARGET_CLS,
                f"< {TARGET_CLS}",
            ),
            (
                "total blocking time",
                f"{median['tbt']:.0f} ms",
                median["tbt"] < TARGET_TBT_MS,
                f"< {TARGET_TBT_MS} ms",
            ),
        ]
        for name, value, met, target in checks:
            rows.append([f"{view}: {name}", value, f"{target} {'✔' if met else '✘'}"])
            ok = ok and met
    table([f"what (median of {runs})", "value", "target"], rows)
    print(f"\nLighthouse targets: {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 loads and 10 jobs; one Lighthouse run a view")
    parser.add_argument("--part", choices=["all", "browse", "lighthouse"], default="all")
    parser.add_argument(
        "--runs", type=int, choices=range(1, 11), metavar="1-10", help="Lighthouse runs a view"
    )
    parser.add_argument("--reports", type=Path, help="a directory to keep Lighthouse's JSON reports in")
    args = parser.parse_args()
    executable = chromium()
    if executable is None:
        print("no Chromium (/usr/bin/chromium, chromium on PATH or CHROMIUM_PATH): skipped")
        return 0
    if args.part in ("all", "browse"):
        asyncio.run(browse(5000, 3 if args.quick else 10, 10 if args.quick else 50, executable))
    if args.part in ("all", "lighthouse"):
        cli = lighthouse_cli()
        if isinstance(cli, str):
            print(f"{cli}: the Lighthouse part is skipped")
            return 0
        if args.reports:
            args.reports.mkdir(parents=True, exist_ok=True)
        asyncio.run(lighthouse(5000, args.runs or (1 if args.quick else 3), executable, cli, args.reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
