"""The floor: a minimal app on testgen's stack (FastAPI, SQLAlchemy async, redis-py) doing exactly the
database reads and writes and the Redis commands that one enqueue, one status read and one story
read need, written the plain way, with nothing of testgen's own (no services, no limits, no hub).

    uvicorn --app-dir bench _floor_app:app   (DATABASE_URL and REDIS_URL from the environment)

bench/bench_floor.py runs it beside testgen on the same database and Redis.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from testgen.core.database import create_engine
from testgen.data.models import GenerationJob, Project, UserStory, utcnow


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_engine(os.environ["DATABASE_URL"])
    app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
    app.state.redis = Redis.from_url(os.environ["REDIS_URL"])
    yield
    await app.state.redis.aclose()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
ACTIVE = ("queued", "started", "generating")


@app.post("/generate-test-cases/{story_id}/queue", status_code=202)
async def queue(story_id: str, body: dict[str, Any]) -> dict[str, Any]:
    async with app.state.sessions() as session:
        story = await session.get(UserStory, story_id)
        if story is None:
            raise HTTPException(404, "story not found")
        active = select(GenerationJob.id).where(
            GenerationJob.story_id == story_id, GenerationJob.status.in_(ACTIVE)
        )
        if (await session.execute(active)).first() is not None:
            raise HTTPException(409, "already queued")
        project = await session.get(Project, story.project_id)
        options = {**body, "llm_provider": project.llm_provider if project else None}
        job = GenerationJob(
            id=str(uuid.uuid4()),
            story_id=story_id,
            kind="generate",
            options=options,
            status="queued",
            progress=0,
        )
        session.add(job)
        await session.commit()
    redis: Redis = app.state.redis
    state = json.dumps({"task_id": job.id, "story_id": story_id, "status": "queued", "options": options})
    async with redis.pipeline(transaction=True) as pipe:  # the job's state, its event, arq's job
        pipe.set(f"floor:job:{job.id}", state, ex=3600)
        pipe.xadd(f"floor:job:{job.id}:events", {"event": "queued", "data": state})
        pipe.psetex(f"arq:job:{job.id}", 86_400_000, state)
        pipe.zadd("floor:queue", {job.id: int(time.time() * 1000)})
        pipe.publish("floor:wake", b"1")
        await pipe.execute()
    workers = await redis.zcount("testgen:workers", time.time() - 30, "+inf")
    return {"task_id": job.id, "status": "queued", "warning": None if workers else "no worker"}


@app.get("/generate-test-cases/status/{task_id}")
async def status(task_id: str) -> dict[str, Any]:
    async with app.state.sessions() as session:
        job = await session.get(GenerationJob, task_id)
    if job is None:
        raise HTTPException(404, "task not found")
    async with app.state.redis.pipeline(transaction=False) as pipe:  # the state, and whether a worker runs
        pipe.get(f"floor:job:{task_id}")
        pipe.zcount("testgen:workers", time.time() - 30, "+inf")
        live, workers = await pipe.execute()
    state = (
        json.loads(live) if live else {"task_id": job.id, "status": job.status, "created_at": str(utcnow())}
    )
    return {**state, "warning": None if workers else "no worker"}


@app.get("/user-stories/{story_id}")
async def story(story_id: str) -> dict[str, Any]:
    async with app.state.sessions() as session:
        found = await session.get(UserStory, story_id)
    if found is None:
        raise HTTPException(404, "story not found")
    return {
        "id": found.id,
        "project_id": found.project_id,
        "title": found.title,
        "description": found.description,
        "acceptance_criteria": found.acceptance_criteria,
        "priority": found.priority,
    }
