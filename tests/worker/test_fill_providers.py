"""The remote providers answer the model pass over an automation skeleton (`complete_json`): its own
system rules and answer schema on the wire, the call counted like a batch's, against each provider's
fake server on 127.0.0.1."""

from __future__ import annotations

import json

from testgen.automation.fill import SYSTEM_RULES, FillStep, fill_prompt
from testgen.worker.automation_fill import ANSWER_SCHEMA
from testgen.worker.json_calls import JsonCompleter
from tests.support.model_servers import MakeProvider, ModelServer


async def test_a_free_json_prompt_carries_its_rules_and_schema(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    built = make_provider()
    assert isinstance(built, JsonCompleter)
    step = FillStep('the shopper opens "Basket"', 'When the shopper opens "Basket"', (("text", "string"),))
    prompt = fill_prompt([step], "http://127.0.0.1:9/")
    text, stats = await built.complete_json(
        SYSTEM_RULES, prompt, ANSWER_SCHEMA, model=provider.model, label="Batch 1/1"
    )
    assert text and stats.calls == 1 and stats.total_tokens > 0
    (call,) = provider.fake.requests
    sent = json.dumps(call.body)
    assert SYSTEM_RULES[:60] in sent and "When the shopper opens" in sent
    assert '"bodies"' in sent  # the answer's schema (strict for OpenAI, a response schema for Gemini)
    assert "test_cases" not in sent  # not the batch's rules or schema
