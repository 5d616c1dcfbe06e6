"""The URLs to follow queued jobs by, in the answers of the routes that queue them.

The routes' paths are resolved once per application and root path (`JobLinkPaths`, which the app
keeps): resolving walks every router (bench_scale's profile put it at 40% of a 1,000-story bulk
enqueue, and 70 us of every single one). Task ids are UUIDs: nothing to quote.
"""

from __future__ import annotations

from fastapi import Request

from testgen.api.schemas.jobs import QueuedJob
from testgen.data.models import GenerationJob

_MARK = "0task0id0"
Around = tuple[str, str]  # a path with a task id, cut where the id goes


class JobLinks:
    """Answers for queued jobs, with the URLs of their status and event stream."""

    def __init__(self, status: Around, events: Around, multiplexed_events: str) -> None:
        self.status = status
        self.events = events
        self.multiplexed_events = multiplexed_events

    def job(self, job: GenerationJob, warning: str | None = None) -> QueuedJob:
        return QueuedJob(
            warning=warning,
            task_id=job.id,
            story_id=job.story_id,
            project_id=job.project_id,
            status=job.status,
            status_url=job.id.join(self.status),
            events_url=job.id.join(self.events),
        )

    def batch_events(self, batch_id: str) -> str:
        """The event stream of every job of a bulk enqueue."""
        return f"{self.multiplexed_events}?batch={batch_id}"


class JobLinkPaths:
    """The JobLinks of each root path the application is reached under, resolved on first use."""

    def __init__(self) -> None:
        self._by_root_path: dict[str, JobLinks] = {}

    def for_request(self, request: Request) -> JobLinks:
        root_path: str = request.scope.get("root_path", "")
        links = self._by_root_path.get(root_path)
        if links is None:
            links = JobLinks(
                _around(request, "job_status"),
                _around(request, "job_events"),
                request.url_for("multiplexed_events").path,
            )
            self._by_root_path[root_path] = links
        return links


def _around(request: Request, name: str) -> Around:
    before, _, after = str(request.url_for(name, task_id=_MARK).path).partition(_MARK)
    return before, after
