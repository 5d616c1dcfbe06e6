"""`testgen automation`: a story's or a project's automation skeleton written to a folder, or merged
into one that has step definitions already (`--merge DIR`: only the new steps are added, the steps no
feature uses any more are listed)."""

from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import httpx

from testgen.api.schemas.jobs import AutomationFillJobOut, QueuedJob
from testgen.automation import merge
from testgen.automation.render import FEATURES_DIR, STEP_SUFFIX, STEPS_FILE, unify_for
from testgen.cli.api_http import CliError, check, detail, read_job
from testgen.cli.client import follow
from testgen.cli.progress_bar import ProgressBar
from testgen.cli.terminal_text import echo, printable
from testgen.core.i18n import UI_DEFAULT
from testgen.data.job_states import JobStatus
from testgen.domain.automation import AutomationFramework

# What a zip from the API may hold, and how much of a folder is read for its step definitions.
MAX_ZIP_FILES = 5_000
MAX_ZIP_BYTES = 200_000_000
MAX_STEP_FILES = 2_000
MAX_STEP_FILE_BYTES = 2_000_000
_SKIPPED_DIRS = frozenset(
    {"node_modules", "__pycache__", ".features-gen", "playwright-report", "test-results"}
)


def _safe_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not path.parts or name.endswith("/"):
        raise CliError(f"the API sent a zip with an unsafe file name: {printable(name[:200])}")
    return path


def read_zip(content: bytes) -> dict[PurePosixPath, str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise CliError("the API did not send a zip") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_FILES or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise CliError("the API sent a zip larger than this command takes")
        return {_safe_path(i.filename): archive.read(i).decode("utf-8") for i in infos}


def step_files(folder: Path, framework: AutomationFramework) -> dict[str, str]:
    """The files of `folder` that may hold `framework`'s step definitions (path relative to it)."""
    found: dict[str, str] = {}
    suffix = STEP_SUFFIX[framework]
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if (
                not name.endswith(suffix)
                or name.endswith(".d.ts")
                or path.stat().st_size > MAX_STEP_FILE_BYTES
            ):
                continue
            if len(found) >= MAX_STEP_FILES:
                raise CliError(
                    f"{folder} has more than {MAX_STEP_FILES} {suffix} files: name the steps' folder"
                )
            found[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return found


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _check_fill_args(args: argparse.Namespace, framework: AutomationFramework) -> None:
    if not (args.fill or args.task is not None):
        if args.base_url is not None or args.follow:
            raise CliError("--base-url and --follow go with --fill", code=2)
        return
    if args.fill and args.task is not None:
        raise CliError("give --fill (a new model pass) or --task ID (a finished one), not both", code=2)
    if args.story is None or framework is not AutomationFramework.playwright_bdd:
        raise CliError("step-body proposals are for one story (--story), --framework playwright-bdd", code=2)
    if args.merge is not None:
        raise CliError("proposed step bodies go into a new skeleton: give -o DIR, not --merge", code=2)
    if args.fill and args.base_url is None:
        raise CliError("--fill needs --base-url URL: where the proposed steps navigate to", code=2)


def _fill(api: httpx.Client, args: argparse.Namespace) -> str | None:
    """Queue the fill job; with --follow, the task id once it completed (None: not followed)."""
    story = quote(args.story, safe="")
    response = api.post(f"/user-stories/{story}/test-cases/automation/fill", json={"base_url": args.base_url})
    queued = QueuedJob.model_validate(check(response, "cannot queue the step-body proposals", ok=(202,)))
    echo(f"Queued step-body proposals {queued.task_id} for story {printable(args.story)}")
    if not args.follow:
        if queued.warning:
            echo(f"Warning: {queued.warning}", file=sys.stderr)
        echo(
            f"When it completes: testgen automation --story {printable(args.story)} --framework "
            f"playwright-bdd --task {queued.task_id} -o DIR"
        )
        return None
    bar = ProgressBar(sys.stderr, language=getattr(args, "language", None) or UI_DEFAULT)
    try:
        final = read_job(follow(api, queued.task_id, queued.events_url, bar, queued.warning))
    except KeyboardInterrupt:
        echo(f"\nStopped watching; task {queued.task_id} keeps running", file=sys.stderr)
        raise CliError(f"testgen status {queued.task_id} shows it", code=130) from None
    if final.status != JobStatus.completed:
        reason = f": {final.error.message}" if final.error is not None else ""
        raise CliError(f"step-body proposals {queued.task_id} {final.status}{reason}")
    if isinstance(final, AutomationFillJobOut) and final.result is not None:
        result = final.result
        echo(
            f"Proposed bodies for {result.proposed} of {result.steps} steps ({result.provider}/"
            f"{result.model}); review each PROPOSAL before use"
        )
    return queued.task_id


def cmd_automation(api: httpx.Client, args: argparse.Namespace) -> int:
    if (args.story is None) == (args.project is None):
        raise CliError("give --story ID or --project ID (not both)", code=2)
    if args.merge is not None and args.output is not None and Path(args.merge) != Path(args.output):
        raise CliError("--merge DIR writes into DIR: leave out -o, or give the same folder", code=2)
    if args.merge is None and args.output is None:
        raise CliError("give -o DIR (a new skeleton) or --merge DIR (into existing step definitions)", code=2)
    framework = AutomationFramework(args.framework)
    _check_fill_args(args, framework)
    task_id = args.task
    if args.fill:
        task_id = _fill(api, args)
        if task_id is None:
            return 0
    folder = Path(args.merge or args.output)
    url = (
        f"/user-stories/{quote(args.story, safe='')}/test-cases/automation"
        if args.story is not None
        else f"/projects/{args.project}/test-cases/automation"
    )
    params = {"framework": framework.value, **({"task_id": task_id} if task_id is not None else {})}
    response = api.get(url, params=params, timeout=120)
    if response.status_code != 200:
        raise CliError(f"cannot download the automation skeleton: {detail(response)}")
    files = read_zip(response.content)
    steps_path = PurePosixPath(STEPS_FILE[framework])
    features = {p: t for p, t in files.items() if p.parts[0] == FEATURES_DIR and p.suffix == ".feature"}
    catalog = unify_for(list(features.values()), framework)
    existing_steps_file = folder / steps_path
    if args.merge is None and existing_steps_file.exists():
        raise CliError(
            f"{existing_steps_file} exists: --merge {folder} keeps its definitions and adds the new steps"
        )
    for path, text in files.items():
        target = folder / path
        if path in features or (path != steps_path and not target.exists()):
            _write(target, text)  # the features always; the project's other files when missing
    echo(
        f"{len(features)} feature files, {catalog.occurrences} steps: {len(catalog.definitions)} step "
        f"definitions for {framework.value}"
    )
    if args.merge is None:
        _write(existing_steps_file, files[steps_path])
        echo(f"Wrote {folder}")
        return 0
    found = merge.existing_steps(step_files(folder, framework), framework)
    for unreadable in found.unreadable:
        echo(f"Warning: {folder / unreadable} does not parse; its steps were not read", file=sys.stderr)
    plan = merge.plan(catalog, found, framework)
    current = existing_steps_file.read_text(encoding="utf-8") if existing_steps_file.exists() else None
    taken = found.function_names.get(steps_path.as_posix(), set())
    merged = merge.merged_steps_file(current, plan.new, framework, taken)
    if merged is not None:
        _write(existing_steps_file, merged)
    echo(f"Kept {len(plan.kept)} step definitions, added {len(plan.new)} to {existing_steps_file}")
    if plan.unused:
        echo(f"{len(plan.unused)} step definitions no feature uses (left in place):")
        for step in plan.unused:
            echo(f"  {step.path}:{step.line}  {printable(step.pattern)}")
    written = {(folder / p).resolve() for p in features}
    stale = sorted(p for p in (folder / FEATURES_DIR).rglob("*.feature") if p.resolve() not in written)
    if stale:
        echo(f"{len(stale)} feature files not in the download (left in place, their steps not counted):")
        for feature in stale:
            echo(f"  {printable(feature.relative_to(folder).as_posix())}")
    return 0
