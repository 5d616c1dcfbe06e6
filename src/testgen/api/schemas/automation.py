"""The model pass over an automation skeleton: what a client asks of a fill job."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from testgen.domain.automation import AutomationFramework
from testgen.domain.job_options import BaseUrl


class AutomationFillRequest(BaseModel):
    """Bodies proposed by the model for the story's playwright-bdd steps, from the step text alone
    (nothing is browsed), each marked as a proposal for review."""

    model_config = ConfigDict(extra="forbid")

    framework: Literal[AutomationFramework.playwright_bdd] = Field(
        default=AutomationFramework.playwright_bdd,
        description="The framework whose step bodies are proposed (playwright-bdd only)",
    )
    base_url: BaseUrl = Field(
        description="Where the proposals navigate to: an absolute http or https URL, no credentials"
    )
