"""Automation skeletons run under their frameworks: `testgen automation` against a real uvicorn and
worker writes a project of an English and a Spanish story, pytest collects the pytest-bdd one (every
scenario fails on a pending step it names), `behave --dry-run` finds no undefined step, and the
playwright-bdd one passes `tsc --noEmit` and `bddgen` (and, where Chromium is, Playwright skips every
scenario); `--merge` keeps hand-written bodies."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpx import AsyncClient

from testgen.automation.fill import fill_steps, offline_answer, parse_answer
from testgen.automation.render import Proposal, project_files, skeleton
from testgen.cli.main import main
from testgen.domain.automation import AutomationFramework
from tests.support.helpers import is_status, make_story, queue, wait_for_job

pytestmark = pytest.mark.slow

RUN_TIMEOUT_S = 90
NPM_TIMEOUT_S = 240


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TESTGEN_API_KEY", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


async def automation(server: str, *args: str) -> int:
    return await asyncio.to_thread(main, ["automation", *args, "--api", server])


async def save(http: AsyncClient, story_id: str, cases: int = 2) -> None:
    job = await queue(http, story_id, num_test_cases=cases, scenarios_per_test_case=2)
    await wait_for_job(http, job["status_url"], is_status("completed"), what="the job to complete")
    r = await http.post(f"/generate-test-cases/{job['task_id']}/save")
    assert r.status_code == 201, r.text


async def two_stories(http: AsyncClient) -> int:
    """A project with an English story and a Spanish one, their test cases saved; its id."""
    story = await make_story(http, "US-1")
    await make_story(http, "US-2")
    r = await http.patch("/user-stories/US-2", json={"language": "es"})
    assert r.status_code == 200, r.text
    await save(http, "US-1")
    await save(http, "US-2")
    return int(story["project_id"])


def run(command: list[str], cwd: Path, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "BEHAVE_"))}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_pytest_bdd(folder: Path) -> list[tuple[str, str]]:
    """The pytest-bdd project run by pytest in a subprocess: each test with its failure's message."""
    report = folder / "report.xml"
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            f"--rootdir={folder}",
            "-c",
            os.devnull,
            f"--junitxml={report}",
            str(folder),
        ],
        folder,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # tests failed; 2 or more: errors
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "0", result.stdout
    tests = []
    for case in suite.iter("testcase"):
        failure = case.find("failure")
        tests.append((case.get("name", ""), "" if failure is None else failure.get("message", "")))
    return tests


def every_step_is_defined_for_pytest_bdd(folder: Path) -> None:
    """The project with every pending body replaced by `pass` passes: each step of each scenario (the
    ones after the first pending step too) matches a definition."""
    filled = folder.with_name(folder.name + "-filled")
    shutil.copytree(folder, filled)
    conftest = filled / "conftest.py"
    conftest.write_text(re.sub(r"raise NotImplementedError\(.*\)\n", "pass\n", conftest.read_text()))
    result = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers",
         f"--rootdir={filled}", "-c", os.devnull, str(filled)],
        filled,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"\b{scenario_count(filled)} passed\b", result.stdout), result.stdout


def scenario_count(folder: Path) -> int:
    """The tests pytest makes of the features: a scenario each, an outline one per example."""
    count = 0
    for path in (folder / "features").glob("*.feature"):
        text = path.read_text()
        count += len(re.findall(r"^\s*(?:Scenario|Escenario):", text, re.M))
        for block in re.split(r"^\s*(?:Scenario Outline|Esquema del escenario):", text, flags=re.M)[1:]:
            table = re.split(r"^\s*(?:Scenario|Escenario|Rule|Regla)", block, flags=re.M)[0]
            count += max(0, len(re.findall(r"^\s*\|", table, re.M)) - 1)
    return count


async def test_pytest_bdd_and_behave_skeletons_run_in_english_and_spanish(
    http: AsyncClient, server: str, worker: object, tmp_path: Path
) -> None:
    project = await two_stories(http)
    bdd, steps = tmp_path / "bdd", tmp_path / "behave"
    args = ("--project", str(project))
    assert await automation(server, *args, "--framework", "pytest-bdd", "-o", str(bdd)) == 0
    assert await automation(server, *args, "--framework", "behave", "-o", str(steps)) == 0
    assert (bdd / "features" / "US-2.feature").read_text().startswith("# language: es\n")

    tests = run_pytest_bdd(bdd)
    assert len(tests) == scenario_count(bdd) > 0
    for name, message in tests:
        assert message.startswith("NotImplementedError: Pending step: Given "), (name, message)
    every_step_is_defined_for_pytest_bdd(bdd)

    result = run([sys.executable, "-m", "behave", "--dry-run", "--no-color", "features"], steps)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout + result.stderr
    assert not re.search(r"[1-9]\d* undefined", summary), summary
    untested = re.search(r"0 steps passed, 0 failed, 0 skipped, (\d+) untested", summary)
    assert untested and int(untested[1]) > 0, summary
    # a step the features do not define is what the checks catch
    (steps / "features" / "steps" / "steps.py").write_text(
        re.sub(
            r"@given\('[^']*'\)\ndef \w+\(",
            "def gone(",
            (steps / "features/steps/steps.py").read_text(),
            count=1,
        )
    )
    result = run([sys.executable, "-m", "behave", "--dry-run", "--no-color", "features"], steps)
    assert re.search(r"[1-9]\d* undefined", result.stdout + result.stderr)


async def test_merge_keeps_hand_written_bodies_adds_new_steps_and_lists_unused_ones(
    http: AsyncClient, server: str, worker: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = await two_stories(http)
    bdd = tmp_path / "bdd"
    assert await automation(server, "--story", "US-1", "--framework", "pytest-bdd", "-o", str(bdd)) == 0
    conftest = bdd / "conftest.py"
    generated = conftest.read_text()
    first = re.search(
        r"(@given\(parsers\.parse\((.+)\)\)\ndef (\w+)\((.*)\) -> None:\n)    raise .*\n", generated
    )
    assert first is not None
    hand_written = generated.replace(first[0], first[1] + "    assert True  # written by hand\n")
    hand_written += "\n\n@then('a step no feature uses')\ndef then_unused() -> None:\n    pass\n"
    conftest.write_text(hand_written)
    capsys.readouterr()
    # -o again would overwrite the definitions: refused
    assert await automation(server, "--story", "US-1", "--framework", "pytest-bdd", "-o", str(bdd)) == 1
    assert conftest.read_text() == hand_written

    assert (
        await automation(server, "--project", str(project), "--framework", "pytest-bdd", "--merge", str(bdd))
        == 0
    )
    out = capsys.readouterr().out
    merged = conftest.read_text()
    assert merged.startswith(hand_written)  # byte for byte
    found = re.search(r"added (\d+) to", out)
    assert found is not None
    added = int(found[1])
    assert (
        added > 0
        and merged.count("raise NotImplementedError(")
        == generated.count("raise NotImplementedError(") - 1 + added
    )
    assert re.search(
        r"1 step definitions no feature uses \(left in place\):\n  conftest\.py:\d+  a step no feature uses",
        out,
    )
    tests = run_pytest_bdd(bdd)
    assert len(tests) == scenario_count(bdd)

    # a story left out: its feature file stays, listed, and the steps only it uses are unused
    assert await automation(server, "--story", "US-2", "--framework", "pytest-bdd", "--merge", str(bdd)) == 0
    out = capsys.readouterr().out
    assert "1 feature files not in the download (left in place, their steps not counted):\n" in out
    assert "  features/US-1.feature\n" in out
    assert conftest.read_text() == merged

    # nothing new: the file is left as it is
    assert (
        await automation(server, "--project", str(project), "--framework", "pytest-bdd", "--merge", str(bdd))
        == 0
    )
    assert conftest.read_text() == merged
    assert "added 0 to" in capsys.readouterr().out


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """playwright-bdd, Playwright Test and TypeScript installed once (no browsers) from the skeleton's
    own package.json; the test skips without Node and npm, or when npm cannot install."""
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        pytest.skip("Node.js and npm are needed to check the playwright-bdd skeleton")
    folder = tmp_path_factory.mktemp("playwright-bdd")
    (folder / "package.json").write_text(project_files(AutomationFramework.playwright_bdd)["package.json"])
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1", "npm_config_update_notifier": "false"}
    command = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
    try:
        result = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=NPM_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install took more than {NPM_TIMEOUT_S} s")
    if result.returncode != 0:
        pytest.skip(f"npm install failed (no registry?): {result.stderr[-500:]}")
    yield folder / "node_modules"


@pytest.mark.timeout(NPM_TIMEOUT_S + 3 * RUN_TIMEOUT_S)
async def test_the_playwright_bdd_skeleton_type_checks_and_generates_its_tests(
    http: AsyncClient, server: str, worker: object, tmp_path: Path, node_modules: Path
) -> None:
    project = await two_stories(http)
    folder = tmp_path / "e2e"
    assert (
        await automation(
            server, "--project", str(project), "--framework", "playwright-bdd", "-o", str(folder)
        )
        == 0
    )
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    node = shutil.which("node")
    assert node is not None
    tsc = run([node, str(node_modules / "typescript" / "bin" / "tsc"), "--noEmit", "-p", "."], folder)
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    bddgen = run([str(node_modules / ".bin" / "bddgen")], folder)
    assert bddgen.returncode == 0, bddgen.stdout + bddgen.stderr
    generated = sorted(p.name for p in (folder / ".features-gen").rglob("*.spec.js"))
    assert generated == ["US-1.feature.spec.js", "US-2.feature.spec.js"]
    # a step without its definition fails bddgen: the check is not empty
    steps = folder / "steps" / "steps.ts"
    steps.write_text(re.sub(r'Given\("', 'Given("never used ', steps.read_text(), count=1))
    assert run([str(node_modules / ".bin" / "bddgen")], folder).returncode != 0


OUTLINES = {
    "outline.feature": """\
# language: en
Feature: Roles
  Background:
    Given the shop is open

  Rule: admins
    Scenario Outline: a role sees its page
      Given a user "<email>" with role <role>
      When the user opens page <n> of "<section>"
      Then the title "<title>" is shown
      And <n> items are listed
      But nothing else is shown

      Examples:
        | email     | role   | n | section | title  |
        | a@b.c     | admin  | 1 | Orders  | Orders |
        | z@b.c     | viewer | 2 | Users   | Users  |

    Scenario: a fixed page
      Given a user "x@y.z" with role admin
      When the user opens page 3 of "Orders"
      Then the title 'Orders' is shown
      And the note (see {docs}) reads a/b \\ c, 50% off, `x` and ${y}
""",
    "esquema.feature": """\
# language: es
Característica: Carrito
  Esquema del escenario: añadir productos
    Dado un carrito con <cantidad> productos
    Cuando el comprador añade "<producto>"
    Entonces el carrito tiene <total> productos
    Y el precio es <precio> euros

    Ejemplos:
      | cantidad | producto | total | precio |
      | 0        | té       | 1     | 2.5    |
      | 2        | café     | 3     | 10     |
""",
}


def write(files: dict[str, str], folder: Path) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_outlines_rules_and_backgrounds_run_under_pytest_bdd_and_behave(tmp_path: Path) -> None:
    bdd, steps = tmp_path / "bdd", tmp_path / "behave"
    write(skeleton(OUTLINES, AutomationFramework.pytest_bdd).files, bdd)
    write(skeleton(OUTLINES, AutomationFramework.behave).files, steps)
    tests = run_pytest_bdd(bdd)
    assert len(tests) == scenario_count(bdd) == 5
    assert all(message.startswith("NotImplementedError: Pending step: Given ") for _, message in tests)
    every_step_is_defined_for_pytest_bdd(bdd)
    result = run([sys.executable, "-m", "behave", "--dry-run", "--no-color", "features"], steps)
    summary = result.stdout + result.stderr
    assert result.returncode == 0 and not re.search(r"[1-9]\d* undefined", summary), summary


@pytest.mark.timeout(NPM_TIMEOUT_S + 3 * RUN_TIMEOUT_S)
def test_outlines_pass_bddgen(tmp_path: Path, node_modules: Path) -> None:
    folder = tmp_path / "e2e"
    write(skeleton(OUTLINES, AutomationFramework.playwright_bdd).files, folder)
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    node = shutil.which("node")
    assert node is not None
    tsc = run([node, str(node_modules / "typescript" / "bin" / "tsc"), "--noEmit", "-p", "."], folder)
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    bddgen = run([str(node_modules / ".bin" / "bddgen")], folder)
    assert bddgen.returncode == 0, bddgen.stdout + bddgen.stderr
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # the tests' Chromium (tests/web) runs them too when there is one
    # Run in Chromium, every scenario is skipped on its first step (test.fixme), none fails.
    (folder / "local.config.ts").write_text(
        (folder / "playwright.config.ts")
        .read_text()
        .replace(
            "use: {",
            f"use: {{ launchOptions: {{ executablePath: {json.dumps(chromium)}, args: ['--no-sandbox'] }},",
        )
    )
    result = run([str(node_modules / ".bin" / "bddgen"), "-c", "local.config.ts"], folder)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(
        [str(node_modules / ".bin" / "playwright"), "test", "-c", "local.config.ts", "--reporter=line"],
        folder,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\s*5 skipped$", result.stdout, re.M), result.stdout


def offline_proposals(features: dict[str, str], base_url: str) -> dict[str, Proposal]:
    """What the offline model proposes for the features' steps, checked as a fill job checks them."""
    steps = fill_steps(list(features.values()))
    answers = parse_answer(json.loads(offline_answer(steps, base_url)), len(steps))
    return {
        step.expression: Proposal(body, "offline/offline-v1")
        for step, (body, _) in zip(steps, answers, strict=True)
        if body is not None
    }


@pytest.mark.timeout(NPM_TIMEOUT_S + 3 * RUN_TIMEOUT_S)
def test_proposed_bodies_type_check_in_outlines_and_a_step_with_a_substitution_stays_pending(
    tmp_path: Path, node_modules: Path
) -> None:
    folder = tmp_path / "e2e"
    proposals = offline_proposals(OUTLINES, "http://127.0.0.1:9/shop?a=1&b='2'")
    files = skeleton(OUTLINES, AutomationFramework.playwright_bdd, proposals).files
    steps = files["steps/steps.ts"]
    # the step whose text holds `${y}` gets no body (a template substitution is refused): it stays pending
    assert steps.count("test.fixme(true, ") == 1 and "${y}" in steps.split("test.fixme(true, ")[1]
    assert steps.count("// PROPOSAL from offline/offline-v1 — review before use") == len(proposals) >= 8
    write(files, folder)
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    node = shutil.which("node")
    assert node is not None
    tsc = run([node, str(node_modules / "typescript" / "bin" / "tsc"), "--noEmit", "-p", "."], folder)
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr + steps
    bddgen = run([str(node_modules / ".bin" / "bddgen")], folder)
    assert bddgen.returncode == 0, bddgen.stdout + bddgen.stderr


@pytest.mark.timeout(NPM_TIMEOUT_S + 3 * RUN_TIMEOUT_S)
async def test_the_cli_fills_a_story_skeleton_with_proposals_that_type_check(
    http: AsyncClient,
    server: str,
    worker: object,
    tmp_path: Path,
    node_modules: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await make_story(http, "US-1")
    await save(http, "US-1")
    story = ("--story", "US-1", "--framework", "playwright-bdd")
    folder = tmp_path / "filled"
    assert await automation(server, *story, "--fill", "--base-url", "ftp://x/", "-o", str(folder)) == 1
    assert "base_url" in capsys.readouterr().err  # the API's 422, named
    assert await automation(server, *story, "--fill", "-o", str(folder)) == 2  # no --base-url
    bdd = ("--story", "US-1", "--framework", "pytest-bdd", "--fill", "--base-url", "http://127.0.0.1:9/")
    assert await automation(server, *bdd, "-o", str(folder)) == 2
    assert not folder.exists()

    fill_args = ("--fill", "--base-url", "http://127.0.0.1:9/shop/", "--follow", "-o", str(folder))
    assert await automation(server, *story, *fill_args) == 0
    out = capsys.readouterr().out
    proposed = re.search(r"Proposed bodies for (\d+) of (\d+) steps \(offline/offline-v1\)", out)
    assert proposed is not None and proposed[1] == proposed[2], out
    steps = (folder / "steps" / "steps.ts").read_text()
    assert steps.count("// PROPOSAL from offline/offline-v1 — review before use") == int(proposed[1])
    assert "test.fixme" not in steps and 'await page.goto("http://127.0.0.1:9/shop/");' in steps
    (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    node = shutil.which("node")
    assert node is not None
    tsc = run([node, str(node_modules / "typescript" / "bin" / "tsc"), "--noEmit", "-p", "."], folder)
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    bddgen = run([str(node_modules / ".bin" / "bddgen")], folder)
    assert bddgen.returncode == 0, bddgen.stdout + bddgen.stderr

    # without --follow: the job is queued and the command says how to write its skeleton later
    later = tmp_path / "later"
    queued_args = ("--fill", "--base-url", "http://127.0.0.1:9/", "-o", str(later))
    assert await automation(server, *story, *queued_args) == 0
    out = capsys.readouterr().out
    task = re.search(r"--task (\S+) -o DIR", out)
    assert task is not None and not later.exists(), out
    await wait_for_job(
        http, f"/generate-test-cases/status/{task[1]}", is_status("completed"), what="the fill"
    )
    assert await automation(server, *story, "--task", task[1], "-o", str(later)) == 0
    assert (later / "steps" / "steps.ts").read_text().count("// PROPOSAL from ") == int(proposed[1])
