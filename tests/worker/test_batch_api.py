"""The providers' Batch APIs through their real SDKs against fakes of them: a batch's requests are the
ones a normal call sends, keyed by our ids; the answers of a completed batch, of a partly failed one, of an
expired one and of a cancelled one come back by key, validated as a normal call's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import cast

import pytest

from testgen.generation.llm.base import BadOutputError, BatchRequest, LLMError
from testgen.generation.llm.batch_api import BatchAPI, BatchItem, BatchState, batch_api_for
from testgen.generation.llm.story_files import ImagePart, StoryFiles, image_tokens
from testgen.generation.planning import plan_batches
from tests.support import attachment_files
from tests.support.fake_batches import BAD_TEXT, BatchFake, start_batch_server
from tests.support.model_servers import PROVIDERS, STORY, MakeProvider, ModelServer, start_model_server


@pytest.fixture(scope="module", params=PROVIDERS)
def model_server(request: pytest.FixtureRequest) -> Iterator[ModelServer]:
    with start_batch_server(request.param) as (server, _):
        yield server


def fake_of(provider: ModelServer) -> BatchFake:
    return cast(BatchFake, provider.fake)


def requests_() -> list[BatchRequest]:
    return plan_batches(STORY, 9, 2, 6)  # three requests of three test cases, two scenarios each


def items_of(requests: list[BatchRequest]) -> list[BatchItem]:
    return [BatchItem(key=f"job-1:{r.batch_index}", request=r) for r in requests]


def api_of(make_provider: MakeProvider) -> BatchAPI:
    api = batch_api_for(make_provider())
    assert api is not None
    return api


def _sent(provider: ModelServer, body: dict[str, object]) -> dict[str, object]:
    """The parts of a request body that a normal call and a batch's request share."""
    keys = (
        ("contents", "systemInstruction", "generationConfig") if provider.name == "gemini" else ("messages",)
    )
    extra = ("response_format",) if provider.name == "openai" else ()
    return {k: body.get(k) for k in (*keys, *extra)}


async def test_a_completed_batch_answers_every_request_by_key(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    api, requests = api_of(make_provider), requests_()
    items = items_of(requests)
    batch_id = await api.submit(items, model=provider.model, label="3 stories")

    assert (await api.status(batch_id)).state is BatchState.pending
    fake = fake_of(provider)
    assert list(fake.batch(batch_id).requests) == [i.key for i in items]
    fake.run_batch(batch_id)
    assert (await api.status(batch_id)).state is BatchState.running
    fake.finish(batch_id)
    status = await api.status(batch_id)
    assert status.state is BatchState.succeeded and status.state.finished

    results = await api.results(batch_id, [i.key for i in items])
    assert results.answered == [i.key for i in items] and results.failed == []
    for item in items:
        drafts = results.items[item.key].drafts(item.request)
        first = item.request.slots[0].index + 1
        assert [d.title for d in drafts] == [f"Test case {n}" for n in range(first, first + 3)]
        assert all(len(d.scenarios) == 2 for d in drafts)
        prompt, output, total, _ = results.items[item.key].usage
        assert prompt > 0 and output > 0 and total == prompt + output


async def test_a_batch_request_is_the_request_a_normal_call_sends(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    built = make_provider()
    api = batch_api_for(built)
    assert api is not None
    image = ImagePart("a.png", "image/png", attachment_files.png(400, 300), 400, 300)
    with_image = StoryFiles(images=(image,), image_tokens=image_tokens(provider.name, 400, 300))
    request = dataclasses.replace(requests_()[1], files=with_image)
    batch_id = await api.submit([BatchItem("k", request)], model=provider.model, label="one")
    await built.generate_batch(request)

    in_batch = fake_of(provider).batch(batch_id).requests["k"]
    assert _sent(provider, in_batch) == _sent(provider, provider.fake.requests[0].body)
    assert provider.fake.requests[0].images  # so the batch request carries the image too
    if provider.name == "openai":
        assert in_batch["model"] == provider.model


async def test_a_partly_failed_batch_says_which_requests_failed_and_why(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    api, requests = api_of(make_provider), requests_()
    items = items_of(requests)
    keys = [i.key for i in items]
    batch_id = await api.submit(items, model=provider.model, label="partly")
    fake_of(provider).finish(batch_id, fail={keys[1]}, bad={keys[2]})

    assert (await api.status(batch_id)).state is BatchState.succeeded
    results = await api.results(batch_id, keys)
    assert results.answered == [keys[0], keys[2]] and results.failed == [keys[1]]
    assert len(results.items[keys[0]].drafts(requests[0])) == 3
    failed = results.items[keys[1]]
    assert failed.text is None and failed.error and "fail" in failed.error
    with pytest.raises(BadOutputError):
        failed.drafts(requests[1])
    assert results.items[keys[2]].text == BAD_TEXT
    with pytest.raises(BadOutputError, match="not JSON"):
        results.items[keys[2]].drafts(requests[2])


async def test_an_expired_batch_gives_the_answers_it_has_and_the_rest_as_failed(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    api, requests = api_of(make_provider), requests_()
    keys = [i.key for i in items_of(requests)]
    batch_id = await api.submit(items_of(requests), model=provider.model, label="late")
    fake_of(provider).expire(batch_id, answered={keys[0]})

    status = await api.status(batch_id)
    assert status.state is BatchState.expired and status.state.finished
    results = await api.results(batch_id, keys)
    assert results.answered == [keys[0]] and results.failed == keys[1:]
    assert len(results.items[keys[0]].drafts(requests[0])) == 3


async def test_a_cancelled_batch_is_cancelled_at_the_provider(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    api, requests = api_of(make_provider), requests_()
    keys = [i.key for i in items_of(requests)]
    batch_id = await api.submit(items_of(requests), model=provider.model, label="cancel me")
    await api.cancel(batch_id)

    fake = fake_of(provider)
    assert fake.batch(batch_id).cancels == 1
    state = (await api.status(batch_id)).state
    if provider.name == "openai":  # "cancelling" for a poll, then "cancelled"
        assert state is BatchState.cancelled or state is BatchState.running
        state = (await api.status(batch_id)).state
    assert state is BatchState.cancelled
    results = await api.results(batch_id, keys)
    assert results.failed == keys


async def test_a_server_without_a_batch_api_refuses_the_submission_for_good(
    make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    provider = request.getfixturevalue("provider")
    with start_model_server(provider.name) as plain:
        api = batch_api_for(make_provider(**plain.values()))
        assert api is not None
        with pytest.raises(LLMError) as raised:
            await api.submit(items_of(requests_()), model=plain.model, label="nowhere")
    assert type(raised.value) is LLMError  # not a BatchCallError: asking again cannot help


async def test_a_batch_is_found_by_its_label(provider: ModelServer, make_provider: MakeProvider) -> None:
    api = api_of(make_provider)
    first = await api.submit(items_of(requests_()), model=provider.model, label="testgen job a")
    second = await api.submit(items_of(requests_()), model=provider.model, label="testgen job b")
    assert await api.find("testgen job a") == first and await api.find("testgen job b") == second
    assert await api.find("testgen job c") is None
