"""The ASGI application: `testgen.api.app:app`, built by `create_app()`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from testgen.api import http_errors as errors
from testgen.api.routes import auth, generation, imports, ops, projects, review, stories, web
from testgen.api.security import ApiKeyMiddleware, BodyLimitMiddleware, StreamTokens
from testgen.core import embedded_redis
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker, read_only
from testgen.core.redis import create_blocking_reader, create_redis
from testgen.streaming.event_hub import EventHub
from testgen.streaming.progress_store import ProgressStore

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_redis = None
        if settings.uses_embedded_redis:
            own_redis = await asyncio.to_thread(
                embedded_redis.ensure, settings.data_dir, settings.embedded_redis_socket
            )
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
        app.state.redis = redis
        app.state.store = ProgressStore(redis, settings.keep_result_s)
        reader = create_blocking_reader(settings.effective_redis_url, sentinel=settings.redis_sentinel)
        hub = EventHub(reader, redis, queue_size=settings.sse_queue_size)
        app.state.hub = hub
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await redis.aclose()
            await engine.dispose()
            if own_redis is not None:
                await asyncio.to_thread(own_redis.stop)

    app = FastAPI(
        title="testgen",
        summary="Turns user stories into reviewed QA test cases with an LLM",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    _install_middleware(app, settings)
    app.include_router(auth.router)
    app.include_router(projects.router)
    app.include_router(imports.router)
    app.include_router(stories.router)
    app.include_router(generation.router)
    app.include_router(review.router)
    app.include_router(ops.router)
    app.include_router(web.router)
    return app


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """Innermost first: API keys, then the body limit, then CORS outermost (so 401s carry CORS headers)."""
    keys = settings.api_key_list
    app.state.stream_tokens = StreamTokens(keys)
    if keys:
        app.add_middleware(ApiKeyMiddleware, keys=keys, tokens=app.state.stream_tokens)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )


def __getattr__(name: str) -> FastAPI:
    """`testgen.api.app:app` is built on first access, so importing this module does no I/O."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
