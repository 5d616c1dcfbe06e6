"""`testgen generate --project`: a project's stories queued in one request, watched on one stream."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import httpx
from httpx_sse import connect_sse

from testgen.api.schemas.jobs import BulkQueued
from testgen.cli.api_http import CliError, check, detail, read_job
from testgen.cli.progress_bar import ProgressBar, status_label
from testgen.cli.terminal_text import echo
from testgen.core.i18n import UI_DEFAULT
from testgen.data.job_states import TERMINAL, JobStatus
from testgen.domain.job_results import DraftResult

MAX_FAILURES = 30  # reconnections in a row before giving up


def generate_project(api: httpx.Client, args: argparse.Namespace) -> int:
    body = {
        "project_id": args.project,
        "only_without_tests": args.only_without_tests,
        "num_test_cases": args.test_cases,
        "scenarios_per_test_case": args.scenarios,
    }
    if args.techniques:
        body["techniques"] = list(dict.fromkeys(args.techniques))
    if args.delivery:
        body["delivery"] = args.delivery
    answer = check(
        api.post("/generate-test-cases/queue", json=body),
        f"cannot queue generation for project {args.project}",
        ok=(200, 202),
    )
    queued = BulkQueued.model_validate(answer)
    jobs = queued.jobs
    if not jobs:
        which = " without saved test cases" if args.only_without_tests else ""
        echo(f"Project {args.project} has no stories{which} to queue.")
        return 0
    echo(
        f"Queued {queued.created} tasks for project {args.project}"
        + (f" ({queued.reused} stories already had one queued or running)" if queued.reused else "")
    )
    if queued.warning:
        echo(f"Warning: {queued.warning}", file=sys.stderr)
    if not args.follow:
        for job in jobs:
            echo(f"  {job.story_id}  {job.task_id}")
        echo("Follow one with: testgen status TASK_ID")
        return 0
    try:
        finals = follow_batch(api, queued, ProgressBar(sys.stderr, language=args.language))
    except KeyboardInterrupt:
        echo(f"\nStopped watching; the {len(jobs)} tasks keep running.", file=sys.stderr)
        return 130
    return report_batch(finals)


def summary(latest: dict[str, dict[str, Any]], language: str = UI_DEFAULT) -> tuple[int, str]:
    """Overall progress (a job that ended counts as 100%) and the count of jobs in each state."""
    progress = sum(100 if s["status"] in TERMINAL else int(s.get("progress") or 0) for s in latest.values())
    counts: dict[str, int] = {}
    for snapshot in latest.values():
        counts[snapshot["status"]] = counts.get(snapshot["status"], 0) + 1
    states = ", ".join(
        f"{counts[status]} {status_label(status, language).lower()}"
        for status in JobStatus
        if status in counts
    )
    return progress // max(1, len(latest)), f"{len(latest)} stories: {states}"


def follow_batch(api: httpx.Client, queued: BulkQueued, bar: ProgressBar) -> dict[str, dict[str, Any]]:
    """Read the batch's one event stream until every job has ended; returns each job's last state.

    A cut stream is opened again from the start (a position per job would not fit in a header for a
    large batch); events already seen are skipped by their per-job stream position."""
    latest: dict[str, dict[str, Any]] = {
        job.task_id: {"task_id": job.task_id, "story_id": job.story_id, "status": job.status}
        for job in queued.jobs
    }
    seen: dict[str, tuple[int, ...]] = {}
    retry_s, failures = 1.0, 0

    def show() -> None:
        progress, line = summary(latest, bar.language)
        bar.update({"status": "", "progress": progress, "message": line})

    show()
    try:
        while any(s["status"] not in TERMINAL for s in latest.values()):
            try:
                with connect_sse(
                    api, "GET", queued.events_url, timeout=httpx.Timeout(30.0, read=60.0)
                ) as source:
                    if source.response.status_code == 204:  # every job had ended
                        break
                    if source.response.status_code != 200:
                        source.response.read()
                        raise CliError(f"cannot follow the tasks: {detail(source.response)}")
                    for sse in source.iter_sse():
                        if sse.retry is not None:
                            retry_s = sse.retry / 1000
                        if not sse.data:
                            continue
                        failures = 0
                        task_id, _, entry = (sse.id or "").partition("=")
                        position = tuple(int(part) for part in entry.split("-") if part.isdigit())
                        if task_id not in latest or position <= seen.get(task_id, ()):
                            continue
                        seen[task_id] = position
                        latest[task_id] = sse.json()
                        show()
                if any(s["status"] not in TERMINAL for s in latest.values()):
                    bar.note("the server ended the stream (restarting?); resuming...")
            except httpx.TransportError as exc:
                failures += 1
                if failures > MAX_FAILURES:
                    raise CliError(
                        f"lost the connection to the API ({type(exc).__name__}); the tasks keep running"
                    ) from exc
                bar.note("connection lost, reconnecting...")
            time.sleep(retry_s)
    finally:
        bar.close()
    for task_id, snapshot in latest.items():  # ended before we saw it (a stream answered 204)
        if snapshot["status"] not in TERMINAL:
            latest[task_id] = check(api.get(f"/generate-test-cases/status/{task_id}"), "cannot get status")
    return latest


def report_batch(finals: dict[str, dict[str, Any]]) -> int:
    """One line per story that did not end with a draft, then the totals; 0 only if every draft is ready."""
    jobs = [read_job(state) for state in finals.values()]
    done = [job for job in jobs if job.status == JobStatus.completed]
    cases = sum(len(job.result.test_cases) for job in done if isinstance(job.result, DraftResult))
    for job in jobs:
        if job.status != JobStatus.completed:
            reason = (job.error.message if job.error is not None else "") or job.message
            echo(f"{job.story_id}: {status_label(job.status)}  {reason}", file=sys.stderr)
    echo(f"{len(done)} of {len(finals)} drafts ready ({cases} test cases); review and save them in the page")
    return 0 if len(done) == len(finals) else 1
