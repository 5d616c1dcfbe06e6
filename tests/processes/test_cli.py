"""The client commands of `testgen` (generate, status, stories import) against a real uvicorn and worker.

`testgen.cli.main` runs in a thread (the server and the worker run on the test's event loop).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.api.authn import UNAUTHORIZED
from testgen.cli.client import ProgressBar
from testgen.cli.main import main
from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from testgen.core.messages import NO_WORKER_RUNNING
from testgen.data.models import GenerationJob
from tests.support.harness import LONG_WAIT_S, run_worker, wait_for
from tests.support.helpers import is_status, make_story, queue, use_unreachable_gemini, wait_for_job

pytestmark = pytest.mark.slow

BAR = re.compile(r"^\[([#.]{30})\]\s+(\d+)%  (Queued|Starting|Generating|Done|Failed|Cancelled)")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TESTGEN_API_KEY", raising=False)
    monkeypatch.delenv("TESTGEN_LANGUAGE", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")  # the CLI speaks English whatever the machine's locale


@pytest.fixture
def api_keys() -> str | None:
    """API_KEYS of the server under test; a test parametrizes it to turn keys on."""
    return None


@pytest.fixture
def settings(settings: Settings, api_keys: str | None) -> Settings:
    settings.api_keys = SecretStr(api_keys) if api_keys else None
    return settings


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


def progress_lines(err: str) -> list[tuple[int, str]]:
    return [(int(m.group(2)), m.group(3)) for line in err.splitlines() if (m := BAR.match(line))]


def table_rows(out: str) -> list[list[str]]:
    """The rows of the summary table: `#  Type  Priority  Title  Scenarios`, split on 2+ spaces."""
    lines = out.splitlines()
    start = next(
        i for i, line in enumerate(lines) if re.match(r"^\s*#\s+Type\s+Priority\s+Title\s+Scenarios$", line)
    )
    rows = []
    for line in lines[start + 2 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != 5 or not cells[0].isdigit():
            break
        rows.append(cells)
    return rows


async def test_generate_follow_shows_progress_then_the_test_cases(
    server: str, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.offline_llm_delay_s = 0.3
    settings.batch_max_scenarios = 4  # 4 x 2 scenarios in 2 batches
    await make_story(http, "US-001")
    async with run_worker(settings):
        code = await cli(
            "generate", "US-001", "--test-cases", "4", "--scenarios", "2", "--follow", "--api", server
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"^Queued task [0-9a-f-]{36} for US-001 \(4 test cases x 2 scenarios\)$", out, re.M)
    steps = progress_lines(err)
    assert steps[0] == (0, "Queued") and steps[-1] == (100, "Done")
    assert [p for p, _ in steps] == sorted(p for p, _ in steps)
    assert {"Starting", "Generating"} <= {label for _, label in steps}
    assert {50, 70} <= {p for p, label in steps if label == "Generating"}  # one step per finished batch
    assert "[###############...............]  50%  Generating: 1/2 batches done" in err

    task_id = re.search(r"Queued task (\S+)", out).group(1)  # type: ignore[union-attr]
    job = (await http.get(f"/generate-test-cases/status/{task_id}")).json()
    cases = job["result"]["test_cases"]
    rows = table_rows(out)
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (c["test_type"], c["priority"], c["title"], "2") for c in cases
    ]
    assert "4 test cases, 8 scenarios, covering 3/3 acceptance criteria (offline: " in out


async def test_follow_says_when_no_worker_runs_until_one_does(
    server: str, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await make_story(http, "US-001")
    following = asyncio.create_task(cli("generate", "US-001", "--follow", "--api", server))
    loop = asyncio.get_running_loop()
    deadline, err = loop.time() + 30, ""
    try:
        while NO_WORKER_RUNNING not in err and loop.time() < deadline and not following.done():
            await asyncio.sleep(0.05)
            err += capsys.readouterr().err
        assert NO_WORKER_RUNNING in err  # shown while nothing can run the job
    finally:
        async with run_worker(settings):  # lets the job, and so the command, end in any case
            code = await asyncio.wait_for(following, 30)
    err += capsys.readouterr().err
    assert code == 0, err
    bars = [line for line in err.splitlines() if BAR.match(line)]
    assert bars[0].endswith(f"Queued: {NO_WORKER_RUNNING}")
    started = next(i for i, line in enumerate(bars) if "Queued" not in line)
    assert all(NO_WORKER_RUNNING not in line for line in bars[started:])  # gone once a worker runs
    assert bars[-1].startswith("[##############################] 100%  Done")


async def test_generate_without_follow_then_status(
    server: str, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await make_story(http, "US-001")
    assert await cli("generate", "US-001", "--api", server + "/") == 0
    out = capsys.readouterr().out
    task_id = re.search(r"Queued task (\S+) for US-001 \(5 test cases x 3 scenarios\)", out).group(1)  # type: ignore[union-attr]
    assert f"Follow it with: testgen status {task_id}" in out

    assert await cli("generate", "US-001", "--api", server) == 0  # no worker yet: still queued
    assert f"US-001 already has a queued task: {task_id}" in capsys.readouterr().out

    assert await cli("status", task_id, "--api", server) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"Task {task_id}  story US-001  queued  0%"

    async with run_worker(settings):
        url = f"/generate-test-cases/status/{task_id}"
        await wait_for_job(http, url, is_status("completed"), what="the job to complete")
    assert await cli("status", task_id, "--api", server) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"Task {task_id}  story US-001  completed  100%"
    assert len(table_rows(out)) == 5

    assert await cli("status", task_id, "--json", "--api", server) == 0
    assert json.loads(capsys.readouterr().out)["result"]["stats"]["scenarios"] == 15

    assert await cli("status", "no-such-task", "--api", server) == 1
    assert (
        capsys.readouterr().err.strip()
        == "testgen: error: cannot get the status: Task no-such-task not found"
    )


async def test_generate_errors_exit_1_with_the_reason(
    server: str, http: AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await make_story(http, "US-001")
    await make_story(http, "LONE-1", project=None)
    assert await cli("generate", "US-404", "--follow", "--api", server) == 1
    err = capsys.readouterr().err
    assert err.strip() == "testgen: error: cannot queue generation for US-404: User story US-404 not found"

    assert await cli("generate", "LONE-1", "--api", server) == 1
    assert "LONE-1 is not associated with a project" in capsys.readouterr().err

    assert await cli("generate", "US-001", "--test-cases", "0", "--api", server) == 1
    assert "num_test_cases: Input should be greater than or equal to 1" in capsys.readouterr().err

    closed = f"http://127.0.0.1:{free_port()}"
    assert await cli("status", "x", "--api", closed) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"testgen: error: cannot reach the testgen API at {closed} (ConnectError)")


HOSTILE = "\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\x1b[31mPay\x9b2J \u202eby card"


def terminal_controls(text: str) -> set[str]:
    """What a terminal would act on: C0 but line breaks, DEL, C1, and bidi controls."""
    return {c for c in text if (c < " " and c != "\n") or "\x7f" <= c <= "\x9f" or "\u202a" <= c <= "\u202e"}


async def test_stored_control_characters_reach_the_terminal_shown(
    server: str, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    project_id = (await http.post("/projects", json={"name": "Shop"})).json()["id"]
    story = {"id": "US-1", "project_id": project_id, "title": "Checkout", "acceptance_criteria": [HOSTILE]}
    assert (await http.post("/user-stories", json=story)).status_code == 201
    async with run_worker(settings):
        code = await cli(
            "generate", "US-1", "--test-cases", "1", "--scenarios", "1", "--follow", "--api", server
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert terminal_controls(out + err) == set()
    shown = "␛[2J␛]52;c;cm0gLXJmIH4=␇␛[31mPay\\x9b2J \\u202eby card"
    assert [row[3] for row in table_rows(out)] == [f"TC01 Functional: {shown}"]

    task_id = re.search(r"Queued task (\S+)", out).group(1)  # type: ignore[union-attr]
    assert await cli("status", task_id, "--api", server) == 0
    out, err = capsys.readouterr()
    assert terminal_controls(out + err) == set() and f"TC01 Functional: {shown}" in out


async def test_follow_exits_1_when_the_job_fails(
    server: str, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    use_unreachable_gemini(settings, "AIzaSy-cli-test-key")
    await make_story(http, "US-001")
    async with run_worker(settings):
        code = await cli("generate", "US-001", "--follow", "--api", server)
    out, err = capsys.readouterr()
    assert code == 1
    assert progress_lines(err)[-1][1] == "Failed"
    assert "Generation failed (upstream): Batch 1/1: Gemini kept failing (connection failed" in err
    assert "Title" not in out  # no table


async def test_follow_exits_1_when_the_job_is_cancelled(server: str, http: AsyncClient) -> None:
    """As a real command: `python -m testgen generate --follow`, cancelled while it waits for a worker."""
    await make_story(http, "US-001")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testgen",
        "generate",
        "US-001",
        "--follow",
        "--api",
        server,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), LONG_WAIT_S)).decode()  # a process starts
        task_id = re.match(r"Queued task (\S+) for US-001", first).group(1)  # type: ignore[union-attr]
        r = await http.post(f"/generate-test-cases/{task_id}/cancel")  # no worker: it is still queued
        assert r.status_code == 202
        assert await asyncio.wait_for(proc.wait(), 20) == 1
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert f"Task {task_id} was cancelled." in err
    assert progress_lines(err)[0] == (0, "Queued") and progress_lines(err)[-1][1] == "Cancelled"


async def test_follow_resumes_after_the_stream_is_cut(
    server: str, app: FastAPI, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.offline_llm_delay_s = 1.0
    await make_story(http, "US-001")
    task_id = (await queue(http, "US-001"))["task_id"]
    async with run_worker(settings):
        follower = asyncio.create_task(cli("generate", "US-001", "--follow", "--api", server))
        shown = ["", ""]

        def command_showed_30_percent() -> bool:
            out, err = capsys.readouterr()
            shown[0] += out
            shown[1] += err
            return any(percent >= 30 for percent, _ in progress_lines(shown[1]))

        await wait_for(command_showed_30_percent, what="the command to show 30% (so it is connected)")
        app.state.hub.close_streams()  # as when the API restarts: streams end with a retry hint
        assert await asyncio.wait_for(follower, 20) == 0
    out, err = capsys.readouterr()
    out, err = shown[0] + out, shown[1] + err
    assert re.search(f"US-001 already has a (queued|started|generating) task: {task_id}", out)
    assert err.count("the server ended the stream (restarting?); resuming...") == 1
    steps = progress_lines(err)
    assert steps[0] == (0, "Queued") and steps[-1] == (100, "Done")
    assert len(steps) == len(set(steps))  # resumed where it stopped: nothing shown twice
    assert len(table_rows(out)) == 5


@pytest.mark.parametrize("api_keys", ["cli-key-12345678"])
async def test_api_key_from_option_or_environment(
    server: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with AsyncClient(base_url=server, headers={"Authorization": "Bearer cli-key-12345678"}) as http:
        await make_story(http, "US-001")
    assert await cli("generate", "US-001", "--api", server) == 1
    assert UNAUTHORIZED in capsys.readouterr().err
    assert await cli("generate", "US-001", "--api", server, "--api-key", "cli-key-12345678") == 0
    task_id = re.search(r"Queued task (\S+)", capsys.readouterr().out).group(1)  # type: ignore[union-attr]
    monkeypatch.setenv("TESTGEN_API_KEY", "cli-key-12345678")
    assert await cli("status", task_id, "--api", server) == 0
    assert f"Task {task_id}  story US-001  queued" in capsys.readouterr().out


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = ProgressBar(screen, width=10)
    bar.update({"status": "generating", "progress": 30, "message": "Generating 15 scenarios"})
    bar.update({"status": "generating", "progress": 30, "message": "Generating 15 scenarios"})
    bar.update({"status": "completed", "progress": 100, "message": ""})
    bar.close()
    assert screen.getvalue() == (
        "\r\x1b[2K[###.......]  30%  Generating: Generating 15 scenarios\r\x1b[2K[##########] 100%  Done\n"
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_stories_import_csv_and_json(
    server: str, http: AsyncClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await make_story(http, "US-001")  # project 1 "Shop"
    csv_file = _write(
        tmp_path / "stories.csv",
        "id,title,description,acceptance_criteria,priority,project_id\n"
        "US-001,Already here,,A|B,high,1\n"
        "US-010,Pay by card,As a shopper I pay,Card is charged|Receipt is emailed | ,high,1\n"
        'US-011,Refund,,"Refund within 5 days\nCustomer is notified",,\n'
        "US-012,Broken,,x,urgent,1\n"
        "US-013,Gift card,,Balance shown,low,99\n",
    )
    assert await cli("stories", "import", str(csv_file), "--project-id", "1", "--api", server) == 1
    out, err = capsys.readouterr()
    assert "Imported stories.csv: 2 created, 1 skipped (already exist), 2 failed" in out
    assert "Already there (skipped): US-001" in out
    assert (
        "stories.csv row 5 (US-012): priority: Input should be 'low', 'medium', 'high' or 'critical'" in err
    )
    assert "stories.csv row 6 (US-013):" in err

    card = (await http.get("/user-stories/US-010")).json()
    assert card["acceptance_criteria"] == ["Card is charged", "Receipt is emailed"]
    assert card["priority"] == "high" and card["description"] == "As a shopper I pay"
    refund = (await http.get("/user-stories/US-011")).json()
    assert refund["acceptance_criteria"] == ["Refund within 5 days", "Customer is notified"]
    assert refund["project_id"] == 1 and refund["priority"] == "medium"  # --project-id; default priority

    stories = [
        {"id": f"JS-{i}", "title": f"Story {i}", "project_id": 1, "acceptance_criteria": [f"C{i}"]}
        for i in range(30)
    ]
    stories.append({"id": "JS-X", "title": "Criteria as one text", "acceptance_criteria": "One|Two"})
    json_file = _write(tmp_path / "more.json", json.dumps(stories))
    assert await cli("stories", "import", str(json_file), "--api", server) == 0
    assert "Imported more.json: 31 created, 0 skipped (already exist), 0 failed" in capsys.readouterr().out
    assert (await http.get("/user-stories/JS-X")).json()["acceptance_criteria"] == ["One", "Two"]
    assert len((await http.get("/user-stories")).json()) == 3 + 31

    assert await cli("stories", "import", str(json_file), "--api", server) == 0  # again: nothing new
    assert "Imported more.json: 0 created, 31 skipped (already exist), 0 failed" in capsys.readouterr().out


async def test_stories_import_refuses_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = f"http://127.0.0.1:{free_port()}"  # never reached: the file is refused first
    cases = {
        "missing.json": (None, "cannot read"),
        "bad.json": ("[{", "is not valid JSON"),
        "object.json": ('{"id": "US-1"}', "must hold a JSON list of stories"),
        "cols.csv": ("key,name\nUS-1,x\n", "missing: id, title"),
        "extra.csv": ("id,title,owner\nUS-1,x,me\n", "unknown CSV columns owner"),
        "empty.csv": ("id,title\n", "holds no stories"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        if text is not None:
            _write(path, text)
        assert await cli("stories", "import", str(path), "--api", api) == 2, name
        assert message in capsys.readouterr().err, name


@pytest.mark.parametrize(
    ("argv", "expected", "talks_to_api"),
    [
        (["generate", "--help"], "--follow", True),
        (["status", "--help"], "TASK_ID", True),
        (["stories", "import", "--help"], "acceptance_criteria", True),
        (["stories", "--help"], "import", False),
        (["dev", "--help"], "--no-seed", False),
    ],
)
def test_every_command_has_help(
    argv: list[str], expected: str, talks_to_api: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: testgen ") and expected in out
    assert ("--api URL" in out) == talks_to_api


async def test_generate_a_project_follows_every_story_on_one_view(
    server: str,
    http: AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project_id = (await make_story(http, "US-1"))["project_id"]
    for story in ("US-2", "US-3"):
        await make_story(http, story)
    tested = await queue(http, "US-3", num_test_cases=1, scenarios_per_test_case=1)
    monkeypatch.setenv("TESTGEN_API_URL", server)  # no --api: the address comes from the environment
    async with run_worker(settings):
        await wait_for_job(http, tested["status_url"], is_status("completed"), what="US-3's draft")
        assert (await http.post(f"/generate-test-cases/{tested['task_id']}/save")).status_code == 201
        code = await cli(
            "generate", "--project", str(project_id), "--only-without-tests", "--follow", "--test-cases", "2"
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Queued 2 tasks for project {project_id}\n" in out
    assert "2 of 2 drafts ready (4 test cases)" in out
    views = [line for line in err.splitlines() if line.startswith("[")]
    assert views[0].endswith("2 stories: 2 queued")
    assert views[-1] == "[##############################] 100%  2 stories: 2 done"
    progress = [int(line[32:36]) for line in views]
    assert progress == sorted(progress) and len(views) > 2


async def test_generate_a_project_exits_1_when_a_job_fails(
    server: str, http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    project_id = (await make_story(http, "US-1"))["project_id"]
    use_unreachable_gemini(settings, "a-key")
    async with run_worker(settings):
        code = await cli("generate", "--project", str(project_id), "--follow", "--api", server)
    out, err = capsys.readouterr()
    assert code == 1
    assert "0 of 1 drafts ready" in out and "US-1: Failed" in err
    assert await cli("generate", "US-1", "--project", "1", "--api", server) == 2
    assert "give a STORY_ID or --project ID" in capsys.readouterr().err


async def test_generate_a_project_with_batch_delivery_queues_its_jobs_so(
    server: str, http: AsyncClient, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    project_id = (await make_story(http, "US-1"))["project_id"]
    assert await cli("generate", "--project", str(project_id), "--delivery", "batch", "--api", server) == 0
    async with engine.connect() as conn:
        options = (await conn.execute(select(GenerationJob.options))).scalar_one()
    assert options["delivery"] == "batch"
    assert await cli("generate", "US-1", "--delivery", "batch", "--api", server) == 2
    assert "--delivery goes with --project" in capsys.readouterr().err


@pytest.mark.parametrize(("variable", "value"), [("TESTGEN_LANGUAGE", "es"), ("LANG", "es_ES.UTF-8")])
async def test_generate_follow_in_spanish(
    server: str,
    http: AsyncClient,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    settings.offline_llm_delay_s = 0.3
    await make_story(http, "US-001")
    async with run_worker(settings):
        code = await cli(
            "generate", "US-001", "--test-cases", "2", "--scenarios", "2", "--follow", "--api", server
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"^Tarea \S+ en cola para US-001 \(2 casos de prueba x 2 escenarios\)$", out, re.M)
    assert "Revísalos y guárdalos en la página web" in out and "Idioma: en" in out
    labels = [
        m.group(1) for line in err.splitlines() if (m := re.match(r"^\[[#.]{30}\]\s+\d+%  ([^:]+)", line))
    ]
    assert labels[0] == "En cola" and labels[-1] == "Listo para revisar"
    assert {"Iniciando…", "Generando"} <= set(labels)
