"""Everything arq's Worker needs, derived from our settings: one dict, which `workers.WorkerSettings`
is and which `testgen worker` passes to the woken worker."""

from __future__ import annotations

from typing import Any

from arq.cron import cron
from arq.worker import func

from testgen.core.arq_adapter import deserialize_job, serialize_job
from testgen.core.config import Settings
from testgen.core.redis import arq_settings
from testgen.core.redis_keys import (
    FILL_JOB,
    GENERATE_JOB,
    IMPORT_JIRA_JOB,
    PUSH_JOB,
    QUEUE_NAME,
    REGENERATE_JOB,
    STORY_CHECK_JOB,
    SWEEP_PROVIDER_BATCHES_JOB,
)
from testgen.worker.functions import (
    ask_story_questions,
    generate_test_cases,
    import_jira_stories,
    propose_step_bodies,
    push_test_cases,
    regenerate_test_case,
    sweep_provider_batches,
)
from testgen.worker.lifecycle import shutdown, startup


def worker_options(settings: Settings) -> dict[str, Any]:
    """Everything arq's Worker needs, derived from our settings (JSON jobs, fast polling)."""
    return {
        "functions": [
            func(generate_test_cases, name=GENERATE_JOB),
            func(regenerate_test_case, name=REGENERATE_JOB),
            func(import_jira_stories, name=IMPORT_JIRA_JOB),
            func(push_test_cases, name=PUSH_JOB),
            func(propose_step_bodies, name=FILL_JOB),
            func(ask_story_questions, name=STORY_CHECK_JOB),
        ],
        # Once a minute: the provider batches of cancelled jobs are cancelled (worker/provider_batches.py).
        "cron_jobs": [cron(sweep_provider_batches, name=SWEEP_PROVIDER_BATCHES_JOB, second=7)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": arq_settings(settings.effective_redis_url, sentinel=settings.redis_sentinel),
        "queue_name": QUEUE_NAME,
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
        "poll_delay": settings.worker_poll_delay_s,
        "max_jobs": settings.worker_max_jobs,
        "queue_read_limit": max(settings.worker_max_jobs * 5, 200),
        "job_timeout": settings.job_timeout_s + 30,
        "keep_result": settings.keep_result_s,
        "max_tries": 5,
        "allow_abort_jobs": True,
        "job_completion_wait": int(settings.worker_shutdown_wait_s),
        "health_check_interval": 10,
    }
