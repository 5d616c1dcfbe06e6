"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from testgen.api.deps import EngineDep, HubDep, RedisDep, SettingsDep
from testgen.api.services import ops

router = APIRouter(tags=["operations"])


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str  # "ok" or "unavailable"
    checks: dict[str, str]  # database, redis, workers: "ok" or what is wrong


@router.get("/health", response_model=HealthOut)
async def health() -> object:
    """The process is alive (no I/O)."""
    return ops.health()


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Something the service needs is down"}},
)
async def ready(engine: EngineDep, redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """The database and Redis answer and at least one worker is alive."""
    result = await ops.readiness(engine, redis, settings)
    body = ReadyOut(status="ok" if result.ready else "unavailable", checks=result.checks)
    return JSONResponse(body.model_dump(), status_code=200 if result.ready else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {ops.CONTENT_TYPE: {}}}},
)
async def metrics(redis: RedisDep, hub: HubDep) -> Response:
    """Prometheus metrics (text exposition format): this API process's (all of them with
    `testgen api --workers N`) and the service-wide gauges. A worker serves its own on
    WORKER_METRICS_PORT."""
    body = await ops.metrics(redis, local_streams=hub.connections, process_id=hub.process_id)
    return Response(body, media_type=ops.CONTENT_TYPE)
