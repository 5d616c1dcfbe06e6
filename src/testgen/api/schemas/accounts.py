"""Accounts: sign-in, users, personal API tokens and project members."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from testgen.api.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from testgen.api.schemas.common import Omittable, ORMModel, RowId
from testgen.domain.roles import Role
from testgen.domain.text_fields import NOT_BLANK

# An address as users type it: one @, no spaces or control characters; lower-cased when stored.
# No whitespace or control character; C1 controls spelled out, as \s differs between Python (which
# counts U+0085 in it) and the ECMAScript regexes OpenAPI clients check the pattern with.
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s\x00-\x1f\x7f-\x9f]{1,255}$"
Email = Annotated[str, StringConstraints(min_length=3, max_length=320, pattern=EMAIL_PATTERN)]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=200), NOT_BLANK]
NewPassword = Annotated[
    str,
    StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS),
    Field(description=f"At least {MIN_PASSWORD_CHARS} characters"),
]
# A password as typed at sign-in: not checked against the rules (an old one may predate them).
Password = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_CHARS)]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=100), NOT_BLANK]
Flag = Annotated[bool, Strict()]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class UserOut(ORMModel):
    id: int
    email: str
    name: str
    is_admin: bool
    active: bool
    created_at: dt.datetime


class MembershipOut(BaseModel):
    project_id: int
    role: Role


class MeOut(BaseModel):
    """Who is asking: a user, a service key (API_KEYS) or the local admin (no user exists yet)."""

    kind: str = Field(description="user, service or local")
    user: UserOut | None
    is_admin: bool
    projects: list[MembershipOut] = Field(description="The user's projects and roles (admins see all)")
    csrf_token: str | None = Field(
        default=None, description="Signed in by cookie: send it back in X-CSRF-Token on every change"
    )


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(
        description="Send it back in the X-CSRF-Token header of every state-changing request"
    )


class AuthConfigOut(BaseModel):
    """What the page needs to know before anyone signs in."""

    sign_in_required: bool = Field(
        description="Whether requests need a credential (a user exists, or API_KEYS)"
    )
    password_sign_in: bool
    oidc: bool = Field(description="Whether 'Sign in with single sign-on' (OpenID Connect) is offered")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: PersonName
    password: NewPassword | None = Field(
        default=None, description="Omitted: the user signs in through single sign-on only"
    )
    is_admin: Flag = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Omittable[PersonName] = None
    password: Omittable[NewPassword] = None
    is_admin: Omittable[Flag] = None
    active: Omittable[Flag] = Field(
        default=None, description="false: deactivated, every session and token refused"
    )


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TokenName
    expires_at: dt.datetime | None = Field(default=None, description="Omitted or null: never expires")


class TokenOut(ORMModel):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it")
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown this once only, store it now")


class MemberAdd(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"oneOf": [{"required": ["email"]}, {"required": ["user_id"]}]}
    )

    email: Omittable[Email] = None
    user_id: Omittable[RowId] = None
    role: Role

    @model_validator(mode="after")
    def _one_user(self) -> MemberAdd:
        if (self.email is None) == (self.user_id is None):
            raise ValueError("give either email or user_id")
        return self


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberOut(BaseModel):
    user_id: int
    email: str
    name: str
    role: Role
    active: bool
