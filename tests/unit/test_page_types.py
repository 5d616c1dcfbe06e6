"""The page's JSDoc types (web/types.js) name only fields the API sends, so `tsc --checkJs` finding no
wrong field name in the page means the page reads none (tools/check_web.sh runs tsc)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from testgen.api.client_constants import (
    Bounds,
    ClientConstants,
    ConnectionField,
    ConnectionKindChoice,
    ExportChoice,
)
from testgen.api.schemas.accounts import (
    AuthConfigOut,
    MemberOut,
    MembershipOut,
    MeOut,
    TokenCreated,
    TokenOut,
    UserOut,
)
from testgen.api.schemas.audit import AuditEventOut
from testgen.api.schemas.connections import ConnectionOut, TestResult
from testgen.api.schemas.jobs import (
    GenerateOptions,
    GenerationJobOut,
    InboxItem,
    PushJobOut,
    QueuedJob,
    ReviewOut,
    ReviewStepOut,
)
from testgen.api.schemas.projects import LLMProviderOut, ProjectOut
from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import StaleTestCaseOut
from testgen.domain.job_errors import JobError
from testgen.domain.job_results import (
    DraftResult,
    PushCounts,
    PushedCaseOut,
    PushResult,
    QualityReport,
    ReportedDuplicate,
)
from testgen.domain.test_cases import Scenario, TestCaseDraft

TYPES = Path(str(resources.files("testgen") / "web" / "types.js"))

# Each shared shape of the page and the models whose fields it may name.
MODELS: dict[str, tuple[type[BaseModel], ...]] = {
    "Job": (GenerationJobOut,),
    "JobError": (JobError,),
    "GenerateOptions": (GenerateOptions,),
    "Story": (StoryOut,),
    "Project": (ProjectOut,),
    "Provider": (LLMProviderOut,),
    "TestCase": (StaleTestCaseOut, TestCaseDraft),  # a saved one, or one of a draft
    "Scenario": (Scenario,),
    "Draft": (DraftResult,),
    "QualityReport": (QualityReport,),
    "Repeat": (ReportedDuplicate,),
    "Bounds": (Bounds,),
    "ExportChoice": (ExportChoice,),
    "ClientConstants": (ClientConstants,),
    "AuthConfig": (AuthConfigOut,),
    "Me": (MeOut,),
    "Membership": (MembershipOut,),
    "User": (UserOut,),
    "ApiToken": (TokenOut, TokenCreated),  # as listed, or as just created (with the token)
    "Member": (MemberOut,),
    "Review": (ReviewOut,),
    "ReviewStep": (ReviewStepOut,),
    "InboxItem": (InboxItem,),
    "HistoryRow": (AuditEventOut,),
    "ConnectionField": (ConnectionField,),
    "ConnectionKindChoice": (ConnectionKindChoice,),
    "Connection": (ConnectionOut,),
    "ConnectionTest": (TestResult,),
    "QueuedJob": (QueuedJob,),
    "PushJob": (PushJobOut,),
    "PushedCase": (PushedCaseOut,),
    "PushCounts": (PushCounts,),
    "PushResult": (PushResult,),
}


def typedef_properties() -> dict[str, set[str]]:
    """Each `@typedef {object} Name` of types.js and the names of its `@property` lines."""
    found: dict[str, set[str]] = {}
    for block in re.findall(r"/\*\*(.*?)\*/", TYPES.read_text("utf-8"), flags=re.DOTALL):
        name = re.search(r"@typedef \{object\} (\w+)", block)
        if name:
            found[name.group(1)] = set(re.findall(r"@property \{.*?\} \[?(\w+)", block))
    return found


def test_every_shared_shape_names_only_fields_of_its_models() -> None:
    typedefs = typedef_properties()
    assert set(MODELS) <= set(typedefs)
    for name, models in MODELS.items():
        fields = {field for model in models for field in model.model_fields}
        assert typedefs[name], name
        assert typedefs[name] <= fields, (
            f"{name}: {sorted(typedefs[name] - fields)} are no fields of {models}"
        )
