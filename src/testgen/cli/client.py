"""The CLI's client commands (generate, status, stories import): they talk to a running API over HTTP."""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import connect_sse

from testgen.api.schemas.jobs import GenerationJobOut, JiraImportJobOut, QueuedJob, RegenerationJobOut
from testgen.cli.api_http import CliError, JobOut, api_client, check, detail, read_job
from testgen.cli.batch import generate_project
from testgen.cli.progress_bar import ProgressBar
from testgen.cli.push_report import print_push
from testgen.cli.terminal_text import echo, printable
from testgen.core.config import ClientSettings
from testgen.core.i18n import UI_DEFAULT, label
from testgen.data.job_states import TERMINAL, JobStatus
from testgen.domain.job_options import ImportSource
from testgen.domain.job_results import (
    AutomationFillResult,
    DraftResult,
    JiraImportResult,
    PushResult,
    RegenerationResult,
    StoryCheckResult,
)

DEFAULT_API = "http://127.0.0.1:8000"
API_KEY_ENV = "TESTGEN_API_KEY"
API_URL_ENV = "TESTGEN_API_URL"


ClientCommand = Callable[[httpx.Client, argparse.Namespace], int]


def run_client(args: argparse.Namespace, command: ClientCommand | None = None) -> int:
    """Run a client command: `command` when given (a command of another module), else by its name."""
    try:
        env = ClientSettings()
        env_key = env.testgen_api_key.get_secret_value() if env.testgen_api_key else None
        base_url = args.api or env.testgen_api_url or DEFAULT_API
        args.language = env.ui_language
        with api_client(base_url, args.api_key or env_key) as api:
            if command is not None:
                return command(api, args)
            if args.command == "generate":
                if (args.story_id is None) == (args.project is None):
                    raise CliError("give a STORY_ID or --project ID (not both)", code=2)
                if args.delivery and args.project is None:
                    raise CliError("--delivery goes with --project ID", code=2)
                if args.project is not None:
                    return generate_project(api, args)
                return cmd_generate(api, args)
            if args.command == "status":
                return cmd_status(api, args.task_id, as_json=args.json, language=args.language)
            sources = [args.jira is not None, args.github, args.azure_devops is not None]
            if sum(sources) + (args.file is not None) > 1:
                raise CliError("give one of FILE, --jira JQL, --github or --azure-devops WIQL", code=2)
            if any(sources):
                return cmd_jira_import(
                    api,
                    args.jira or "",
                    args.project_id,
                    follow_it=args.follow,
                    language=args.language,
                    source=import_source(args),
                )
            if args.file is None:
                raise CliError(
                    "give a FILE to read stories from, or --jira JQL, --github or --azure-devops WIQL with "
                    "--project ID",
                    code=2,
                )
            return cmd_import(api, args.file, args.project_id)
    except CliError as exc:
        echo(f"testgen: error: {exc.message}", file=sys.stderr)
        return exc.code


def cmd_generate(api: httpx.Client, args: argparse.Namespace) -> int:
    say = speaker(args.language)
    story = args.story_id
    body: dict[str, Any] = {"num_test_cases": args.test_cases, "scenarios_per_test_case": args.scenarios}
    if args.only_changed:
        body["only_changed"] = True
    if args.techniques:
        body["techniques"] = list(dict.fromkeys(args.techniques))
    response = api.post(f"/generate-test-cases/{quote(story, safe='')}/queue", json=body)
    queued = QueuedJob.model_validate(check(response, f"cannot queue generation for {story}", ok=(200, 202)))
    task_id = queued.task_id
    if response.status_code == 202:
        echo(say("cli.queued", task=task_id, story=story, cases=args.test_cases, scenarios=args.scenarios))
    else:
        echo(say("cli.already", story=story, status=queued.status, task=task_id))
    warning = queued.warning
    if not args.follow:
        if warning:
            echo(f"Warning: {warning}", file=sys.stderr)
        echo(say("cli.follow_hint", task=task_id))
        return 0
    try:
        final = follow(
            api, task_id, queued.events_url, ProgressBar(sys.stderr, language=args.language), warning
        )
    except KeyboardInterrupt:
        echo(f"\nStopped watching; task {task_id} keeps running (testgen status {task_id}).", file=sys.stderr)
        return 130
    return report(read_job(final), say)


def cmd_status(api: httpx.Client, task_id: str, *, as_json: bool, language: str = UI_DEFAULT) -> int:
    state = check(api.get(f"/generate-test-cases/status/{quote(task_id, safe='')}"), "cannot get the status")
    if as_json:
        echo(json.dumps(state, indent=2))
        return 0
    job = read_job(state)
    owner = f"story {job.story_id}" if job.story_id else f"project {job.project_id}"
    echo(f"Task {job.task_id}  {owner}  {job.status}  {job.progress}%")
    if job.message:
        echo(f"  {job.message}")
    if job.status == JobStatus.completed and job.result is not None:
        if isinstance(job.result, JiraImportResult):
            print_import(job.result)
        elif isinstance(job.result, PushResult):
            print_push(job.result, language)
        elif isinstance(job.result, AutomationFillResult):
            echo(f"Proposed bodies for {job.result.proposed} of {job.result.steps} steps")
        elif isinstance(job.result, StoryCheckResult):
            for finding in [*job.result.check.findings, *job.result.questions]:
                where = "story" if finding.criterion is None else f"criterion {finding.criterion + 1}"
                echo(f"  [{where}] {printable(finding.question)}")
        else:
            print_result(job.result)
            if job.saved_at is not None:
                echo(f"Saved at {state['saved_at']}")
    if job.status == JobStatus.failed and job.error is not None:
        echo(f"Error ({job.error.type}): {job.error.message}")
    return 0


def follow(
    api: httpx.Client, task_id: str, events_url: str, bar: ProgressBar, warning: str | None = None
) -> dict[str, Any]:
    """Read the job's event stream until its final event, reconnecting (with Last-Event-ID) when cut.

    While the job is queued with a `warning` (no worker runs), the bar shows the warning instead of
    the message; each keep-alive asks the API again, so it clears once a worker runs."""
    last_id: str | None = None
    if warning:
        bar.update({"status": JobStatus.queued, "progress": 0, "message": warning})
    retry_s, failures, max_failures = 1.0, 0, 30
    try:
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with connect_sse(
                    api, "GET", events_url, headers=headers, timeout=httpx.Timeout(30.0, read=60.0)
                ) as source:
                    if source.response.status_code == 204:  # we saw the end already
                        return check(api.get(f"/generate-test-cases/status/{task_id}"), "cannot get status")
                    if source.response.status_code != 200:
                        source.response.read()
                        raise CliError(f"cannot follow task {task_id}: {detail(source.response)}")
                    for sse in source.iter_sse():
                        if sse.retry is not None:
                            retry_s = sse.retry / 1000
                        if not sse.data:
                            if warning:
                                now = check(
                                    api.get(f"/generate-test-cases/status/{task_id}"), "cannot get status"
                                )
                                warning = now.get("warning")
                                bar.update(now)
                            continue
                        failures = 0
                        last_id = sse.id or last_id
                        snapshot: dict[str, Any] = sse.json()
                        if warning and snapshot["status"] == JobStatus.queued:
                            snapshot = {**snapshot, "message": warning}
                        elif snapshot["status"] != JobStatus.queued:
                            warning = None
                        bar.update(snapshot)
                        if sse.event in TERMINAL:
                            return snapshot
                bar.note("the server ended the stream (restarting?); resuming...")
            except httpx.TransportError as exc:
                failures += 1
                if failures > max_failures:
                    raise CliError(
                        f"lost the connection to the API ({type(exc).__name__}); task {task_id} keeps "
                        f"running: testgen status {task_id}"
                    ) from exc
                bar.note("connection lost, reconnecting...")
            time.sleep(retry_s)  # the stream ended early (server restart) or broke: resume from last_id
    finally:
        bar.close()


def report(job: JobOut, say: Say | None = None) -> int:
    """Print how a followed job ended; the exit status is 0 only when test cases are ready."""
    say = say or speaker(UI_DEFAULT)
    if job.status == JobStatus.completed:
        if isinstance(job, GenerationJobOut | RegenerationJobOut) and job.result is not None:
            print_result(job.result, say)
        echo(say("cli.review_hint", task=job.task_id))
        return 0
    if job.status == JobStatus.failed:
        echo(say("cli.failed", **failure(job)), file=sys.stderr)
        return 1
    echo(say("cli.cancelled", task=job.task_id), file=sys.stderr)
    return 1


def failure(job: JobOut) -> dict[str, str]:
    """A failed job's error type and message (a failure without an error object: "error" and its
    message)."""
    if job.error is None:
        return {"type": "error", "error": job.message}
    return {"type": job.error.type, "error": job.error.message}


Say = Callable[..., str]


def speaker(language: str) -> Say:
    """`say(key, **params)`: a message of the CLI's table (core/locales) in `language`."""
    return functools.partial(label, language)


def print_result(result: DraftResult | RegenerationResult, say: Say | None = None) -> None:
    """A draft (or a regenerated test case) as a table, with its coverage, model and language."""
    say = say or speaker(UI_DEFAULT)
    cases = result.test_cases if isinstance(result, DraftResult) else [result.test_case]
    rows = [
        [str(i + 1), case.test_type, case.priority, case.title, str(len(case.scenarios))]
        for i, case in enumerate(cases)
    ]
    headers = [
        "#",
        say("cli.col_type"),
        say("cli.col_priority"),
        say("cli.col_title"),
        say("cli.col_scenarios"),
    ]
    echo(format_table(headers, rows, wrap_column=3))
    scenarios = result.stats.scenarios if isinstance(result, DraftResult) else "?"
    criteria = len(result.coverage.criteria)
    line = say("cli.summary", cases=len(cases), scenarios=scenarios)
    if criteria:
        line += say("cli.coverage", covered=result.coverage.covered, criteria=criteria)
    line += f" ({result.provider}: {result.model}, {result.stats.duration_s:.1f} s"
    echo(line + ")")
    if result.language:
        mismatch = say("cli.language_mismatch") if result.language_mismatch else ""
        echo(say("cli.language", language=result.language) + mismatch)


def format_table(headers: list[str], rows: list[list[str]], wrap_column: int) -> str:
    """A plain-text table of one-line cells (control characters shown, see terminal_text); `wrap_column`
    is shortened (with ...) to fit the terminal."""
    headers = [printable(h) for h in headers]
    rows = [[printable(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    room = shutil.get_terminal_size((120, 24)).columns - sum(widths) - 2 * (len(widths) - 1)
    limit = max(20, widths[wrap_column] + room) if room < 0 else widths[wrap_column]
    widths[wrap_column] = min(widths[wrap_column], limit)

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 3] + "..."
        return text.rjust(widths[i]) if i == 0 or headers[i] == "Scenarios" else text.ljust(widths[i])

    lines = ["  ".join(cell(h, i) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell(v, i) for i, v in enumerate(row)).rstrip() for row in rows]
    return "\n".join(lines)


# --- stories import ---------------------------------------------------------------------------------


@dataclass
class ImportRow:
    label: str  # "row 3" (CSV line) or "item 3" (JSON)
    story: dict[str, Any]


def read_stories(path: Path, default_project: int | None) -> list[ImportRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", code=2) from exc
    is_json = path.suffix.lower() == ".json" or (
        path.suffix.lower() != ".csv" and text.lstrip().startswith(("[", "{"))
    )
    rows = _json_rows(path, text) if is_json else _csv_rows(path, text)
    for row in rows:
        if row.story.get("project_id") is None and default_project is not None:
            row.story["project_id"] = default_project
    return rows


def split_criteria(value: Any) -> list[str]:
    """Acceptance criteria given as one text: one per line, or separated by '|'."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if not value:
        return []
    parts = str(value).replace("\r\n", "\n").replace("|", "\n").split("\n")
    return [p.strip() for p in parts if p.strip()]


def _json_rows(path: Path, text: str) -> list[ImportRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}", code=2) from exc
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise CliError(f"{path} must hold a JSON list of stories (objects)", code=2)
    rows = []
    for i, item in enumerate(data, start=1):
        story = dict(item)
        if "acceptance_criteria" in story and not isinstance(story["acceptance_criteria"], list):
            story["acceptance_criteria"] = split_criteria(story["acceptance_criteria"])
        rows.append(ImportRow(f"item {i}", story))
    return rows


CSV_COLUMNS = ("id", "title", "description", "acceptance_criteria", "priority", "project_id")


def _csv_rows(path: Path, text: str) -> list[ImportRow]:
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in ("id", "title") if c not in columns]
    if missing:
        raise CliError(
            f"{path}: the CSV header must name the columns {', '.join(CSV_COLUMNS)} "
            f"(id and title are required); missing: {', '.join(missing)}",
            code=2,
        )
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise CliError(
            f"{path}: unknown CSV columns {', '.join(unknown)}; use {', '.join(CSV_COLUMNS)}", code=2
        )
    rows = []
    try:
        for number, raw in enumerate(reader, start=2):  # as a spreadsheet numbers it: the header is row 1
            values = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            story: dict[str, Any] = {"id": values["id"], "title": values["title"]}
            if values.get("description"):
                story["description"] = values["description"]
            story["acceptance_criteria"] = split_criteria(values.get("acceptance_criteria"))
            if values.get("priority"):
                story["priority"] = values["priority"].lower()
            project = values.get("project_id")
            story["project_id"] = int(project) if project and project.isdigit() else (project or None)
            rows.append(ImportRow(f"row {number}", story))
    except csv.Error as exc:
        raise CliError(f"{path}: line {reader.line_num}: {exc}", code=2) from exc
    return rows


class Added(Enum):
    """What became of one story of an import."""

    created = auto()
    skipped = auto()  # it exists already
    refused = auto()


def cmd_import(api: httpx.Client, path: Path, default_project: int | None) -> int:
    rows = read_stories(path, default_project)
    if not rows:
        raise CliError(f"{path} holds no stories", code=2)

    def add(row: ImportRow) -> tuple[Added, str]:
        response = api.post("/user-stories", json=row.story)
        if response.status_code == 201:
            return Added.created, ""
        if response.status_code == 409:
            return Added.skipped, ""
        return Added.refused, detail(response)

    # A few requests at once: the API and its database do the rest.
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(add, rows))
    counts = dict.fromkeys(Added, 0)
    for row, (outcome, why) in zip(rows, outcomes, strict=True):
        counts[outcome] += 1
        if outcome is Added.refused:
            echo(f"{path.name} {row.label} ({row.story.get('id', '?')}): {why}", file=sys.stderr)
    skipped = [
        row.story.get("id", "?")
        for row, (outcome, _) in zip(rows, outcomes, strict=True)
        if outcome is Added.skipped
    ]
    if skipped:
        echo(f"Already there (skipped): {', '.join(map(str, skipped))}")
    echo(
        f"Imported {path.name}: {counts[Added.created]} created, {counts[Added.skipped]} skipped "
        f"(already exist), {counts[Added.refused]} failed"
    )
    return 1 if counts[Added.refused] else 0


SOURCE_LABELS = {
    ImportSource.jira: "Jira",
    ImportSource.github: "GitHub",
    ImportSource.azure_devops: "Azure DevOps",
}


@dataclass(frozen=True)
class ImportSourceArgs:
    """Where an import reads its stories: the route's last part, its body, and the source's name."""

    path: str
    body: dict[str, Any]
    label: str


def import_source(args: Any) -> ImportSourceArgs | None:
    """The GitHub or Azure DevOps import the arguments ask for; None: a Jira import."""
    if args.github:
        body: dict[str, Any] = {"labels": args.label or [], "state": args.state}
        if args.milestone is not None:
            body["milestone"] = args.milestone
        return ImportSourceArgs(ImportSource.github.value, body, SOURCE_LABELS[ImportSource.github])
    if args.azure_devops is not None:
        wiql = {"wiql": args.azure_devops}
        return ImportSourceArgs(
            ImportSource.azure_devops.value, wiql, SOURCE_LABELS[ImportSource.azure_devops]
        )
    return None


def cmd_jira_import(
    api: httpx.Client,
    jql: str,
    project: int | None,
    *,
    follow_it: bool,
    language: str = UI_DEFAULT,
    source: ImportSourceArgs | None = None,
) -> int:
    """Queue an import (from Jira, or from `source`) and, with `follow_it`, watch it to its end."""
    say = speaker(language)
    chosen = source or ImportSourceArgs(
        ImportSource.jira.value, {"jql": jql}, SOURCE_LABELS[ImportSource.jira]
    )
    if project is None:
        raise CliError(f"--{chosen.path} needs --project ID: the project the stories go to", code=2)
    response = api.post(f"/projects/{project}/imports/{chosen.path}", json=chosen.body)
    queued = QueuedJob.model_validate(
        check(response, f"cannot queue the {chosen.label} import", ok=(200, 202))
    )
    task_id = queued.task_id
    if response.status_code == 202:
        echo(f"Queued {chosen.label} import {task_id} into project {project}")
    else:
        echo(f"Project {project} already has a {queued.status} import: {task_id}")
    if not follow_it:
        echo(say("cli.follow_hint", task=task_id))
        return 0
    try:
        final = read_job(follow(api, task_id, queued.events_url, ProgressBar(sys.stderr, language=language)))
    except KeyboardInterrupt:
        echo(
            f"\nStopped watching; import {task_id} keeps running (testgen status {task_id}).", file=sys.stderr
        )
        return 130
    if final.status == JobStatus.completed:
        if isinstance(final, JiraImportJobOut) and final.result is not None:
            print_import(final.result)
        return 0
    if final.status == JobStatus.failed:
        error = failure(final)
        echo(f"{chosen.label} import failed ({error['type']}): {error['error']}", file=sys.stderr)
        return 1
    echo(f"Import {task_id} was cancelled; the pages read before stay imported.", file=sys.stderr)
    return 1


def print_import(result: JiraImportResult) -> None:
    for outcome, keys in (("created", result.created), ("updated", result.updated)):
        if keys:
            echo(f"{outcome.capitalize()}: {', '.join(keys)}")
    for skipped in result.skipped:
        echo(f"Skipped {skipped.key}: {skipped.reason}")
    counts = result.counts
    label = SOURCE_LABELS[ImportSource(result.source)] if result.source in SOURCE_LABELS else "Jira"
    echo(
        f"{label} import: {counts.created} created, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.skipped} skipped "
        f"({result.issues} issues in {result.pages} pages)"
    )
