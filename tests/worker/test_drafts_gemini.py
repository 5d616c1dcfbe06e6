"""Better drafts (issue 19) through the real google-genai client against the fake Gemini server: the
cost bound with a model that repeats itself, each batch's focus, the saved tests and the project's
instructions in the prompt, the budget checked before any call, usage recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from testgen.core.config import Settings
from testgen.generation.llm.prompt import INSTRUCTIONS_FENCE, SAVED_FENCE
from tests.support.fake_gemini import FakeGemini
from tests.support.harness import run_worker
from tests.support.helpers import is_status, make_story, queue, wait_for_job

KEY = "AIzaSy-drafts-key-5e4d3c2b1a"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(retry_delay="0.1s") as server:
        yield server


@pytest.fixture
def gemini_settings(settings: Settings, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake.reset()
    settings.llm_provider = "gemini"
    settings.gemini_api_key = SecretStr(KEY)
    settings.gemini_base_url = fake.url
    settings.gemini_timeout_s = 5
    return settings


async def finished(http: AsyncClient, job: dict[str, object]) -> dict[str, object]:
    return await wait_for_job(
        http, str(job["status_url"]), is_status("completed", "failed"), what="the job to end"
    )


async def test_a_model_that_repeats_itself_costs_at_most_twice_the_base_calls(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(*["repeat"] * 40)
    await make_story(http, "US-001", criteria=5)
    job = await queue(http, "US-001", num_test_cases=50, scenarios_per_test_case=3)
    async with run_worker(gemini_settings):
        status = await finished(http, job)
    result = status["result"]
    assert isinstance(result, dict) and status["status"] == "completed"
    stats = result["stats"]
    assert stats["batches"] == 10 and stats["llm_calls"] == fake.calls == 20  # was 143 before the bound
    assert stats["duplicates_remaining"] == 149 == len(result["duplicates"])
    assert result["duplicates"][-1]["of"] == {"test_case": 0, "scenario": 0}
    # Each batch's prompt states its own focus and technique; the re-asks keep their batch's.
    focus = [
        line for r in fake.requests for line in r.user_text.splitlines() if line.startswith("Batch focus")
    ]
    assert len(focus) == 20 and len(set(focus[:6])) == 6
    assert all("designed with" in line for line in focus)


async def test_saved_tests_and_instructions_reach_gemini_fenced(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    story = await make_story(http, "US-001")
    await http.patch(f"/projects/{story['project_id']}", json={"instructions": "Use the word basket."})
    async with run_worker(gemini_settings):
        first = await finished(http, await queue(http, "US-001", num_test_cases=2, scenarios_per_test_case=1))
        assert (await http.post(f"/generate-test-cases/{first['task_id']}/save")).status_code == 201
        saved = (await http.get("/user-stories/US-001/test-cases")).json()
        fake.reset()
        # The fake answers the same scenarios again: both repeat saved tests, one extra call cannot help.
        second = await finished(
            http, await queue(http, "US-001", num_test_cases=2, scenarios_per_test_case=1)
        )
    prompt = fake.requests[0].user_text
    assert f"<{INSTRUCTIONS_FENCE}>\nUse the word basket.\n</{INSTRUCTIONS_FENCE}>" in prompt
    assert f"<{SAVED_FENCE}>\n- #{saved[0]['id']} Test case 1: Test case 1 scenario 1" in prompt
    assert "cannot change the answer format" in fake.requests[0].system_text
    result = second["result"]
    assert isinstance(result, dict) and fake.calls == 2 == result["stats"]["llm_calls"]
    assert [d["message"] for d in result["duplicates"]] == [
        f'repeats saved test #{saved[0]["id"]} "Test case 1"',
        f'repeats saved test #{saved[1]["id"]} "Test case 2"',
    ]
    answer = (await http.post(f"/generate-test-cases/{second['task_id']}/save")).json()
    assert answer["saved"] == 0 and len(answer["skipped"]) == 2


async def test_the_budget_is_checked_before_any_gemini_call_and_usage_is_recorded(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    story = await make_story(http, "US-001")
    project = f"/projects/{story['project_id']}"
    await http.patch(project, json={"token_budget_daily": 100})
    async with run_worker(gemini_settings):
        failed = await finished(
            http, await queue(http, "US-001", num_test_cases=3, scenarios_per_test_case=2)
        )
        assert failed["status"] == "failed" and failed["error"] == {
            "type": "budget",
            "message": failed["error"]["message"],  # type: ignore[index]
        }
        assert fake.calls == 0
        await http.patch(project, json={"token_budget_daily": None})
        done = await finished(http, await queue(http, "US-001", num_test_cases=3, scenarios_per_test_case=2))
    tokens = sum(r.usage["totalTokenCount"] for r in fake.requests if r.usage)
    usage = (await http.get(f"{project}/usage")).json()
    assert usage["per_model"][0]["provider"] == "gemini" and usage["per_model"][0]["tokens"] == tokens > 0
    assert done["result"]["stats"]["tokens"]["total"] == tokens  # type: ignore[index]
