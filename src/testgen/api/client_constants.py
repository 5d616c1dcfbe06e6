"""The enums and limits the clients need, each read from its home and none spelled here.

The page gets them as one script, /static/client-constants.js (api/routes/web.py), built once; the
command line imports the same homes (testgen.domain). Priorities, test types, export formats, the
frameworks of automation skeletons, project roles and the review gate's states and actions come from
their enums, error hints from `ErrorType` and the message tables, every bound and default from the
request model or route parameter that checks it, and the kinds of connection with their settings and
secrets from the connection models.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any, Literal, assert_never

from pydantic import BaseModel, ConfigDict, TypeAdapter

from testgen.api.deps import MAX_STREAM_BATCHES
from testgen.api.routes import projects as project_routes
from testgen.api.routes import stories as story_routes
from testgen.api.routes import users as user_routes
from testgen.api.schemas.accounts import LoginRequest, MemberAdd, TokenCreate, UserCreate
from testgen.api.schemas.connections import SETTINGS_MODELS, TestRailConnectionCreate
from testgen.api.schemas.imports import AzureDevOpsImportRequest, JiraImportRequest
from testgen.api.schemas.jobs import ExtendRequest, GenerateOptions
from testgen.api.schemas.projects import ProjectCreate, ProjectUpdate
from testgen.api.schemas.stories import StoryCreate
from testgen.domain.automation import AutomationFramework
from testgen.domain.connections import SECRET_FIELDS, ConnectionKind
from testgen.domain.exports import ExportFormat
from testgen.domain.job_errors import ErrorType
from testgen.domain.roles import ReviewAction, ReviewState, Role
from testgen.domain.stories import Priority
from testgen.domain.techniques import Technique
from testgen.domain.test_cases import MAX_CELL, MAX_COLUMN_NAME, TestCaseDraft, TestType

DEFAULT_HINT = "hint.default"


class Bounds(BaseModel):
    """What one input may hold, as its request model or route parameter checks it."""

    model_config = ConfigDict(frozen=True)

    default: int | str | None = None
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # as an HTML `pattern` attribute takes it (anchored, `v` flag)


class ExportChoice(BaseModel):
    value: ExportFormat
    label: str
    needs_project_key: bool  # the format asks for the Jira project its tests go to (?project_key=)


class AutomationChoice(BaseModel):
    value: AutomationFramework  # the `?framework=` of an automation skeleton
    label: str


class ConnectionField(BaseModel):
    """One setting of a kind of connection, as its create body takes it."""

    name: str
    input: Literal["text", "number", "choice"]
    required: bool  # a create body must give it
    nullable: bool  # null clears it
    choices: list[str] | None = None  # input "choice": its values
    bounds: Bounds


class ConnectionKindChoice(BaseModel):
    """A kind of connection: its name in menus, its settings (its own first, then those every kind
    has) and the names of its secrets (all required on create, write-only)."""

    kind: ConnectionKind
    label: str
    settings: list[ConnectionField]
    secrets: list[str]
    push_target: bool  # a push may go to it (the project's Jira connection links pushed cases instead)


class ClientConstants(BaseModel):
    """The script's table (window.TESTGEN_CONSTANTS); the page's JSDoc `ClientConstants` mirrors it."""

    priorities: list[Priority]
    default_priority: Priority
    test_types: list[TestType]
    techniques: list[Technique]  # the test-design techniques a job or a project may name
    export_formats: list[ExportChoice]
    automation_frameworks: list[AutomationChoice]
    roles: list[Role]  # a project member's roles, each allowing what the ones before it allow
    review_states: list[ReviewState]
    review_actions: list[ReviewAction]
    error_hints: dict[ErrorType, str]  # the message key of each error type's hint
    default_hint: str  # the message key for a type this version does not know
    limits: dict[str, dict[str, Bounds]]  # group -> input -> its bounds
    connection_kinds: list[ConnectionKindChoice]


def _html_pattern(regex: str) -> str:
    """A Python pattern as an HTML `pattern` attribute: the browser anchors it itself and compiles it
    with the `v` flag, under which a literal `-` in a character class must be escaped."""
    return re.sub(r"(?<!\\)-\]", r"\\-]", regex.removeprefix("^").removesuffix("$"))


def _from_schema(schema: dict[str, Any], default: Any) -> Bounds:
    branches = [b for b in schema.get("anyOf", [schema]) if b.get("type") != "null"]  # an optional field
    checks = branches[0] if branches else {}
    pattern = checks.get("pattern")
    return Bounds(
        default=default,
        minimum=checks.get("minimum"),
        maximum=checks.get("maximum"),
        min_length=checks.get("minLength"),
        max_length=checks.get("maxLength"),
        pattern=_html_pattern(pattern) if pattern else None,
    )


def field_bounds(model: type[BaseModel], name: str) -> Bounds:
    """The bounds and default of a request model's field (from its JSON schema, as the API checks it)."""
    schema = model.model_json_schema()["properties"][name]
    return _from_schema(schema, schema.get("default"))


def parameter_bounds(route: Callable[..., Any], name: str) -> Bounds:
    """The bounds and default of a route's query parameter."""
    annotation = typing.get_type_hints(route, include_extras=True)[name]
    default = inspect.signature(route).parameters[name].default
    schema = TypeAdapter(annotation).json_schema()
    return _from_schema(schema, None if default is inspect.Parameter.empty else default)


def export_label(fmt: ExportFormat) -> str:
    """A format's name in a format menu (product names: the same in every language)."""
    match fmt:
        case ExportFormat.gherkin:
            return "Gherkin"
        case ExportFormat.gherkin_tagged:
            return "Gherkin (tagged, Rules)"
        case ExportFormat.testrail_csv:
            return "TestRail CSV"
        case ExportFormat.xray_json:
            return "Xray JSON"
        case ExportFormat.csv:
            return "CSV"
        case ExportFormat.json:
            return "JSON"
        case _:
            assert_never(fmt)


# The formats in the order of the page's menus (the first is the one chosen until another is); a
# format not listed comes last.
MENU_ORDER = (
    ExportFormat.gherkin,
    ExportFormat.gherkin_tagged,
    ExportFormat.testrail_csv,
    ExportFormat.xray_json,
    ExportFormat.csv,
    ExportFormat.json,
)


def automation_label(framework: AutomationFramework) -> str:
    """A framework's name in the automation menus (product names: the same in every language)."""
    match framework:
        case AutomationFramework.pytest_bdd:
            return "pytest-bdd (Python)"
        case AutomationFramework.behave:
            return "behave (Python)"
        case AutomationFramework.playwright_bdd:
            return "playwright-bdd (TypeScript)"
        case _:
            assert_never(framework)


def kind_label(kind: ConnectionKind) -> str:
    """A kind of connection's name in a menu (product names: the same in every language)."""
    match kind:
        case ConnectionKind.testrail:
            return "TestRail"
        case ConnectionKind.xray_cloud:
            return "Xray Cloud"
        case ConnectionKind.xray_dc:
            return "Xray Data Center"
        case ConnectionKind.zephyr_scale:
            return "Zephyr Scale"
        case ConnectionKind.azure_devops:
            return "Azure DevOps"
        case ConnectionKind.jira:
            return "Jira"
        case ConnectionKind.github:
            return "GitHub"
        case _:
            assert_never(kind)


def connection_field(model: type[BaseModel], name: str) -> ConnectionField:
    """A setting of a kind's settings model, with its input, bounds and default."""
    schema = model.model_json_schema()["properties"][name]
    branches = schema.get("anyOf", [schema])
    checks: dict[str, Any] = next((b for b in branches if b.get("type") != "null"), {})
    if "enum" in checks:
        widget: Literal["text", "number", "choice"] = "choice"
    elif checks.get("type") == "integer":
        widget = "number"
    else:
        widget = "text"
    return ConnectionField(
        name=name,
        input=widget,
        required=model.model_fields[name].is_required(),
        nullable=any(b.get("type") == "null" for b in branches),
        choices=[str(value) for value in checks["enum"]] if "enum" in checks else None,
        bounds=_from_schema(schema, schema.get("default")),
    )


def connection_kinds() -> list[ConnectionKindChoice]:
    """Every kind of connection with its settings and secrets, in the order of ConnectionKind."""
    models = [SETTINGS_MODELS[kind] for kind in ConnectionKind]
    shared = set.intersection(*(set(model.model_fields) for model in models))  # `kind` among them
    choices = []
    for kind in ConnectionKind:
        model = SETTINGS_MODELS[kind]
        names = [n for n in model.model_fields if n not in shared] + [
            n for n in model.model_fields if n in shared and n != "kind"
        ]
        choices.append(
            ConnectionKindChoice(
                kind=kind,
                label=kind_label(kind),
                settings=[connection_field(model, name) for name in names],
                secrets=list(SECRET_FIELDS[kind]),
                # api/services/push.py refuses them: Jira links, GitHub is a source of stories
                push_target=kind not in (ConnectionKind.jira, ConnectionKind.github),
            )
        )
    return choices


def hint_key(error_type: ErrorType) -> str:
    """The message (core/locales) that says what to do about a failed job of this type. Every type is
    listed, so a new one fails the type check until it is given a hint or the default one."""
    match error_type:
        case (
            ErrorType.auth
            | ErrorType.rate_limit
            | ErrorType.timeout
            | ErrorType.upstream
            | ErrorType.invalid_request
            | ErrorType.model_not_found
            | ErrorType.input_too_long
            | ErrorType.bad_output
            | ErrorType.configuration
            | ErrorType.budget
            | ErrorType.nothing_changed
            | ErrorType.conflict
            | ErrorType.worker_lost
        ):
            return f"hint.{error_type.value}"
        case (
            ErrorType.internal
            | ErrorType.jql
            | ErrorType.rate_limited
            | ErrorType.unreachable
            | ErrorType.jira
            | ErrorType.unknown
        ):
            return DEFAULT_HINT  # a bug, or a Jira import's failure (its dialog shows the message)
        case _:
            assert_never(error_type)


def limits() -> dict[str, dict[str, Bounds]]:
    """Every bounded input of the page, by group, with the request field or parameter it fills."""
    return {
        "generate": {
            "num_test_cases": field_bounds(GenerateOptions, "num_test_cases"),
            "scenarios_per_test_case": field_bounds(GenerateOptions, "scenarios_per_test_case"),
        },
        "story": {
            "id": field_bounds(StoryCreate, "id"),
            "title": field_bounds(StoryCreate, "title"),
            "language": field_bounds(StoryCreate, "language"),
        },
        "project": {
            "name": field_bounds(ProjectCreate, "name"),
            "llm_model": field_bounds(ProjectUpdate, "llm_model"),
            "language": field_bounds(ProjectUpdate, "language"),
            "instructions": field_bounds(ProjectUpdate, "instructions"),
            "token_budget_daily": field_bounds(ProjectUpdate, "token_budget_daily"),
        },
        "test_case": {
            "title": field_bounds(TestCaseDraft, "title"),
            "examples_cell": Bounds(max_length=MAX_CELL),
            "examples_column": Bounds(min_length=1, max_length=MAX_COLUMN_NAME),
        },
        "refine": {
            "instruction": field_bounds(ExtendRequest, "instruction"),
            "num_test_cases": field_bounds(ExtendRequest, "num_test_cases"),
        },
        "jira": {
            "jql": field_bounds(JiraImportRequest, "jql"),
            "wiql": field_bounds(AzureDevOpsImportRequest, "wiql"),
        },
        "account": {
            "sign_in_email": field_bounds(LoginRequest, "email"),
            "sign_in_password": field_bounds(LoginRequest, "password"),
            "email": field_bounds(UserCreate, "email"),
            "name": field_bounds(UserCreate, "name"),
            "password": field_bounds(UserCreate, "password"),
            "token_name": field_bounds(TokenCreate, "name"),
            "member_email": field_bounds(MemberAdd, "email"),
        },
        "connection": {
            "name": field_bounds(TestRailConnectionCreate, "name"),
            "secret": field_bounds(TestRailConnectionCreate, "api_key"),
        },
        "lists": {
            "story_search": parameter_bounds(story_routes.list_stories, "q"),
            "projects_page": parameter_bounds(project_routes.list_projects, "limit"),
            "users_page": parameter_bounds(user_routes.list_users, "limit"),
        },
        "stream": {"batches": Bounds(maximum=MAX_STREAM_BATCHES)},
    }


@functools.cache
def client_constants() -> ClientConstants:
    """The whole table, built once per process."""
    return ClientConstants(
        priorities=list(Priority),
        default_priority=StoryCreate.model_fields["priority"].default,
        test_types=list(TestType),
        techniques=list(Technique),
        export_formats=[
            ExportChoice(value=f, label=export_label(f), needs_project_key=f.needs_project_key)
            for f in (*MENU_ORDER, *(f for f in ExportFormat if f not in MENU_ORDER))
        ],
        automation_frameworks=[
            AutomationChoice(value=f, label=automation_label(f)) for f in AutomationFramework
        ],
        roles=sorted(Role, key=lambda role: role.rank),
        review_states=list(ReviewState),
        review_actions=list(ReviewAction),
        error_hints={t: hint_key(t) for t in ErrorType},
        default_hint=DEFAULT_HINT,
        limits=limits(),
        connection_kinds=connection_kinds(),
    )
