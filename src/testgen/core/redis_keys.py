"""Every Redis key, channel and queue name testgen uses, in one place.

The API and the workers meet only here, in Redis and in the database: both import these names.
"""

from __future__ import annotations

import datetime as dt

PREFIX = "testgen:"

QUEUE_NAME = f"{PREFIX}queue"  # arq's queue (a sorted set of job ids)
WAKE_CHANNEL = f"{PREFIX}wake"  # published after each enqueue, so that idle workers look at once
WORKERS_KEY = f"{PREFIX}workers"  # worker heartbeats: a sorted set of worker id -> last beat
WORKERS_RUNNING_KEY = f"{PREFIX}workers-running"  # a hash of worker id -> the jobs it runs
API_PROCESSES_KEY = f"{PREFIX}api-processes"  # API processes: a sorted set of process id -> last report
API_STREAMS_KEY = f"{PREFIX}api-streams"  # a hash of API process id -> its open event streams
# Jobs whose final state is being written (task id -> time): the database first, then Redis. One left
# here by a worker that died in between is published by the reaper.
FINISHING_KEY = f"{PREFIX}finishing"
# Jobs a worker claimed from arq's queue (task id -> claim time, ms), until their run ends. One whose
# lease lapsed belongs to a worker that died, maybe before it wrote a thing: the reaper re-queues it.
CLAIMED_KEY = f"{PREFIX}claimed"
# arq names a job after the worker function that runs it (testgen.worker.functions).
GENERATE_JOB = "generate_test_cases"
REGENERATE_JOB = "regenerate_test_case"
IMPORT_JIRA_JOB = "import_jira_stories"
PUSH_JOB = "push_test_cases"
FILL_JOB = "propose_step_bodies"
STORY_CHECK_JOB = "ask_story_questions"
SWEEP_PROVIDER_BATCHES_JOB = "sweep_provider_batches"  # a cron job: batches of ended jobs cancelled


def push_lock_key(connection_id: int) -> str:
    """Held while a push to the connection is being queued: one live push per connection."""
    return f"{PREFIX}push-queueing:{connection_id}"


def state_key(task_id: str) -> str:
    """A job's latest public snapshot (JSON)."""
    return f"{PREFIX}job:{task_id}"


def events_key(task_id: str) -> str:
    """A job's event stream (XADD per change), replayed to SSE clients."""
    return f"{PREFIX}job:{task_id}:events"


def cancel_key(task_id: str) -> str:
    """Set when a cancel was asked for, so that a stopping worker does not re-queue the job."""
    return f"{PREFIX}job:{task_id}:cancel"


def provider_batch_key(task_id: str) -> str:
    """The provider batch a generation job's requests were submitted to (JSON), while it is watched."""
    return f"{PREFIX}job:{task_id}:provider-batch"


def lease_key(task_id: str) -> str:
    """Renewed by the worker running the job; a lapsed lease means that worker is gone."""
    return f"{PREFIX}job:{task_id}:lease"


def budget_holds_key(project_id: int, day: dt.date) -> str:
    """The tokens a project's running jobs hold against its budget on a UTC day (task id -> tokens)."""
    return f"{PREFIX}budget:{project_id}:{day.isoformat()}"


def reap_key(task_id: str) -> str:
    """Taken (SET NX) by the one worker that recovers a job whose lease lapsed."""
    return f"{PREFIX}reap:{task_id}"


def hub_control_key(hub_id: str) -> str:
    """A stream an API process's event hub also reads, written to wake its blocking XREAD."""
    return f"{PREFIX}hub:{hub_id}"


def llm_rate_key(provider: str, model: str) -> str:
    """The shared requests-per-minute window of one model."""
    return f"{PREFIX}llm:rpm:{provider}:{model}"


def limit_requests_key(principal: str, window: int) -> str:
    """A client's request counter in one minute-long window (RATE_LIMIT_PER_MINUTE)."""
    return f"{PREFIX}limit:{principal}:requests:{window}"


def limit_auth_failures_key(address: str, window: int) -> str:
    """A client address's failed authentications in one minute-long window (AUTH_FAILURES_PER_MINUTE)."""
    return f"{PREFIX}limit:{address}:auth-failures:{window}"


def limit_jobs_key(principal: str) -> str:
    """The jobs a client has queued or running (MAX_JOBS_IN_FLIGHT_PER_KEY): task ids and reservations."""
    return f"{PREFIX}limit:{principal}:jobs"


def batch_key(batch_id: str) -> str:
    """The task ids one bulk enqueue answered with (a list), followed by its one event stream; one
    per set of jobs (`batch_id` is named by the set)."""
    return f"{PREFIX}batch:{batch_id}"


def session_key(session_hash: str) -> str:
    """A signed-in session (by the hash of its id, never the id): its user and CSRF token, with a TTL."""
    return f"{PREFIX}session:{session_hash}"


def user_sessions_key(user_id: int) -> str:
    """The session hashes of one user, so that deactivating or signing out everywhere ends them all."""
    return f"{PREFIX}user-sessions:{user_id}"


def sign_in_failures_key(scope: str, ident: str, window: int) -> str:
    """Failed sign-ins in one minute, per account (`account`, an email hash) or per client (`client`)."""
    return f"{PREFIX}sign-in-failures:{scope}:{ident}:{window}"


def oidc_state_key(state: str) -> str:
    """An OpenID Connect sign-in under way: its PKCE verifier, nonce and return path, for minutes."""
    return f"{PREFIX}oidc-state:{state}"
