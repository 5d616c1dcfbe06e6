"""The audit trail as the API shows it: who did what, when, where, to which object."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from testgen.api.schemas.common import ORMModel

_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    """A date and time spelled as ISO 8601: pydantic would also read a bare number as a Unix time."""
    if isinstance(value, str) and not _ISO_START.match(value):
        raise ValueError("give an ISO 8601 date and time, such as 2026-01-31T09:00:00Z")
    return value


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only)]


class AuditFormat(StrEnum):
    json = "json"
    csv = "csv"


class AuditEventOut(ORMModel):
    id: int
    at: dt.datetime
    actor: str = Field(description="`user:<email>`, `key:<key id>` (an API_KEYS key) or `local`")
    action: str = Field(description="What was done, such as story_update, sign_in_failed or export")
    project_id: int | None = Field(description="The project of the object; null: none (accounts, sign-in)")
    object_type: str | None = Field(description="story, job, test_case, project, user or token")
    object_id: str | None
    fields: list[str] = Field(description="The names of the fields the request sent, never their values")


# The columns of the CSV answer, in order (`fields` joined by spaces).
CSV_COLUMNS = ("id", "at", "actor", "action", "project_id", "object_type", "object_id", "fields")
