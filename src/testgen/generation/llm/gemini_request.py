"""The config the Gemini provider hands the SDK, in the form the SDK converts the fastest.

The SDK turns its pydantic request into the JSON body field by field with `key in value`, and for a
pydantic model that test walks every field of the model (`BaseModel.__iter__`) before it falls back to
`getattr`. The config and the system instruction below answer it at once, with the same answer (False:
iterating a model yields (name, value) pairs, never a name), so the body sent is the same. The prompt
stays a plain string: a list of contents costs more in the SDK's validation of its union type than the
walk saves. Built once per batch shape (the answer's schema only depends on the counts), the request
costs about half the CPU it did (copy, validation and conversion: 0.44 -> 0.22 ms a call on this
project's machine).

The SDK also deep-copies the config for every call, in case it changes it. It only ever changes its
own shallow copies (a test checks that the shared config is the same after calls), so the config's
deep copy is the config itself: 0.06 ms a call, most of it the answer's schema.
"""

from __future__ import annotations

import functools
from typing import TypeVar, cast

import pydantic
from google.genai import types

from testgen.domain.techniques import Technique
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, response_schema_for

CONFIG_CACHE_SIZE = 128  # batch shapes (test cases x scenarios each): a handful in practice


M = TypeVar("M", bound=pydantic.BaseModel)


def _not_a_key(self: object, key: object) -> bool:
    return False


def _itself(self: M, memo: dict[int, object] | None = None) -> M:
    return self


def _answering_at_once(model: type[M], **methods: object) -> type[M]:
    """`model` whose `key in instance` is False at once, as the walk over its fields would find."""
    namespace = {"__contains__": _not_a_key, "__module__": __name__, **methods}
    return cast("type[M]", type(model.__name__, (model,), namespace))


_Config = _answering_at_once(types.GenerateContentConfig, __deepcopy__=_itself)
_Content = _answering_at_once(types.Content)
_Part = _answering_at_once(types.Part)


@functools.lru_cache(maxsize=CONFIG_CACHE_SIZE)
def generate_config(
    test_cases: int, scenarios_per_test_case: int, techniques: tuple[Technique, ...] = ()
) -> types.GenerateContentConfig:
    """The call's config: the system instruction, JSON output with the batch's exact counts (and
    techniques), no automatic function calling. Shared between calls: nothing changes it."""
    return _Config(
        system_instruction=_Content(role="user", parts=[_Part(text=SYSTEM_INSTRUCTION)]),
        temperature=0.7,
        response_mime_type="application/json",
        response_json_schema=response_schema_for(test_cases, scenarios_per_test_case, list(techniques)),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
