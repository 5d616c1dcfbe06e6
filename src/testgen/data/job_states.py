"""A job's life in one place: its statuses, the sets they fall into, and every allowed change of its row.

The database row decides a job's state: each change below is one conditional statement (see
`repository.change_jobs`), guarded by the statuses it may start from, so of two racing changes
(a cancel and a finishing worker, two saves) exactly one wins. Redis only mirrors the row for live
progress; its Lua guard gets the terminal set from here.

This is the only module that spells out a status name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    queued = "queued"
    started = "started"
    generating = "generating"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class JobKind(StrEnum):
    generate = "generate"  # a whole draft for a story
    regenerate = "regenerate"  # one test case of a draft, written back into it
    import_jira = "import_jira"  # stories of a project read from Jira (no story of its own)
    push = "push"  # saved test cases of a project written into a test-management tool
    automation_fill = "automation_fill"  # bodies proposed for a story's playwright-bdd steps
    story_check = "story_check"  # the model's questions on a story before generating


ACTIVE = frozenset({JobStatus.queued, JobStatus.started, JobStatus.generating})
RUNNING = frozenset({JobStatus.started, JobStatus.generating})  # a worker holds it
TERMINAL = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})
# The event name of a progress report that keeps the status (the others are named by status).
PROGRESS_EVENT = "progress"


@dataclass(frozen=True)
class Transition:
    """A conditional change of a job row: it applies only while the row's status is in `sources`
    (and, with `unsaved`, while its result was not saved)."""

    name: str
    sources: frozenset[JobStatus]
    target: JobStatus | None = None  # None: the status stays (a draft edit) or the row goes
    unsaved: bool = False
    deletes: bool = False


START = Transition("start", ACTIVE, JobStatus.started)
PROGRESS = Transition("progress", ACTIVE, JobStatus.generating)
COMPLETE = Transition("complete", ACTIVE, JobStatus.completed)
FAIL = Transition("fail", ACTIVE, JobStatus.failed)
CANCEL = Transition("cancel", ACTIVE, JobStatus.cancelled)
REQUEUE = Transition("requeue", ACTIVE, JobStatus.queued)  # its worker is stopping
REAP_REQUEUE = Transition("reap_requeue", RUNNING, JobStatus.queued)  # its worker vanished
WORKER_LOST = Transition("worker_lost", RUNNING, JobStatus.failed)  # vanished too often
# arq ended the job (or lost it) while its row stayed active: the run could not write it (its database
# failed), so the row is failed by whoever finds it (the reaper, or the next enqueue of its story).
GIVE_UP = Transition("give_up", ACTIVE, JobStatus.failed)
# A job's row is written a moment before the job is handed to arq: arq holding nothing of a job means
# that it is lost only once the row is older than this.
QUEUEING_GRACE_S = 60
# A completed draft that was neither saved nor discarded (a discarded one has no row any more).
SAVE = Transition("save", frozenset({JobStatus.completed}), unsaved=True)
EDIT_DRAFT = Transition("edit_draft", frozenset({JobStatus.completed}), unsaved=True)  # a regeneration
DISCARD = Transition("discard", TERMINAL, unsaved=True, deletes=True)
UNDO_ENQUEUE = Transition("undo_enqueue", frozenset({JobStatus.queued}), deletes=True)  # Redis failed

TRANSITIONS = {
    t.name: t
    for t in (
        START,
        PROGRESS,
        COMPLETE,
        FAIL,
        CANCEL,
        REQUEUE,
        REAP_REQUEUE,
        WORKER_LOST,
        GIVE_UP,
        SAVE,
        EDIT_DRAFT,
        DISCARD,
        UNDO_ENQUEUE,
    )
}


class StoryState(StrEnum):
    """Where a story stands, from its saved test cases and its latest generation job (a list filter)."""

    no_tests = "no_tests"  # no saved test case yet
    draft_ready = "draft_ready"  # its latest job completed and its draft is neither saved nor discarded
    running = "running"  # a generation job is queued or running
    failed = "failed"  # its latest job failed


# What a worker's persisted report of each status means.
REPORTED = {
    JobStatus.queued: REQUEUE,
    JobStatus.started: START,
    JobStatus.generating: PROGRESS,
    JobStatus.completed: COMPLETE,
    JobStatus.failed: FAIL,
    JobStatus.cancelled: CANCEL,
}


def allowed(source: JobStatus, target: JobStatus) -> bool:
    """Whether some transition moves a job from `source` to `target`."""
    return any(t.target is target and source in t.sources for t in TRANSITIONS.values())


# What each status means to a client, by role: the web page takes this table (see describe())
# and branches on roles, so it never spells a status.
ROLES = {
    "waiting": JobStatus.queued,
    "starting": JobStatus.started,
    "running": JobStatus.generating,
    "ready": JobStatus.completed,
    "error": JobStatus.failed,
    "stopped": JobStatus.cancelled,
}


def describe() -> dict[str, object]:
    """The statuses in order, their sets and roles, and the event names, for the web page."""
    return {
        "statuses": [s.value for s in JobStatus],
        "active": [s.value for s in JobStatus if s in ACTIVE],
        "terminal": [s.value for s in JobStatus if s in TERMINAL],
        "roles": {role: status.value for role, status in ROLES.items()},
        "events": [*(s.value for s in JobStatus), PROGRESS_EVENT],
        "story_states": [s.value for s in StoryState],
    }
