"""Prompt caching: every batch of a job begins with the same prefix (system rules, project instructions,
the story and its files, saved tests, language, the job's techniques) and differs only after it, so the
providers' implicit caches serve it; the cached tokens each provider reports (Gemini
`cachedContentTokenCount`, OpenAI `prompt_tokens_details.cached_tokens`, read by the real SDKs from
the fakes, which cache as the vendors document) reach the job's result, the usage ledger and
`GET /projects/{id}/usage`. A large prefix in several Gemini batches goes into an explicit cache for
the job's life, deleted after it."""

from __future__ import annotations

import dataclasses

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.data.models import LLMUsage
from testgen.domain.techniques import Technique
from testgen.generation.llm.base import CoveredTest
from testgen.generation.llm.prompt import FENCE, INSTRUCTIONS_FENCE, SAVED_FENCE, prompt_parts
from testgen.generation.planning import plan_batches
from tests.support.helpers import generate_with_worker
from tests.support.model_servers import STORY, ModelServer

LONG = " ".join(f"The basket keeps item {i} with its price, quantity and discount code." for i in range(120))


def test_every_batch_of_a_job_begins_with_the_same_prefix() -> None:
    techniques = [Technique.boundary_values, Technique.pairwise]
    planned = plan_batches(STORY, 6, 2, 4, techniques=techniques)
    saved = [CoveredTest(7, "Saved login", ["logs in"])]
    batches = [
        dataclasses.replace(b, instructions="Use the shop's vocabulary.", saved_tests=saved) for b in planned
    ]
    assert len(batches) == 3
    parts = [prompt_parts(b) for b in batches]
    assert len({p.prefix for p in parts}) == 1, "one prefix for the whole job"
    prefix = parts[0].prefix
    for wanted in (f"<{INSTRUCTIONS_FENCE}>", f"<{FENCE}>", f"<{SAVED_FENCE}>", "Test-design techniques"):
        assert wanted in prefix
    # Both techniques are explained in every batch, whichever its test cases use.
    assert all(t.value in prefix for t in techniques)
    for i, part in enumerate(parts):
        assert part.text.startswith(prefix)
        assert f"This is batch {i + 1} of 3" in part.suffix and "BATCH_SPEC" in part.suffix
        assert "This is batch" not in prefix and "BATCH_SPEC" not in prefix
    assert len({p.suffix for p in parts}) == 3


@pytest.fixture
def configured(settings: Settings, provider: ModelServer) -> Settings:
    settings = provider.configure(settings)
    settings.batch_max_scenarios = 1  # one call per test case: three calls sharing one prefix
    settings.gemini_cache_min_tokens = 0
    return settings


async def long_story(http: AsyncClient, story_id: str = "US-001") -> dict[str, object]:
    project = (await http.post("/projects", json={"name": "Shop"})).json()
    r = await http.post(
        "/user-stories",
        json={
            "id": story_id,
            "project_id": project["id"],
            "title": "Basket",
            "description": LONG,
            "acceptance_criteria": ["the total adds the prices", "a discount code lowers it"],
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def generate(http: AsyncClient, settings: Settings, story_id: str, cases: int = 3) -> dict[str, object]:
    options = {"num_test_cases": cases, "scenarios_per_test_case": 1}
    return await generate_with_worker(http, settings, story_id, **options)


def reported_cached(provider: ModelServer) -> list[int]:
    """The cached tokens the fake reported per call (in the field its vendor names)."""
    found = []
    for call in provider.fake.requests:
        assert call.usage is not None
        found.append(provider.cached_of(call))
    return found


async def test_the_cached_tokens_each_provider_reports_reach_result_ledger_and_usage(
    http: AsyncClient,
    configured: Settings,
    provider: ModelServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    story = await long_story(http)
    result = await generate(http, configured, "US-001")

    cached = reported_cached(provider)
    assert len(cached) == 3
    # Calls run at once: the first to arrive finds nothing cached, each later one its shared prefix.
    assert sorted(cached)[0] == 0 and all(c >= 1024 for c in sorted(cached)[1:])
    tokens = result["stats"]["tokens"]  # type: ignore[index]
    assert tokens["cached"] == sum(cached)
    assert tokens["cached"] < tokens["prompt"]
    async with sessionmaker() as session:
        (row,) = await session.scalars(select(LLMUsage))
    assert row.cached_tokens == sum(cached)
    usage = (await http.get(f"/projects/{story['project_id']}/usage?days=1")).json()
    (model,) = usage["per_model"]
    assert model["cached_tokens"] == sum(cached) and model["prompt_tokens"] == tokens["prompt"]
    assert usage["per_day"][0]["cached_tokens"] == sum(cached)


@pytest.mark.parametrize("model_server", ["gemini"], indirect=True)
async def test_a_large_shared_prefix_lives_in_an_explicit_gemini_cache_for_the_job(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    configured.gemini_cache_min_tokens = 1000
    await long_story(http)
    result = await generate(http, configured, "US-001")

    fake = provider.fake
    assert fake.caches_created == 1 and fake.caches == {}, "made once, deleted when the job ended"
    names = {call.body.get("cachedContent") for call in fake.requests}
    assert names == {"cachedContents/fake1"}
    for call in fake.requests:  # each call sends only its own part; the rules and story are cached
        assert "systemInstruction" not in call.body
        assert LONG[:200] not in call.user_text and "BATCH_SPEC" in call.user_text
    cached = reported_cached(provider)
    assert len(cached) == 3 and len(set(cached)) == 1 and cached[0] > 1000
    assert result["stats"]["tokens"]["cached"] == sum(cached)  # type: ignore[index]


@pytest.mark.parametrize("model_server", ["gemini"], indirect=True)
async def test_no_explicit_cache_for_a_small_prefix_a_single_call_or_a_refused_cache(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    configured.gemini_cache_min_tokens = 100_000  # above this story's prefix
    await long_story(http)
    await generate(http, configured, "US-001")
    assert provider.fake.caches_created == 0

    configured.gemini_cache_min_tokens = 1000
    await generate(http, configured, "US-001", cases=1)
    assert provider.fake.caches_created == 0

    provider.fake.refuse_caches = True  # Gemini answers 400: the job runs on implicit caching
    await generate(http, configured, "US-001")
    assert provider.fake.caches_created == 0
    assert all("cachedContent" not in call.body for call in provider.fake.requests)
