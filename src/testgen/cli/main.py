"""The `testgen` command: its arguments, and which module runs each command.

Running the service (cli/serve.py): dev (everything at once), api, worker, migrate. Accounts, straight
in the database (cli/users.py): users create, users list; and the key of the connections' secrets
(cli/secret_keys.py): secrets rotate. Using a running service over its HTTP API (cli/client.py):
generate (with a live progress bar), status, stories import; push (cli/push.py); automation
(cli/automation.py). AI assistants over stdio (mcp_server/stdio.py): mcp.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testgen.api.passwords import MIN_PASSWORD_CHARS
from testgen.cli import serve
from testgen.cli.automation import cmd_automation
from testgen.cli.client import API_KEY_ENV, API_URL_ENV, DEFAULT_API, run_client
from testgen.cli.push import cmd_push
from testgen.core.config import ClientSettings, Settings
from testgen.core.logs import configure_logging
from testgen.domain.automation import AutomationFramework
from testgen.domain.job_options import (
    DEFAULT_SCENARIOS_PER_CASE,
    DEFAULT_TEST_CASES,
    MAX_SCENARIOS_PER_CASE,
    MAX_TEST_CASES,
    MIN_SCENARIOS_PER_CASE,
    MIN_TEST_CASES,
    Delivery,
)
from testgen.domain.techniques import Technique

CLIENT_COMMANDS = ("generate", "status", "stories", "push", "automation")


def _add_bind(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of processes from 1 to 64, got {text[:20]!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="testgen", description="Turn user stories into QA test cases.")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser(
        "dev",
        help="migrate, then run Redis (embedded unless REDIS_URL), the API and one worker",
        description="Migrate the database, then run the API and one worker, which share the embedded Redis "
        "of DATA_DIR (unless REDIS_URL is set). Prints the URL once the API answers. Ctrl-C stops them: "
        "the worker waits up to WORKER_SHUTDOWN_WAIT_S for its running jobs; a second Ctrl-C stops at "
        "once and puts those jobs back on the queue.",
    )
    _add_bind(dev)
    dev.add_argument("--no-seed", action="store_true", help="do not add the demo project and story")
    api = sub.add_parser(
        "api", help="run the HTTP API (uvicorn)", description="Run the HTTP API with uvicorn."
    )
    _add_bind(api)
    api.add_argument(
        "--workers", type=_count, default=1, metavar="N", help="run N API processes on the port (default 1)"
    )
    api.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT, so that other `testgen api` processes can share the port",
    )
    worker = sub.add_parser(
        "worker",
        help="run one ARQ worker (same as `arq workers.WorkerSettings`)",
        description="Run one ARQ worker (same as `arq workers.WorkerSettings`).",
    )
    worker.add_argument(
        "--processes", type=_count, default=1, metavar="N", help="run N worker processes (default 1)"
    )
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if this host's worker beat recently (WORKER_HEARTBEAT_FILE), 1 if not: a liveness probe",
    )
    sub.add_parser(
        "migrate", help="apply database migrations (alembic upgrade head)", description="alembic upgrade head"
    )
    _add_redis_commands(sub)
    _add_users_commands(sub)
    _add_secrets_commands(sub)
    _add_client_commands(sub)
    _add_mcp_command(sub)
    return parser


def _add_mcp_command(sub: Any) -> None:
    mcp = sub.add_parser(
        "mcp",
        help="serve AI assistants over stdio: the MCP server, on a running testgen API",
        description="Run the Model Context Protocol server on stdin/stdout, for an assistant that launches "
        "it (Claude Desktop, an IDE): its tools call the testgen API at --api with --api-key, so the "
        "token's roles and projects apply. Logs go to stderr. The API serves the same tools over "
        "streamable HTTP at /mcp.",
    )
    _add_api_options(mcp)


def run_mcp(args: argparse.Namespace) -> int:
    from testgen.mcp_server.stdio import run_stdio  # the MCP SDK: only for this command

    env = ClientSettings()
    key = args.api_key or (env.testgen_api_key.get_secret_value() if env.testgen_api_key else None)
    configure_logging("WARNING")  # to stderr: stdout carries the protocol
    return run_stdio(args.api or env.testgen_api_url or DEFAULT_API, key)


def _add_users_commands(sub: Any) -> None:
    users = sub.add_parser(
        "users",
        help="add or list the users who sign in (straight in the database: create the first admin)",
        description="Add or list users in the database that DATABASE_URL (else DATA_DIR) names, migrating "
        "it first as `testgen migrate` does; no API needs to run. Once a user exists, the API and the "
        "page need a sign-in (API_KEYS keep working, as service accounts with the admin role).",
    )
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser(
        "create",
        help="add a user who signs in with email and password (--admin: a server admin)",
        description="Add a user who signs in with this email and a password, typed twice at the prompt "
        f"(at least {MIN_PASSWORD_CHARS} characters) or read from standard input. The first server admin "
        "becomes the admin of every project that exists. Exits 1 when the email is taken, 2 when the "
        "email, name or password is refused.",
    )
    create.add_argument("--email", required=True, help="the address the user signs in with")
    create.add_argument("--name", default=None, help="the name shown (default: the email's part before @)")
    create.add_argument(
        "--admin", action="store_true", help="a server admin: manages users and projects, sees every project"
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of prompting",
    )
    users_sub.add_parser(
        "list",
        help="show every user: id, email, name, admin, active",
        description="Show every user of the database: id, email, name, whether a server admin, whether "
        "active.",
    )


def _add_secrets_commands(sub: Any) -> None:
    secrets = sub.add_parser(
        "secrets",
        help="the connections' secrets at rest: rotate their encryption key (SECRETS_KEY)",
        description="Connections keep their credentials encrypted with the first key of SECRETS_KEY "
        "(comma-separated Fernet keys; every one decrypts).",
    )
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    secrets_sub.add_parser(
        "rotate",
        help="re-encrypt every connection's secrets with the first key of SECRETS_KEY",
        description="Re-encrypt every connection's secrets in the database that DATABASE_URL (else "
        "DATA_DIR) names with the first key of SECRETS_KEY. Put the new key first and keep the old ones "
        "after it, run this, then remove the old keys. Exits 1 when a connection's secrets open with "
        "no key of SECRETS_KEY (their ids are listed).",
    )


def _add_redis_commands(sub: Any) -> None:
    redis = sub.add_parser(
        "redis",
        help="the embedded Redis of DATA_DIR: status, stop",
        description="With REDIS_URL unset, the API, workers and `testgen dev` share one embedded Redis per "
        "DATA_DIR: the first one to need it starts it, and it stops by itself once none of them has used "
        "it for EMBEDDED_REDIS_IDLE_S seconds. Its data (an append-only file) stays in DATA_DIR.",
    )
    redis_sub = redis.add_subparsers(dest="redis_command", required=True)
    redis_sub.add_parser(
        "status",
        help="say whether it runs, its pids and how many testgen processes use it",
        description="Say whether the embedded Redis of DATA_DIR runs, its pids and how many testgen "
        "processes use it. Exits 0 when it runs, 1 when not.",
    )
    redis_sub.add_parser(
        "stop",
        help="stop it now (testgen processes still using it start it again)",
        description="Stop the embedded Redis of DATA_DIR now; its data is kept. testgen processes that "
        "still use it start it again within seconds. Exits 1 when none was running.",
    )
    serve = redis_sub.add_parser(
        "serve",
        help="run it in the foreground (testgen starts this by itself; you need not)",
        description="Run the embedded Redis of DATA_DIR under a supervisor that stops it once no testgen "
        "process has used it for EMBEDDED_REDIS_IDLE_S seconds. testgen starts this by itself.",
    )
    serve.add_argument("--data-dir", type=Path, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--socket", type=Path, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--idle-s", type=float, default=None, help=argparse.SUPPRESS)


def _add_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        default=None,
        metavar="URL",
        help=f"the testgen API to use (default: ${API_URL_ENV}, else {DEFAULT_API})",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help="when the API needs a credential: one of its API_KEYS, or a personal API token (tgp_...) "
        f"made at POST /auth/tokens; sent as a bearer token (default: ${API_KEY_ENV})",
    )


def _add_client_commands(sub: Any) -> None:
    generate = sub.add_parser(
        "generate",
        help="queue test case generation for a user story, or a project's stories (--follow to watch)",
        description="Queue test case generation for a user story, or for every story of a project "
        "(--project, one request), on a running testgen API. With --follow, show live progress, then the "
        "result; exit 0 when every draft is ready, 1 when a job failed or was cancelled.",
    )
    generate.add_argument("story_id", metavar="STORY_ID", nargs="?", help="the user story, e.g. US-001")
    generate.add_argument(
        "--project", type=int, default=None, metavar="ID", help="queue every story of project ID instead"
    )
    generate.add_argument(
        "--only-without-tests",
        action="store_true",
        help="with --project: only the stories that have no saved test case yet",
    )
    generate.add_argument(
        "--test-cases",
        type=int,  # the API checks the bounds and says what is wrong
        default=DEFAULT_TEST_CASES,
        metavar="N",
        help=f"how many test cases ({MIN_TEST_CASES}-{MAX_TEST_CASES}, default {DEFAULT_TEST_CASES})",
    )
    generate.add_argument(
        "--scenarios",
        type=int,
        default=DEFAULT_SCENARIOS_PER_CASE,
        metavar="N",
        help=f"scenarios per test case ({MIN_SCENARIOS_PER_CASE}-{MAX_SCENARIOS_PER_CASE}, "
        f"default {DEFAULT_SCENARIOS_PER_CASE})",
    )
    generate.add_argument(
        "--only-changed",
        action="store_true",
        help="generate only for the acceptance criteria that are new or changed since the saved tests",
    )
    generate.add_argument(
        "--technique",
        dest="techniques",
        action="append",
        choices=[t.value for t in Technique],
        metavar="NAME",
        help="a test-design technique the test cases apply in turn (repeat for several: "
        f"{', '.join(t.value for t in Technique)}); default: the project's",
    )
    generate.add_argument(
        "--delivery",
        choices=[d.value for d in Delivery],
        default=None,
        help="with --project: batch sends the model calls through the provider's Batch API (within 24 h, "
        "at half the price), standard one by one; default: the project's",
    )
    generate.add_argument(
        "--follow", action="store_true", help="watch the progress live and print the result"
    )
    _add_api_options(generate)

    status = sub.add_parser(
        "status",
        help="show the state of a generation task",
        description="Show the state, progress and result (or error) of a generation task. Exits 1 when "
        "the task is unknown or the API cannot be reached.",
    )
    status.add_argument("task_id", metavar="TASK_ID", help="the task id that `testgen generate` printed")
    status.add_argument("--json", action="store_true", help="print the raw JSON status")
    _add_api_options(status)

    stories = sub.add_parser(
        "stories", help="manage user stories (import)", description="Manage user stories."
    )
    stories_sub = stories.add_subparsers(dest="stories_command", required=True)
    load = stories_sub.add_parser(
        "import",
        help="add many user stories from a JSON or CSV file, or from Jira (--jira JQL)",
        description="Add user stories from a file: a JSON list of stories (as POST /user-stories takes them) "
        "or a CSV file with the columns id,title,description,acceptance_criteria,priority,project_id "
        "(acceptance criteria separated by newlines or '|'). Stories that exist already are skipped. "
        "Exits 1 if any story could not be added. With --jira 'JQL' --project ID instead of a file, queue "
        "a Jira import job on the API (which needs JIRA_* settings): the issues the query finds become "
        "stories of the project, changed ones are updated in place (--github or --azure-devops WIQL: the "
        "same from the project's GitHub or Azure DevOps connection); --follow shows its progress and the "
        "created/updated/unchanged/skipped summary, exiting 1 if it failed or was cancelled.",
    )
    load.add_argument("file", metavar="FILE", type=Path, nargs="?", help="a .json or .csv file")
    load.add_argument("--jira", metavar="JQL", default=None, help="import the issues this Jira query finds")
    load.add_argument(
        "--github",
        action="store_true",
        help="import the issues of the repository of the project's GitHub connection (see --label, "
        "--milestone, --state)",
    )
    load.add_argument(
        "--label", action="append", metavar="LABEL", help="with --github: issues with this label (repeat)"
    )
    load.add_argument(
        "--milestone", default=None, metavar="M", help='with --github: a milestone number, "*" or "none"'
    )
    load.add_argument(
        "--state", choices=("open", "closed", "all"), default="open", help="with --github: the issues' state"
    )
    load.add_argument(
        "--azure-devops",
        metavar="WIQL",
        default=None,
        help="import the work items this WIQL query finds through the project's Azure DevOps connection",
    )
    load.add_argument(
        "--project-id",
        "--project",
        type=int,
        default=None,
        metavar="ID",
        help="project of the stories that name none (with an import: the project to import into)",
    )
    load.add_argument("--follow", action="store_true", help="with an import: watch it live")
    _add_api_options(load)
    _add_push_command(sub)
    _add_automation_command(sub)


def _add_automation_command(sub: Any) -> None:
    automation = sub.add_parser(
        "automation",
        help="write step-definition skeletons of saved test cases for pytest-bdd, behave or playwright-bdd",
        description="Download the saved test cases of a story (--story) or a project (--project) as feature "
        "files with one pending step definition per distinct step for a test framework, and write them to "
        "-o DIR. With --merge DIR instead, regenerate into a folder that has step definitions already: the "
        "features are written again, a step whose definition exists there (matched by its pattern) is left "
        "alone, only the new steps are added to the steps file, and the definitions no feature uses any more "
        "are listed, never deleted. With --fill (a story, playwright-bdd), the model is asked first for a "
        "body per step from the step text alone (a job that counts toward the project's budget; --follow "
        "watches it and writes its skeleton): each proposed body is marked for review, a step without "
        "one stays pending. --task ID writes the skeleton of a fill job that completed.",
    )
    target = automation.add_mutually_exclusive_group()
    target.add_argument("--project", type=int, default=None, metavar="ID", help="every story of project ID")
    target.add_argument("--story", default=None, metavar="ID", help="one story, e.g. US-001")
    automation.add_argument(
        "--framework",
        required=True,
        choices=[f.value for f in AutomationFramework],
        help="the test framework of the step definitions",
    )
    automation.add_argument("-o", "--output", default=None, metavar="DIR", help="the folder written")
    automation.add_argument(
        "--merge", default=None, metavar="DIR", help="a folder with step definitions: add only the new steps"
    )
    automation.add_argument(
        "--fill", action="store_true", help="queue the model pass: a proposed body per playwright-bdd step"
    )
    automation.add_argument("--base-url", default=None, metavar="URL", help="with --fill: where tests start")
    automation.add_argument(
        "--follow", action="store_true", help="with --fill: watch the job, then write its skeleton"
    )
    automation.add_argument(
        "--task", default=None, metavar="TASK_ID", help="the skeleton of a completed fill job of the story"
    )
    _add_api_options(automation)


def _add_push_command(sub: Any) -> None:
    push = sub.add_parser(
        "push",
        help="push a project's saved test cases into a test-management tool (--follow to watch)",
        description="Queue a push of a project's saved test cases into the tool of one of its connections "
        "(TestRail, Xray, Zephyr Scale, Azure DevOps) on a running testgen API: new test cases are created, "
        "edited ones updated in place, unchanged ones left alone; with the project's review gate on, only "
        "approved ones go. With --follow, show its progress, then the conflicts, failures and counts; exit "
        "0 when every test case went or was unchanged, 1 when the push failed or was cancelled, or a test "
        "case failed or is in conflict.",
    )
    push.add_argument("--project", type=int, required=True, metavar="ID", help="the project pushed")
    push.add_argument(
        "--connection",
        required=True,
        metavar="NAME",
        help="the project's connection: its name, its id, or its kind when the project has one of that kind",
    )
    push.add_argument(
        "--story",
        action="append",
        default=None,
        metavar="ID",
        help="push only this story's test cases (repeat for more; default: every story of the project)",
    )
    push.add_argument(
        "--delete-removed",
        action="store_true",
        help="delete in the tool the test cases pushed before that were deleted in testgen since",
    )
    push.add_argument(
        "--overwrite",
        action="store_true",
        help="replace test cases that were changed in the tool since the last push (else: conflicts)",
    )
    push.add_argument("--follow", action="store_true", help="watch the progress live and print the outcome")
    _add_api_options(push)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in CLIENT_COMMANDS:
        commands = {"push": cmd_push, "automation": cmd_automation}
        return run_client(args, commands.get(args.command))
    if args.command == "mcp":
        return run_mcp(args)
    settings = Settings()
    if args.command in ("api", "dev") and (problem := settings.api_keys_problem()) is not None:
        print(f"testgen: error: {problem}", file=sys.stderr)  # before any process starts
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "users":
        from testgen.cli.users import run_users  # imports the database layer: only for this command

        return run_users(settings, args)
    if args.command == "secrets":
        from testgen.cli.secret_keys import run_secrets  # imports the database layer: only for this command

        return run_secrets(settings, args)
    if args.command == "migrate":
        from testgen.data import migrations  # alembic is slow to import: only for the commands using it

        migrations.upgrade(settings.database_url)
        return 0
    if args.command == "api":
        return serve.run_api(settings, args.host, args.port, workers=args.workers, reuse_port=args.reuse_port)
    if args.command == "worker":
        if args.check:
            return serve.check_worker(settings)
        return serve.run_worker(settings, processes=args.processes)
    if args.command == "redis":
        return serve.run_redis(settings, args)
    return serve.run_dev(settings, args.host, args.port, seed=not args.no_seed)
