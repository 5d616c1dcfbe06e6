"""The public state of a job: stored in Redis, sent in every event, returned by the status API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from testgen.core import json_codec
from testgen.data.job_states import JobStatus
from testgen.data.models import GenerationJob


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_snapshot(job: GenerationJob) -> dict[str, Any]:
    return {
        "task_id": job.id,
        "story_id": job.story_id,
        "project_id": job.project_id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "options": job.options,
        "result": job.result if job.status == JobStatus.completed else None,
        "error": job.error if job.status == JobStatus.failed else None,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "saved_at": _iso(job.saved_at),
    }


def encode(snapshot: dict[str, Any]) -> str:
    """A snapshot as the JSON every event carries (encoded once per change)."""
    return json_codec.dumps(snapshot)
