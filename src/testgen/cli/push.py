"""`testgen push`: queue a push of a project's saved test cases into a tool, and follow it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

from testgen.api.schemas.jobs import PushJobOut, QueuedJob
from testgen.cli.api_http import CliError, check, detail, read_job
from testgen.cli.client import Say, failure, follow, speaker
from testgen.cli.progress_bar import ProgressBar
from testgen.cli.push_report import print_push
from testgen.cli.terminal_text import echo
from testgen.data.job_states import JobStatus


def find_connection(api: httpx.Client, project: int, wanted: str, say: Say) -> tuple[int, str]:
    """The id and name of the project's connection named `wanted`, else whose id it is, else the one
    connection of that kind (`testrail`, `xray-cloud`, ...) the project has."""
    response = api.get(f"/projects/{project}/connections")
    if response.status_code != 200:
        if wanted.isdigit():  # the list is not readable here: take the id as given
            return int(wanted), f"connection {wanted}"
        raise CliError(f"cannot list the connections of project {project}: {detail(response)}")
    rows: list[dict[str, Any]] = [r for r in response.json() if isinstance(r, dict)]
    named = [r for r in rows if r.get("name") == wanted]
    if not named and wanted.isdigit():
        named = [r for r in rows if r.get("id") == int(wanted)]
    if not named:
        of_kind = [r for r in rows if r.get("kind") == wanted]
        named = of_kind if len(of_kind) == 1 else []  # several: the list below names them
    if not named:
        names = ", ".join(f"{r.get('name')} (id {r.get('id')}, {r.get('kind')})" for r in rows)
        raise CliError(
            say(
                "cli.connection_unknown",
                project=project,
                connection=wanted,
                names=names or say("cli.no_connections", project=project),
            ),
            code=2,
        )
    return int(named[0]["id"]), str(named[0].get("name"))


def cmd_push(api: httpx.Client, args: argparse.Namespace) -> int:
    say = speaker(args.language)
    project = args.project
    connection_id, name = find_connection(api, project, args.connection, say)
    body: dict[str, Any] = {"connection_id": connection_id}
    if args.story:
        body["story_ids"] = args.story
    if args.delete_removed:
        body["delete_removed"] = True
    if args.overwrite:
        body["overwrite"] = True
    response = api.post(f"/projects/{project}/push", json=body)
    queued = QueuedJob.model_validate(check(response, "cannot queue the push", ok=(200, 202)))
    task_id = queued.task_id
    if response.status_code == 202:
        echo(say("cli.push_queued", task=task_id, project=project, connection=name))
    else:
        echo(say("cli.push_already", connection=name, status=queued.status, task=task_id))
    if not args.follow:
        if queued.warning:
            echo(f"Warning: {queued.warning}", file=sys.stderr)
        echo(say("cli.follow_hint", task=task_id))
        return 0
    bar = ProgressBar(sys.stderr, language=args.language)
    try:
        final = read_job(follow(api, task_id, queued.events_url, bar, queued.warning))
    except KeyboardInterrupt:
        echo(f"\nStopped watching; push {task_id} keeps running (testgen status {task_id}).", file=sys.stderr)
        return 130
    if final.status == JobStatus.completed:
        if not isinstance(final, PushJobOut) or final.result is None:
            raise CliError(f"task {task_id} is not a push")
        print_push(final.result, args.language)
        counts = final.result.counts
        return 1 if counts.failed or counts.conflicts else 0
    if final.status == JobStatus.failed:
        echo(say("cli.push_failed", **failure(final)), file=sys.stderr)
        return 1
    echo(say("cli.push_cancelled", task=task_id), file=sys.stderr)
    return 1
