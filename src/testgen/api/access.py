"""Who may call which route: one rule per route, and the checks that apply them.

A route is open (no credential), for anyone signed in, for server admins, or for members of the
project its object belongs to with at least a role. A project-scoped object of a project the caller
is not a member of answers 404, as if it did not exist (nothing leaks); a member whose role is too
low gets 403. Every route of the app has a rule here (the app refuses to start otherwise), and a
project-scoped route that answers without having checked its project is a bug that fails loudly.
The rule also names the audit action a successful call records (data/audit.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from fastapi import Request

from testgen.api.audit_writer import AuditRow
from testgen.api.principal import Principal, principal_of
from testgen.api.security import STREAM_ROUTES
from testgen.core import messages
from testgen.core.errors import AuthenticationError, ForbiddenError, NotFoundError
from testgen.domain.roles import Role

logger = logging.getLogger(__name__)


class Reach(StrEnum):
    open = "open"  # no credential (health, the page, sign-in)
    signed_in = "signed_in"  # anyone authenticated; what they see is filtered by their projects
    server_admin = "server_admin"  # server admins and API_KEYS
    project_admin = "project_admin"  # server admins, and admins of a project (who see its rows only)
    project = "project"  # members of the object's project with at least `role`


@dataclass(frozen=True)
class Rule:
    reach: Reach
    role: Role | None = None
    audit: str | None = None  # the audit action of a successful call


OPEN = Rule(Reach.open)
SIGNED_IN = Rule(Reach.signed_in)


def signed_in(audit_action: str) -> Rule:
    return Rule(Reach.signed_in, audit=audit_action)


def server_admin(audit_action: str | None = None) -> Rule:
    return Rule(Reach.server_admin, audit=audit_action)


def member(role: Role, audit_action: str | None = None) -> Rule:
    return Rule(Reach.project, role, audit_action)


VIEWER, EDITOR, REVIEWER, ADMIN = Role.viewer, Role.editor, Role.reviewer, Role.admin

# Every route, by name (its function's name). The role walk in tests/auth checks each against each role.
ROUTE_RULES: dict[str, Rule] = {
    # The page, health and sign-in
    "health": OPEN,
    "index": OPEN,
    "job_states_script": OPEN,
    "client_constants_script": OPEN,
    "messages_script": OPEN,
    "static_file": OPEN,
    "auth_config": OPEN,
    "login": OPEN,
    "oidc_login": OPEN,
    "oidc_callback": OPEN,
    # One's own account
    "logout": signed_in("sign_out"),
    "me": SIGNED_IN,
    "list_tokens": SIGNED_IN,
    "create_token": signed_in("token_create"),
    "revoke_token": signed_in("token_revoke"),
    "stream_token": SIGNED_IN,
    "review_inbox": SIGNED_IN,
    "pairwise_examples": SIGNED_IN,  # a computation on what the body holds: no project's data
    "list_audit": Rule(Reach.project_admin),  # rows of the projects one administers (all: server admins)
    # Lists, filtered to the caller's projects
    "list_projects": SIGNED_IN,
    "llm_providers": SIGNED_IN,
    "list_stories": SIGNED_IN,
    "queue_stories": member(EDITOR, "queue"),  # each story's project is checked
    "multiplexed_events": member(VIEWER),  # each job's project is checked
    # The server
    "ready": server_admin(),
    "metrics": server_admin(),
    "list_users": server_admin(),
    "create_user": server_admin("user_create"),
    "update_user": server_admin("user_update"),
    "create_project": server_admin("project_create"),
    # A project
    "get_project": member(VIEWER),
    "update_project": member(ADMIN, "project_update"),
    "project_usage": member(VIEWER),
    "list_members": member(VIEWER),
    "add_member": member(ADMIN, "member_add"),
    "update_member": member(ADMIN, "member_update"),
    "remove_member": member(ADMIN, "member_remove"),
    "import_from_jira": member(EDITOR, "import"),
    "import_from_github": member(EDITOR, "import"),
    "import_from_azure_devops": member(EDITOR, "import"),
    "list_connections": member(VIEWER),
    "create_connection": member(ADMIN, "connection_create"),
    "update_connection": member(ADMIN, "connection_update"),
    "delete_connection": member(ADMIN, "connection_delete"),
    "test_connection": member(ADMIN, "connection_test"),
    "push_to_tool": member(REVIEWER, "push"),
    "export_project_test_cases": member(VIEWER, "export"),
    "project_automation": member(VIEWER, "export"),
    # Stories
    "create_story": member(EDITOR, "story_create"),
    "get_story": member(VIEWER),
    "update_story": member(EDITOR, "story_update"),
    "delete_story": member(EDITOR, "story_delete"),
    "story_history": member(VIEWER),
    "check_story": member(VIEWER),  # reads the story; deep=true queues a job: editors (require_role)
    "list_test_cases": member(VIEWER),
    "upload_attachment": member(EDITOR, "attachment_add"),
    "list_attachments": member(VIEWER),
    "download_attachment": member(VIEWER),
    "delete_attachment": member(EDITOR, "attachment_delete"),
    "list_drafts": member(VIEWER),
    "export_test_cases": member(VIEWER, "export"),
    "story_automation": member(VIEWER, "export"),
    "fill_automation": member(EDITOR, "queue"),  # a model pass: its calls count toward the budget
    # Generation and review
    "queue_generation": member(EDITOR, "queue"),
    "job_status": member(VIEWER),
    "job_events": member(VIEWER),
    "cancel_generation": member(EDITOR, "cancel"),
    "regenerate_test_case": member(EDITOR, "regenerate"),
    "extend_draft": member(EDITOR, "extend"),
    "edit_draft_test_case": member(EDITOR, "draft_edit"),
    "review_draft": member(EDITOR, "review"),  # approving needs a reviewer (services/review_gate.py)
    "save_test_cases": member(REVIEWER, "save"),
    "discard_draft": member(EDITOR, "discard"),
    # Saved test cases
    "get_test_case": member(VIEWER),
    "update_test_case": member(EDITOR, "test_case_update"),
    "delete_test_case": member(EDITOR, "test_case_delete"),
}

# The object a path parameter names, for the audit trail.
OBJECT_TYPES = {
    "story_id": "story",
    "task_id": "job",
    "test_case_id": "test_case",
    "project_id": "project",
    "user_id": "user",
    "token_id": "token",
    "connection_id": "connection",
    "attachment_id": "attachment",
}
MAX_AUDIT_FIELDS = 50


def missing_rules(route_names: Iterable[str]) -> list[str]:
    return sorted(set(route_names) - set(ROUTE_RULES))


def rule_of(request: Request) -> Rule:
    route = request.scope.get("route")
    name = getattr(route, "name", "")
    rule = ROUTE_RULES.get(name)
    if rule is None:
        raise LookupError(f"The route {name!r} has no rule in api/access.py ROUTE_RULES")
    return rule


def forbidden(role: Role, needed: Role) -> ForbiddenError:
    return ForbiddenError(
        f"Your role in this project is {role.value}; this needs {needed.value} or above: ask a project admin"
    )


def check_project(request: Request, project_id: int | None, kind: str, ident: object) -> Role:
    """The caller's role in the project of object `kind` `ident`, if at least the route's; else 404
    (not a member: the object does not exist for them) or 403 (a member whose role is too low)."""
    principal = principal_of(request)
    role = principal.role_in(project_id)
    if role is None:
        raise NotFoundError(kind, ident)
    rule = rule_of(request)
    needed = rule.role or Role.viewer
    if not role.allows(needed):
        raise forbidden(role, needed)
    state = request.state
    state.access_checked = True
    state.audit_project = project_id if getattr(state, "audit_project", project_id) == project_id else None
    return role


def require_role(request: Request, project_id: int | None, needed: Role, kind: str, ident: object) -> None:
    """For a route whose option asks more than its rule (e.g. a check that also queues a job): the
    caller's role in the project must allow `needed`, else 403 (or 404 for a non-member)."""
    role = principal_of(request).role_in(project_id)
    if role is None:
        raise NotFoundError(kind, ident)
    if not role.allows(needed):
        raise forbidden(role, needed)


def check_new_object_project(request: Request, project_id: int | None) -> None:
    """For an object created in project `project_id` (named in the body): the caller's role there.
    Only server admins create objects in no project."""
    if project_id is None and not principal_of(request).is_admin:
        raise NotFoundError(messages.PROJECT, "(none given: name the project_id of one of your projects)")
    check_project(request, project_id, messages.PROJECT, project_id)


def check_each(request: Request, projects: Mapping[str, int | None], kind: str) -> None:
    """`check_project` for several objects at once (`projects`: each one's project, by id)."""
    for ident, project_id in projects.items():
        check_project(request, project_id, kind, ident)
    request.state.access_checked = True


def needs_project_check(request: Request) -> bool:
    """Whether lookups must find the object's project (not for admins, who see every project)."""
    return not principal_of(request).is_admin


def project_ids_visible(request: Request) -> list[int] | None:
    """The projects the caller sees (None: all), for the lists; marks the route checked."""
    request.state.access_checked = True
    return principal_of(request).project_ids


def audit_object(request: Request, object_type: str, object_id: object) -> None:
    """Name the object a route created (its id is not in the path), for the audit row."""
    request.state.audit_object = (object_type, str(object_id))


def audit_action(request: Request, action: str) -> None:
    """Record a more precise action than the route's (e.g. `review_approve`)."""
    request.state.audit_action = action


async def enforce(request: Request) -> AsyncIterator[None]:
    """Every route's dependency: server-admin routes refuse others; a project route must have checked
    its project by the time it answers."""
    rule = rule_of(request)
    principal = principal_of(request)
    if getattr(request.state, "stream_token", False) and request.scope["route"].name not in STREAM_ROUTES:
        # Its answer would be refused (security.approve_only_stream_routes): the route does not run,
        # nor write its audit row.
        raise AuthenticationError("A stream token opens event streams only: send a personal API token")
    if rule.reach is Reach.server_admin and not principal.is_admin:
        raise ForbiddenError("Only a server admin may do this: ask one")
    if (
        rule.reach is Reach.project_admin
        and Role.admin not in principal.roles.values()
        and not principal.is_admin
    ):
        raise ForbiddenError("Only a project admin or a server admin may do this: ask one")
    if principal.is_admin:
        request.state.access_checked = True
    yield
    if rule.reach is Reach.project and not getattr(request.state, "access_checked", False):
        raise RuntimeError(f"{request.scope['route'].name} answered without checking its project")


async def record(request: Request) -> AsyncIterator[None]:
    """Every route's dependency (request scope): once a call has succeeded and its answer is sent, the
    audit row of the route's action, handed to the process's batched writer (api/audit_writer.py):
    the caller does not wait for its commit; a row that cannot be written is logged."""
    yield
    action = getattr(request.state, "audit_action", None) or rule_of(request).audit
    if action is None:
        return
    try:
        await request.app.state.audit.add(await _audit_row(request, action, principal_of(request)))
    except Exception:
        logger.exception("Audit row of %s not written", action)


async def _audit_row(request: Request, action: str, principal: Principal) -> AuditRow:
    state = request.state
    object_type = object_id = None
    if hasattr(state, "audit_object"):
        object_type, object_id = state.audit_object
    else:
        for name, value in request.path_params.items():
            if name in OBJECT_TYPES:
                object_type, object_id = OBJECT_TYPES[name], str(value)
    fields: list[str] = []
    if request.method in ("POST", "PUT", "PATCH") and request.headers.get("content-type", "").startswith(
        "application/json"
    ):
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            fields = sorted(str(key)[:100] for key in list(body)[:MAX_AUDIT_FIELDS])
    project_id = getattr(state, "audit_project", None)
    if project_id is None and object_type == "project" and object_id is not None and object_id.isdigit():
        project_id = int(object_id)
    return AuditRow(
        actor=principal.actor,
        actor_id=principal.user_id,
        action=action,
        project_id=project_id,
        object_type=object_type,
        object_id=object_id,
        fields=fields,
    )
