"""The chaos run (tests/support/chaos.py) in a short mode: 2 API processes, 3 workers, one Redis and the test
database, with worker kills every 5 s, one Redis restart and one API process killed."""

from __future__ import annotations

import os

import pytest

from tests.support.chaos import Plan, chaos

pytestmark = pytest.mark.slow


async def test_the_topology_survives_faults_and_loses_nothing(database_url: str) -> None:
    plan = Plan(
        jobs=60, clients=20, batches=4, delay_s=0.3, chaos_s=16.0, redis_restart_at_s=5.0, api_kill_at_s=9.0
    )
    report = await chaos(plan, database_url if os.environ.get("TEST_DATABASE_URL") else None)
    print(report.summary())
    assert report.worker_kills >= 3 and report.redis_restarts == 1 and report.api_kills == 1
    assert not report.problems, report.problems[:10]
    assert report.completed == report.jobs == plan.jobs
    assert (
        report.exact
        == report.followers
        == plan.jobs // plan.batches * plan.clients // plan.batches * plan.batches
    )
    assert report.saves == {"201+409": plan.jobs}
