"""Connections to the tools a team keeps its tests in (and Jira): their kinds, settings and secrets.

A connection's settings are plain; its secrets (API keys, tokens, client secrets) are kept encrypted
(core/secret_box.py), never answered, logged or put in an event, error or audit row.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from testgen.domain.text_fields import NOT_BLANK

# An http(s) URL as typed; the connector normalises it (no trailing slash).
HttpUrl = Annotated[
    str, StringConstraints(min_length=8, max_length=500, pattern=r"^https?://[^\s\x00-\x1f\x7f-\x9f]+$")
]
JiraKey = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[A-Z][A-Z0-9_]*$")]
GitHubRepository = Annotated[
    str,
    StringConstraints(min_length=3, max_length=140, pattern=r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$"),
]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=2000), NOT_BLANK]
PlainText = Annotated[str, StringConstraints(min_length=1, max_length=300), NOT_BLANK]
ConnectionName = Annotated[str, StringConstraints(min_length=1, max_length=100), NOT_BLANK]
RemoteId = Annotated[int, Field(ge=1, le=2**53)]
MAX_REQUESTS_PER_MINUTE = 100_000


class ConnectionKind(StrEnum):
    testrail = "testrail"
    xray_cloud = "xray-cloud"
    xray_dc = "xray-dc"
    zephyr_scale = "zephyr-scale"
    azure_devops = "azure-devops"
    jira = "jira"
    github = "github"


def _a_number(value: object) -> object:
    """A JSON number (a whole one, as 60 or 60.0), never true/false or a string of digits."""
    if isinstance(value, bool | str):
        raise ValueError("a number of requests, such as 60")
    return value


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_per_minute: Annotated[int, BeforeValidator(_a_number)] = Field(
        default=0,
        ge=0,
        le=MAX_REQUESTS_PER_MINUTE,
        description="Requests a push may send a minute (the tool's rate limit); 0: the kind's default",
    )


class TestRailSettings(_Settings):
    kind: Literal[ConnectionKind.testrail] = ConnectionKind.testrail
    url: HttpUrl = Field(description="The TestRail address, e.g. https://example.testrail.io")
    username: PlainText = Field(description="The email of the TestRail user the API key belongs to")
    testrail_project_id: RemoteId
    suite_id: RemoteId | None = Field(default=None, description="Needed when the project uses several suites")


class XrayCloudSettings(_Settings):
    kind: Literal[ConnectionKind.xray_cloud] = ConnectionKind.xray_cloud
    client_id: PlainText
    jira_project_key: JiraKey
    api_url: HttpUrl = Field(default="https://xray.cloud.getxray.app", description="Xray Cloud's API")
    jira_url: HttpUrl | None = Field(default=None, description="The Jira site, for links to the tests")


class XrayDataCenterSettings(_Settings):
    kind: Literal[ConnectionKind.xray_dc] = ConnectionKind.xray_dc
    url: HttpUrl = Field(description="The Jira Data Center address Xray runs in")
    jira_project_key: JiraKey


class ZephyrScaleSettings(_Settings):
    kind: Literal[ConnectionKind.zephyr_scale] = ConnectionKind.zephyr_scale
    jira_project_key: JiraKey
    folder: PlainText | None = Field(default=None, description="The folder the story folders go in")
    api_url: HttpUrl = Field(default="https://api.zephyrscale.smartbear.com/v2", description="Zephyr's API")
    jira_url: HttpUrl | None = Field(default=None, description="The Jira site, for links to the tests")


class AzureDevOpsSettings(_Settings):
    kind: Literal[ConnectionKind.azure_devops] = ConnectionKind.azure_devops
    organization_url: HttpUrl = Field(description="e.g. https://dev.azure.com/your-organization")
    project: PlainText


class JiraSettings(_Settings):
    kind: Literal[ConnectionKind.jira] = ConnectionKind.jira
    url: HttpUrl
    deployment: Literal["cloud", "datacenter"] = "cloud"
    email: PlainText | None = Field(default=None, description="Cloud: the user of the API token")


class GitHubSettings(_Settings):
    kind: Literal[ConnectionKind.github] = ConnectionKind.github
    repository: GitHubRepository = Field(description="The repository whose issues are imported: owner/name")
    api_url: HttpUrl = Field(
        default="https://api.github.com",
        description="GitHub's REST API (GitHub Enterprise: https://host/api/v3)",
    )


ConnectionSettings = Annotated[
    TestRailSettings
    | XrayCloudSettings
    | XrayDataCenterSettings
    | ZephyrScaleSettings
    | AzureDevOpsSettings
    | JiraSettings
    | GitHubSettings,
    Field(discriminator="kind"),
]

# The secret fields each kind takes (all required when the connection is created).
SECRET_FIELDS: dict[ConnectionKind, tuple[str, ...]] = {
    ConnectionKind.testrail: ("api_key",),
    ConnectionKind.xray_cloud: ("client_secret",),
    ConnectionKind.xray_dc: ("token",),
    ConnectionKind.zephyr_scale: ("token",),
    ConnectionKind.azure_devops: ("token",),
    ConnectionKind.jira: ("api_token",),
    ConnectionKind.github: ("token",),
}

# Requests a minute a push sends when the connection names none: each tool's documented limit or less.
DEFAULT_REQUESTS_PER_MINUTE: dict[ConnectionKind, int] = {
    ConnectionKind.testrail: 180,
    ConnectionKind.xray_cloud: 300,
    ConnectionKind.xray_dc: 600,
    ConnectionKind.zephyr_scale: 300,
    ConnectionKind.azure_devops: 600,
    ConnectionKind.jira: 300,
    ConnectionKind.github: 60,  # well under the 5,000 an hour of a token
}


def requests_per_minute(settings: _Settings, kind: ConnectionKind) -> int:
    return settings.requests_per_minute or DEFAULT_REQUESTS_PER_MINUTE[kind]
