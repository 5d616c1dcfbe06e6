"""User-facing messages that more than one module sends, so that a wording change is one edit.

Each says what happened and what to do next; none carries a secret.
"""

from __future__ import annotations

from collections.abc import Sequence

# What a "not found" names (see errors.NotFoundError: "<kind> <id> not found").
PROJECT = "Project"
STORY = "User story"
TASK = "Task"
TEST_CASE = "Test case"

WAITING_FOR_WORKER = "Waiting for a worker"
# Instead of (or after) a queued job's message while no worker heartbeat is alive: in its status, the
# enqueue answer, the page's badge and `testgen generate --follow` (see core/presence.py).
NO_WORKER_RUNNING = "No worker is running: start one with `testgen worker`"
CANCELLED_BY_REQUEST = "Cancelled by request"
REDIS_DOWN = "queue unavailable: cannot reach Redis; check that it is running and REDIS_URL"
DATABASE_DOWN = "database unavailable or busy; nothing was changed, try again shortly"


def queue_unavailable(redis_url: str) -> str:
    """`redis_url` must come with its password redacted."""
    return (
        f"queue unavailable: cannot reach Redis at {redis_url}; "
        "check that Redis is running (or REDIS_URL), then try again"
    )


def story_without_project(story_id: str) -> str:
    """Queueing a story that belongs to no project (a conflict: the story must be changed first)."""
    return f"User story {story_id} is not associated with a project; set its project_id, then queue again"


def not_cancellable(task_id: str, status: str) -> str:
    return f"Task {task_id} is already {status}; only queued or running jobs can be cancelled"


def draft_closed(parent_id: str, index: int) -> str:
    return f"Task {parent_id} was saved or discarded meanwhile; test case {index} was not regenerated"


def draft_changed_size(parent_id: str, expected: int, found: int) -> str:
    return (
        f"Task {parent_id} holds {found} test cases now, not {expected}: another change added some "
        "meanwhile; nothing was added, ask again"
    )


def provider_not_configured(provider: str, configured: Sequence[str]) -> str:
    return (
        f"LLM provider {provider[:32]!r} is not configured on this server; configure it, or set the "
        f"project's llm_provider to one of: {', '.join(configured)} (or null for the server's default)"
    )


def budget_spent(project_id: int, budget: int, spent: int) -> str:
    return (
        f"Project {project_id} has spent {spent} of its daily token budget of {budget} "
        "(token_budget_daily) today; try again after 00:00 UTC or raise the budget"
    )


def budget_too_small(project_id: int, budget: int, spent: int, held: int, needed: int) -> str:
    running = f", {held} of it held by its running jobs" if held else ""
    return (
        f"This job needs about {needed} tokens, but project {project_id} has {max(0, budget - spent - held)} "
        f"of its daily token budget of {budget} (token_budget_daily) left today{running}; ask for fewer "
        "test cases, raise the budget, or try again "
        + ("when those jobs end or " if held else "")
        + "after 00:00 UTC"
    )


def provider_batch_submitted(batch_id: str, requests: int) -> str:
    return f"Submitted to the provider's batch {batch_id} ({requests} requests), expected within 24 h"


def provider_batch_waiting(batch_id: str, state: str) -> str:
    return f"Waiting for the provider's batch {batch_id} ({state}), expected within 24 h"


def fill_is_a_job(story_id: str) -> str:
    return (
        "The model pass over a skeleton is a job, queued by a POST (a download never spends the budget): "
        f'POST /user-stories/{story_id}/test-cases/automation/fill {{"base_url": ...}}, follow it, then '
        "download this with framework=playwright-bdd&task_id=<its task id>"
    )


def nothing_changed(story_id: str) -> str:
    return (
        f"Every acceptance criterion of user story {story_id} is covered by an up-to-date saved test "
        "case; nothing to generate with only_changed (queue without it for a full draft)"
    )
