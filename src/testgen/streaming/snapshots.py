"""The public state of a job: stored in Redis, sent in every event, returned by the status API."""

from __future__ import annotations

import datetime as dt
from typing import cast

from testgen.core import json_codec
from testgen.data.job_states import JobStatus
from testgen.data.models import GenerationJob
from testgen.domain.job_snapshots import JobErrorJSON, JobOptionsJSON, JobResultJSON, JobSnapshot


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_snapshot(job: GenerationJob) -> JobSnapshot:
    """The row's state. Its JSON columns hold what the domain models dumped: cast, not validated (this
    runs for every progress event and status read)."""
    return {
        "task_id": job.id,
        "story_id": job.story_id,
        "project_id": job.project_id,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "options": cast("JobOptionsJSON", job.options),
        "result": cast("JobResultJSON | None", job.result) if job.status == JobStatus.completed else None,
        "error": cast("JobErrorJSON | None", job.error) if job.status == JobStatus.failed else None,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "saved_at": _iso(job.saved_at),
    }


def encode(snapshot: JobSnapshot) -> str:
    """A snapshot as the JSON every event carries (encoded once per change)."""
    return json_codec.dumps(snapshot)
