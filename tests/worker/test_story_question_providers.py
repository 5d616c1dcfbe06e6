"""The remote providers answer the deep check of a story (`complete_json`) with its own system rules
and answer schema on the wire, against each provider's fake server on 127.0.0.1."""

from __future__ import annotations

import json

from testgen.generation.llm.base import StoryText
from testgen.generation.story_check import check_story
from testgen.generation.story_questions import ANSWER_SCHEMA, SYSTEM_RULES, questions_prompt
from testgen.worker.json_calls import JsonCompleter
from tests.support.model_servers import MakeProvider, ModelServer

CRITERIA = ["The page loads fast", "A total in euros is shown after payment"]
STORY = StoryText("US-1", "Pay by card", "A shopper pays", CRITERIA, "en")


async def test_each_remote_provider_is_asked_with_the_checks_rules_and_schema(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    built = make_provider()
    assert isinstance(built, JsonCompleter)
    prompt = questions_prompt(STORY, check_story(CRITERIA, "en").findings)
    text, stats = await built.complete_json(
        SYSTEM_RULES, prompt, ANSWER_SCHEMA, model=provider.model, label="Story questions"
    )
    assert text and stats.calls == 1 and stats.total_tokens > 0
    (call,) = provider.fake.requests
    sent = json.dumps(call.body, ensure_ascii=False)
    assert SYSTEM_RULES[:60] in sent and "A total in euros is shown after payment" in sent
    assert '"questions"' in sent and "test_cases" not in sent
