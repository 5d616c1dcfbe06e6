"""Connections of a project to test-management tools and Jira: what is sent and answered.

A create body is the kind's settings (domain/connections.py), a `name` and the kind's secrets, all
required. A PATCH body holds any settings of the connection's kind and any new secrets. Secrets are
write-only: no answer holds one, only the names of those set.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, WithJsonSchema

from testgen.api.schemas.common import Omittable
from testgen.domain.connections import (
    AzureDevOpsSettings,
    ConnectionKind,
    ConnectionName,
    ConnectionSettings,
    GitHubSettings,
    JiraSettings,
    TestRailSettings,
    XrayCloudSettings,
    XrayDataCenterSettings,
    ZephyrScaleSettings,
)
from testgen.domain.text_fields import NOT_BLANK_PATTERN, WHITESPACE

MAX_SECRET_CHARS = 2000


def _secret_text(value: Any) -> Any:
    """A secret as pasted, without the white space around it (a trailing line break, say); checked
    here, as pydantic's own length check of a SecretStr speaks of items."""
    if not isinstance(value, str):
        return value  # SecretStr's own check refuses it
    text = value.strip(WHITESPACE)
    if not text or "\x00" in text:
        raise ValueError("must not be blank (white space only) nor hold the NUL character")
    if len(text) > MAX_SECRET_CHARS:
        raise ValueError(f"must have at most {MAX_SECRET_CHARS} characters")
    return text


# Write-only: never answered, logged or echoed in a validation error (routes/connections.py).
SecretValue = Annotated[
    SecretStr,
    BeforeValidator(_secret_text),
    WithJsonSchema(
        {
            "type": "string",
            "format": "password",
            "writeOnly": True,
            "minLength": 1,
            "maxLength": MAX_SECRET_CHARS,
            "pattern": NOT_BLANK_PATTERN,
        }
    ),
]
NAME_HELP = "How the project calls this connection (unique in the project)"


class TestRailConnectionCreate(TestRailSettings):
    kind: Literal[ConnectionKind.testrail]
    name: ConnectionName = Field(description=NAME_HELP)
    api_key: SecretValue = Field(description="The TestRail user's API key (or password)")


class XrayCloudConnectionCreate(XrayCloudSettings):
    kind: Literal[ConnectionKind.xray_cloud]
    name: ConnectionName = Field(description=NAME_HELP)
    client_secret: SecretValue = Field(description="The secret of the Xray Cloud API key (client_id)")


class XrayDataCenterConnectionCreate(XrayDataCenterSettings):
    kind: Literal[ConnectionKind.xray_dc]
    name: ConnectionName = Field(description=NAME_HELP)
    token: SecretValue = Field(description="A Jira personal access token")


class ZephyrScaleConnectionCreate(ZephyrScaleSettings):
    kind: Literal[ConnectionKind.zephyr_scale]
    name: ConnectionName = Field(description=NAME_HELP)
    token: SecretValue = Field(description="A Zephyr Scale API access token")


class AzureDevOpsConnectionCreate(AzureDevOpsSettings):
    kind: Literal[ConnectionKind.azure_devops]
    name: ConnectionName = Field(description=NAME_HELP)
    token: SecretValue = Field(description="A personal access token with the Test Management scope")


class JiraConnectionCreate(JiraSettings):
    kind: Literal[ConnectionKind.jira]
    name: ConnectionName = Field(description=NAME_HELP)
    api_token: SecretValue = Field(
        description="Cloud: the API token of `email`; Data Center: a personal access token"
    )


class GitHubConnectionCreate(GitHubSettings):
    kind: Literal[ConnectionKind.github]
    name: ConnectionName = Field(description=NAME_HELP)
    token: SecretValue = Field(
        description="A fine-grained personal access token with read access to the repository's issues"
    )


ConnectionCreate = Annotated[
    TestRailConnectionCreate
    | XrayCloudConnectionCreate
    | XrayDataCenterConnectionCreate
    | ZephyrScaleConnectionCreate
    | AzureDevOpsConnectionCreate
    | JiraConnectionCreate
    | GitHubConnectionCreate,
    Field(discriminator="kind"),
]

# Each kind's settings model, which a connection's stored settings (and a PATCH merged in) must pass.
SETTINGS_MODELS: dict[ConnectionKind, type[BaseModel]] = {
    ConnectionKind.testrail: TestRailSettings,
    ConnectionKind.xray_cloud: XrayCloudSettings,
    ConnectionKind.xray_dc: XrayDataCenterSettings,
    ConnectionKind.zephyr_scale: ZephyrScaleSettings,
    ConnectionKind.azure_devops: AzureDevOpsSettings,
    ConnectionKind.jira: JiraSettings,
    ConnectionKind.github: GitHubSettings,
}
CREATE_MODELS: dict[ConnectionKind, type[BaseModel]] = {
    ConnectionKind.testrail: TestRailConnectionCreate,
    ConnectionKind.xray_cloud: XrayCloudConnectionCreate,
    ConnectionKind.xray_dc: XrayDataCenterConnectionCreate,
    ConnectionKind.zephyr_scale: ZephyrScaleConnectionCreate,
    ConnectionKind.azure_devops: AzureDevOpsConnectionCreate,
    ConnectionKind.jira: JiraConnectionCreate,
    ConnectionKind.github: GitHubConnectionCreate,
}
# The settings that say where the credentials go: changing one needs the secrets again (else an admin
# could send another's credentials to a server of their own and read them there).
ADDRESS_FIELDS = frozenset({"url", "api_url", "organization_url"})


class ConnectionUpdate(BaseModel):
    """Any of the settings of the connection's kind, and any of its secrets (each as in the create
    body); what is left out keeps its value, a setting that takes null is cleared by null. The kind
    cannot change. Changing where the credentials go (`url`, `api_url`, `organization_url`) needs
    the secrets again in the same request."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    name: Omittable[ConnectionName] = Field(default=None, description=NAME_HELP)
    kind: Omittable[ConnectionKind] = Field(default=None, description="The connection's kind, unchanged")


class ConnectionOut(BaseModel):
    id: int
    project_id: int
    kind: ConnectionKind
    name: str
    settings: ConnectionSettings = Field(description="The kind's settings (no secret)")
    secrets_set: list[str] = Field(description="The names of the secrets stored (never their values)")
    created_at: dt.datetime
    updated_at: dt.datetime


class TestResult(BaseModel):
    """What trying a connection's credentials found: ok with what the tool answered (e.g. the
    TestRail project's name), or not ok with why (the tool's message, never a secret)."""

    __test__ = False  # not a pytest class, whatever its name

    ok: bool
    detail: str
    error: Literal["auth", "refused", "unavailable", "not_available"] | None = Field(
        default=None,
        description="Not ok: auth (credentials refused), refused (the tool refused the request, e.g. "
        "an unknown project), unavailable (the tool did not answer), not_available (this server has "
        "no connector for the kind)",
    )


def settings_fields(kind: ConnectionKind) -> frozenset[str]:
    """The settings a PATCH may name for a connection of `kind` (its kind aside)."""
    return frozenset(SETTINGS_MODELS[kind].model_fields) - {"kind"}


def stored_settings(model: BaseModel) -> dict[str, Any]:
    """A settings model as the connection row keeps it (JSON, the kind included)."""
    return model.model_dump(mode="json")
