"""Who is asking: a signed-in user, a service key (API_KEYS, the admin role) or the local admin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.types import Scope

from testgen.domain.roles import Role

PrincipalKind = Literal["user", "service", "local"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    actor: str  # as the audit trail names it: `user:<email>`, `key:<key id>`, `local`
    user_id: int | None = None
    name: str = ""
    email: str = ""
    is_admin: bool = False
    roles: Mapping[int, Role] = field(default_factory=dict)

    def role_in(self, project_id: int | None) -> Role | None:
        """The principal's role in a project; None: not a member (the project is not theirs to see)."""
        if self.is_admin:
            return Role.admin
        return self.roles.get(project_id) if project_id is not None else None

    @property
    def project_ids(self) -> list[int] | None:
        """The projects this principal sees; None: every project."""
        return None if self.is_admin else sorted(self.roles)


LOCAL_ADMIN = Principal("local", "local", name="Local admin", is_admin=True)
_STATE_KEY = "auth"


def set_request_principal(scope: Scope, principal: Principal) -> None:
    scope.setdefault("state", {})[_STATE_KEY] = principal


def principal_of(request: Request) -> Principal:
    """The principal the auth middleware found; the local admin where none is needed (open mode)."""
    found: Principal | None = request.scope.get("state", {}).get(_STATE_KEY)
    return found if found is not None else LOCAL_ADMIN


def service_principal(key_id: str) -> Principal:
    return Principal("service", f"key:{key_id}", name=f"API key {key_id}", is_admin=True)
