"""OpenID Connect sign-in: /auth/oidc/login sends the browser to the identity provider, which sends
it back to /auth/oidc/callback; a valid sign-in starts a session (the cookie) and returns to `next`.

A short-lived cookie binds each sign-in to the browser that started it, so a callback link made in
another browser (login CSRF) signs no one in.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from testgen.api.deps import SettingsDep
from testgen.api.oidc import STATE_TTL_S, OidcClient, admin_role, project_roles
from testgen.api.openapi_doc import errors
from testgen.api.sessions import SessionStore, request_is_https, set_session_cookie
from testgen.core.errors import AuthenticationError, InvalidRequestError, NotConfiguredError
from testgen.data import accounts, audit

router = APIRouter(prefix="/auth/oidc", tags=["auth"])

BINDING_COOKIE = "testgen_oidc"
COOKIE_PATH = "/auth/oidc"
MAX_NEXT_CHARS = 2000
NOT_CONFIGURED = "OpenID Connect sign-in is not configured on this server (OIDC_ISSUER, OIDC_CLIENT_ID)"
PROVIDER_DOWN = (
    "The identity provider did not answer or is set up in a way that cannot work (the message says "
    "which), or the database or Redis is unavailable; retry later"
)
REFUSED = (
    "The sign-in was refused (the message says why: an ID token that does not check out, a sign-in "
    "unknown, expired or already used, started in another browser, or refused by the provider): sign in again"
)


def _described(code: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {code: {**errors(code)[code], "description": description}}


async def get_oidc(request: Request) -> OidcClient:
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    if client is None:
        raise NotConfiguredError(
            "OpenID Connect sign-in is not configured: set OIDC_ISSUER and OIDC_CLIENT_ID, or sign in "
            "with an email and password"
        )
    return client


OidcDep = Annotated[OidcClient, Depends(get_oidc)]


def local_path(value: str) -> str:
    """`value` if it is a path of this site (one leading "/", no backslash or control character)."""
    if (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise InvalidRequestError(
            "next must be a path of this site starting with a single /, such as /projects"
        )
    return value


@router.get(
    "/login",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the identity provider's sign-in page"},
        **errors(400),
        **_described(404, NOT_CONFIGURED),
        **_described(503, PROVIDER_DOWN),
    },
)
async def oidc_login(
    request: Request,
    oidc: OidcDep,
    settings: SettingsDep,
    next_path: Annotated[
        str,
        Query(
            alias="next",
            max_length=MAX_NEXT_CHARS,
            description="Where the browser lands once signed in: a path of this site, such as /projects",
        ),
    ] = "/",
) -> RedirectResponse:
    """Start a sign-in at the identity provider; `next` is where the browser lands once signed in."""
    redirect_uri = settings.oidc_redirect_url or str(request.url_for("oidc_callback"))
    started = await oidc.start(
        redirect_uri=redirect_uri,
        next_path=local_path(next_path),
        binding=request.cookies.get(BINDING_COOKIE),
    )
    response = RedirectResponse(started.url, status_code=302)
    response.set_cookie(
        BINDING_COOKIE,
        started.binding,
        max_age=STATE_TTL_S,
        httponly=True,
        samesite="lax",
        secure=request_is_https(request),
        path=COOKIE_PATH,
    )
    return response


@router.get(
    "/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Signed in: the session cookie is set, on to the `next` of the sign-in"},
        **_described(401, REFUSED),
        **_described(404, NOT_CONFIGURED),
        **_described(503, PROVIDER_DOWN),
    },
)
async def oidc_callback(
    request: Request,
    oidc: OidcDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=4000, description="From the identity provider")] = None,
    state: Annotated[str | None, Query(max_length=200, description="From the identity provider")] = None,
    error: Annotated[
        str | None, Query(max_length=200, description="The identity provider's refusal, instead of a code")
    ] = None,
) -> RedirectResponse:
    """Where the identity provider sends the browser back: checks the sign-in, creates the user on
    first sign-in (name, email and, with OIDC_ROLE_CLAIM, the admin role and the project roles of
    OIDC_PROJECT_ROLES follow the provider) and starts a session."""
    sessionmaker = request.app.state.sessionmaker
    try:
        if error is not None or not code or not state:
            raise await oidc.abandon(state, error)
        result = await oidc.finish(code=code, state=state, binding=request.cookies.get(BINDING_COOKIE))
        identity = result.identity
        async with sessionmaker() as session, session.begin():
            user = await accounts.upsert_oidc_user(
                session,
                issuer=identity.issuer,
                subject=identity.subject,
                email=identity.email,
                name=identity.name,
                is_admin=admin_role(identity, settings),
            )
            await accounts.sync_claimed_memberships(session, user, project_roles(identity, settings))
            audit.record(
                session,
                actor=f"user:{user.email}",
                actor_id=user.id,
                action="sign_in",
                object_type="user",
                object_id=str(user.id),
            )
            user_id = user.id
    except AuthenticationError:
        async with sessionmaker() as session, session.begin():
            audit.record(session, actor="oidc", action="sign_in_failed")
        raise
    request.app.state.users_gate.mark()
    sessions: SessionStore = request.app.state.sessions
    started = await sessions.start(user_id)
    secure = request_is_https(request)
    response = RedirectResponse(result.next_path, status_code=303)
    set_session_cookie(response, started.sid, secure=secure, max_age=settings.session_ttl_s)
    response.delete_cookie(BINDING_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure)
    return response
