"""The ASGI application: `testgen.api.app:app`, built by `create_app()`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware

from testgen.api import access, openapi_doc, passwords
from testgen.api import http_errors as errors
from testgen.api.audit_writer import AuditWriter
from testgen.api.authn import AuthMiddleware, UsersGate
from testgen.api.http_methods import HeadMiddleware, LiteralPathMiddleware, flat_routes
from testgen.api.job_links import JobLinkPaths
from testgen.api.oidc import OidcClient
from testgen.api.rate_limits import AuthFailureLimiter, JobLimiter, RequestRateMiddleware, WallClock
from testgen.api.request_guard import JsonBodyMiddleware, LocalOnlyMiddleware, SecurityHeadersMiddleware
from testgen.api.routes import (
    attachments,
    audit,
    auth,
    automation,
    connections,
    design,
    generation,
    imports,
    members,
    oidc,
    ops,
    projects,
    push,
    review,
    stories,
    users,
    web,
)
from testgen.api.security import BodyLimitMiddleware, StreamTokens
from testgen.api.services.accounts import SignInLimiter
from testgen.api.services.job_queue import JobQueue
from testgen.api.sessions import SessionStore
from testgen.api.uploads import UPLOAD_OVERHEAD_BYTES
from testgen.core import secret_box, shared_redis, tracing
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker, read_only
from testgen.core.errors import ConfigurationError
from testgen.core.logs import redact_access_log
from testgen.core.redis import create_blocking_reader, create_redis
from testgen.streaming.event_hub import EventHub
from testgen.streaming.progress_store import ProgressStore

logger = logging.getLogger(__name__)

# Event streams opening at once on one process (the rest wait their turn): a burst of opens must
# not hold every database and Redis connection while other requests wait behind them.
STREAM_OPENS_AT_ONCE = 2
# Answers of at least this size are gzipped when the client accepts it: the page, its scripts and
# styles, the JSON. Level 6 costs a third of level 9's CPU for nearly its size.
GZIP_MIN_BYTES = 500
GZIP_LEVEL = 6
# In the order FastAPI tries them (see create_app).
ROUTERS = tuple(
    module.router
    for module in (
        stories,
        attachments,
        generation,
        auth,
        oidc,
        projects,
        members,
        connections,
        users,
        imports,
        push,
        review,
        design,
        automation,
        audit,
        ops,
        web,
    )
)
# The sections of the API docs, in reading order (the routers' tags).
DOCS_SECTIONS = (
    "auth",
    "users",
    "projects",
    "imports",
    "user stories",
    "generation",
    "review",
    "test cases",
    "audit",
    "operations",
)


def create_app(settings: Settings | None = None, *, wall_clock: WallClock = time.time) -> FastAPI:
    """The app of `settings`; the per-minute limits count in the minutes of `wall_clock`."""
    settings = settings or Settings()
    redact_access_log()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        shared = await asyncio.to_thread(shared_redis.attach, settings)  # None when REDIS_URL is set
        tracing.start_tracing(settings, "testgen-api")
        engine = create_engine(settings.database_url)
        redis = create_redis(
            settings.effective_redis_url,
            max_connections=settings.redis_max_connections,
            sentinel=settings.redis_sentinel,
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.read_sessionmaker = create_sessionmaker(read_only(engine))
        app.state.audit = AuditWriter(app.state.sessionmaker, settings.audit_batch_delay_s)
        app.state.redis = redis
        app.state.store = ProgressStore(redis, settings.keep_result_s)
        app.state.job_queue = JobQueue(redis, app.state.store, settings)
        app.state.job_limiter = JobLimiter(redis, settings.max_jobs_in_flight_per_key)
        app.state.sessions = SessionStore(redis, settings.session_ttl_s)
        await passwords.warm_up()
        app.state.sign_in_limiter = SignInLimiter(
            redis, settings.sign_in_failures_per_account, settings.sign_in_failures_per_client, wall_clock
        )
        # OpenID Connect sign-in (api/oidc.py), when OIDC_ISSUER and OIDC_CLIENT_ID are set.
        app.state.oidc = OidcClient(settings, redis) if settings.oidc_enabled else None
        # Connection secrets (core/secret_box.py); a keyless server's key file is made on first need.
        app.state.secret_box = await asyncio.to_thread(secret_box.preloaded, settings)
        app.state.stream_opens = asyncio.Semaphore(STREAM_OPENS_AT_ONCE)
        reader = create_blocking_reader(settings.effective_redis_url, sentinel=settings.redis_sentinel)
        hub = EventHub(reader, redis, queue_size=settings.sse_queue_size)
        app.state.hub = hub
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            if app.state.oidc is not None:
                await app.state.oidc.aclose()
            await redis.aclose()
            await app.state.audit.aclose()
            await engine.dispose()
            await asyncio.to_thread(tracing.flush)
            if shared is not None:
                await asyncio.to_thread(shared.close)  # the server stays up for its other users

    app = FastAPI(
        title="testgen",
        summary="Turns user stories into reviewed QA test cases with an LLM",
        version="0.1.0",
        lifespan=lifespan,
        openapi_tags=[{"name": tag} for tag in DOCS_SECTIONS],
        # No route ends in "/" (but the page's own "/"): `/projects/` is a 404, not a redirect built
        # from the request's Host header, which in keyed mode may name any site.
        redirect_slashes=False,
        # Who may call each route, and the audit row of each state-changing call (api/access.py).
        dependencies=[Depends(access.enforce, scope="function"), Depends(access.record, scope="request")],
    )
    app.state.settings = settings
    app.state.job_link_paths = JobLinkPaths()
    app.state.users_gate = UsersGate()
    errors.install(app)
    # FastAPI tries the routes in order, about 1 us each: the busiest (a job's status, a story,
    # queueing) come first, and the docs keep their own order (DOCS_SECTIONS). No two routers
    # answer the same method and path, so the order changes nothing else.
    for router in ROUTERS:
        app.include_router(router)
    unruled = access.missing_rules(
        str(route.name) for route in flat_routes(app.routes) if route.include_in_schema
    )
    if unruled:
        raise ConfigurationError(f"Routes without an access rule in api/access.py: {', '.join(unruled)}")
    openapi_doc.document(app, settings)
    _install_middleware(app, settings, wall_clock)
    if settings.tracing_enabled:
        tracing.instrument_app(app)
    return app


def _install_middleware(app: FastAPI, settings: Settings, wall_clock: WallClock) -> None:
    """Innermost first: the methods of literal paths, JSON bodies, the request rate, authentication
    (and failed authentications), the body limit, the local-only checks of keyless mode, CORS (so 401s
    carry CORS headers), gzip, HEAD as GET (so a HEAD names the encoding its GET would have), and the
    security headers outermost. API keys that cannot guard the API stop it here, before it starts."""
    problem = settings.api_keys_problem()
    if problem is not None:
        raise ConfigurationError(problem)
    keys = settings.api_key_list
    secret = settings.stream_token_secret.get_secret_value() if settings.stream_token_secret else ""
    app.state.stream_tokens = StreamTokens(keys, secret.encode())
    app.add_middleware(LiteralPathMiddleware, routes=list(app.routes))
    app.add_middleware(JsonBodyMiddleware)
    if settings.rate_limit_per_minute:
        app.add_middleware(RequestRateMiddleware, per_minute=settings.rate_limit_per_minute, clock=wall_clock)
    failures = (
        AuthFailureLimiter(settings.auth_failures_per_minute, wall_clock)
        if settings.auth_failures_per_minute
        else None
    )
    app.add_middleware(AuthMiddleware, keys=keys, tokens=app.state.stream_tokens, failures=failures)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.max_attachment_bytes + UPLOAD_OVERHEAD_BYTES,
    )
    if not keys:
        app.add_middleware(
            LocalOnlyMiddleware,
            allowed_hosts=settings.allowed_host_list,
            allowed_origins=settings.cors_origin_list,
        )
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=["Retry-After", stories.TOTAL_COUNT_HEADER],
        )
    # Starlette's gzip leaves text/event-stream alone: an event is never held in a compressor.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(HeadMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)


def __getattr__(name: str) -> FastAPI:
    """`testgen.api.app:app` is built on first access, so importing this module does no I/O."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
