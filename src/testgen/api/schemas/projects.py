"""Projects: creating and changing them, their LLM choice, and their token usage."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

from testgen.api.schemas.common import LANGUAGE_HELP, LanguageTag, Omittable, ORMModel, PositiveInt32
from testgen.core.config import LLMProviderName
from testgen.domain.job_options import Delivery
from testgen.domain.techniques import MAX_TECHNIQUES, Technique
from testgen.domain.text_fields import NO_NUL, Description, ModelName, Title, stripped

MAX_INSTRUCTIONS = 4000
Instructions = Annotated[
    str, StringConstraints(max_length=MAX_INSTRUCTIONS), NO_NUL, AfterValidator(stripped)
]


class ProjectCreate(BaseModel):
    name: Title
    description: Description = ""
    language: LanguageTag | None = Field(
        default=None, description=LANGUAGE_HELP + "each story's own or detected language"
    )


class ProjectUpdate(BaseModel):
    name: Omittable[Title] = None
    description: Omittable[Description] = None
    llm_provider: LLMProviderName | None = Field(
        default=None,
        description="The LLM provider that writes this project's test cases: one configured on the "
        "server (GET /projects/providers lists them; another answers 409); null: the server's default. "
        "Changing it without llm_model resets the model.",
    )
    llm_model: ModelName | None = Field(
        default=None,
        description="The provider's model: printable characters (no control or bidi characters), "
        "at most 200; null: the provider's default model",
    )
    language: LanguageTag | None = Field(
        default=None,
        description=LANGUAGE_HELP + "each story's own or detected language. Set, it is the language of "
        "every story of the project that has none of its own",
    )
    instructions: Instructions | None = Field(
        default=None,
        description="House style, test-design method, domain vocabulary: sent to the model in a fenced "
        "section that ranks below the system rules; empty or null: none",
    )
    default_techniques: list[Technique] | None = Field(
        default=None,
        max_length=MAX_TECHNIQUES,
        description="The test-design techniques of a job that names none; empty or null: the built-in mix",
    )
    token_budget_daily: PositiveInt32 | None = Field(
        default=None,
        description="Tokens the project's jobs may spend per UTC day; a job that would exceed it fails "
        "before any model call, and queueing answers 429 once it is spent; null: no budget",
    )
    review_required: Omittable[StrictBool] = Field(
        default=None,
        description="A draft is saved only once a reviewer other than its author approved it",
    )
    allow_self_approval: Omittable[StrictBool] = Field(
        default=None, description="A reviewer may approve a draft they queued themselves"
    )
    default_delivery: Delivery | None = Field(
        default=None,
        description="How bulk generation of the project's stories sends its model calls when the request "
        "names none: batch (the provider's Batch API, within 24 h at half the price) or standard; null: "
        "standard",
    )


class LLMProviderOut(BaseModel):
    name: str
    default_model: str
    default: bool = Field(description="The server's default provider (LLM_PROVIDER)")


class ProjectOut(ORMModel):
    id: int
    name: str
    description: str
    llm_provider: str | None
    llm_model: str | None
    language: str | None = None
    instructions: str = ""
    default_techniques: list[Technique] | None = None
    token_budget_daily: int | None = None
    review_required: bool = False
    allow_self_approval: bool = False
    default_delivery: Delivery | None = None
    created_at: dt.datetime


class UsageDay(BaseModel):
    day: dt.date
    jobs: int
    llm_calls: int
    tokens: int
    cached_tokens: int = Field(default=0, description="Of the prompt tokens, served from a provider's cache")


class UsageModel(BaseModel):
    provider: str
    model: str
    jobs: int
    llm_calls: int
    prompt_tokens: int
    output_tokens: int
    tokens: int
    batch_calls: int = Field(default=0, description="Of llm_calls, answered through the provider's Batch API")
    batch_tokens: int = Field(default=0, description="Of tokens, answered through the provider's Batch API")
    cached_tokens: int = Field(
        default=0,
        description="Of prompt_tokens, served from the provider's prompt cache (billed at its cached price)",
    )
    billed_tokens: float = Field(
        description="tokens at the price of standard calls: batch_tokens count at the batch price (half)"
    )


class UsageOut(BaseModel):
    project_id: int
    days: int
    since: dt.date
    token_budget_daily: int | None
    spent_today: int
    per_day: list[UsageDay]
    per_model: list[UsageModel]
