"""The Redis client (an arq pool) that the API and workers share a configuration for."""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool

QUEUE_NAME = "testgen:queue"


def serialize_job(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def deserialize_job(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(data)
    return result


def create_redis(url: str, *, max_connections: int = 50) -> ArqRedis:
    """An arq-capable client that connects lazily, so a Redis outage at start-up is not fatal.

    Jobs are serialised as JSON: nothing we read back from Redis is ever unpickled.
    """
    pool = ConnectionPool.from_url(
        url,
        max_connections=max_connections,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=30,
    )
    return ArqRedis(
        connection_pool=pool,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        default_queue_name=QUEUE_NAME,
    )
