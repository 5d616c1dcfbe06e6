"""The automation skeleton routes: a story's or a project's saved test cases as a zip of feature files
(the Gherkin export's, in each story's dialect) and step definitions for a framework."""

from __future__ import annotations

import ast
import io
import zipfile

import pytest
from httpx import AsyncClient

from testgen.api.services import automation
from testgen.domain.automation import AutomationFramework
from tests.support.helpers import is_status, make_story, queue, wait_for_job


def unzip(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def saved(client: AsyncClient, story_id: str, **story: object) -> None:
    """Generated (offline) and saved test cases for the story."""
    if story:
        assert (await client.patch(f"/user-stories/{story_id}", json=story)).status_code == 200
    job = await queue(client, story_id, num_test_cases=3, scenarios_per_test_case=2)
    await wait_for_job(client, job["status_url"], is_status("completed"), what="the job to complete")
    r = await client.post(f"/generate-test-cases/{job['task_id']}/save")
    assert r.status_code == 201, r.text


async def test_a_story_skeleton_holds_its_export_and_a_definition_per_distinct_step(
    client: AsyncClient, worker: object
) -> None:
    await make_story(client, "US-1")
    await saved(client, "US-1")
    feature = (await client.get("/user-stories/US-1/test-cases/export", params={"format": "gherkin"})).text
    for framework, steps_path in (
        ("pytest-bdd", "conftest.py"),
        ("behave", "features/steps/steps.py"),
        ("playwright-bdd", "steps/steps.ts"),
    ):
        r = await client.get("/user-stories/US-1/test-cases/automation", params={"framework": framework})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert r.headers["content-disposition"] == f'attachment; filename="US-1-{framework}.zip"'
        files = unzip(r.content)
        assert files["features/US-1.feature"] == feature
        steps = files[steps_path]
        if framework != "playwright-bdd":
            tree = ast.parse(steps)
            defined = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.decorator_list]
            assert defined and len(defined) < feature.count("\n    ")  # fewer definitions than steps
        else:
            assert steps.count("test.fixme(true, ") >= 1


async def test_a_project_skeleton_has_a_feature_per_story_in_its_dialect(
    client: AsyncClient, worker: object
) -> None:
    await make_story(client, "US-1")
    await make_story(client, "US-2")
    await make_story(client, "US-3")  # no saved test cases: no feature
    await saved(client, "US-1")
    await saved(client, "US-2", language="es")
    project = (await client.get("/user-stories/US-1")).json()["project_id"]
    r = await client.get(f"/projects/{project}/test-cases/automation", params={"framework": "behave"})
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="Shop-behave.zip"'
    files = unzip(r.content)
    assert sorted(files) == ["features/US-1.feature", "features/US-2.feature", "features/steps/steps.py"]
    assert files["features/US-1.feature"].startswith("# language: en\n")
    assert files["features/US-2.feature"].startswith("# language: es\n")
    assert "Dado " in files["features/US-2.feature"]


async def test_the_framework_is_one_of_the_enum_and_the_project_is_bounded(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = await make_story(client, "US-1")
    r = await client.get("/user-stories/US-1/test-cases/automation", params={"framework": "cypress"})
    assert r.status_code == 422
    assert (await client.get("/user-stories/US-1/test-cases/automation")).status_code == 422
    r = await client.get("/user-stories/US-1/test-cases/automation", params={"framework": "pytest-bdd"})
    assert r.status_code == 200  # no saved test cases: the project files alone
    assert sorted(unzip(r.content)) == ["conftest.py", "test_features.py"]
    await make_story(client, "US-2")
    monkeypatch.setattr(automation, "MAX_AUTOMATION_STORIES", 1)
    project = story["project_id"]
    r = await client.get(f"/projects/{project}/test-cases/automation", params={"framework": "behave"})
    assert r.status_code == 409 and "more than 1 stories" in r.json()["detail"]
    assert [f.value for f in AutomationFramework] == ["pytest-bdd", "behave", "playwright-bdd"]
