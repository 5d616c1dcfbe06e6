"""deploy/grafana/testgen.json: every query names a metric that the API or a worker exports."""

from __future__ import annotations

import json
import re
from typing import Any

from httpx import AsyncClient

from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from tests.api.test_operations import families
from tests.support.harness import ROOT, run_worker
from tests.support.helpers import make_story, queue, read_events

DASHBOARD = ROOT / "deploy" / "grafana" / "testgen.json"
_METRIC = re.compile(r"\btestgen_[a-z0-9_]+")
_SERIES_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


async def test_every_dashboard_query_names_an_exported_metric(http: AsyncClient, settings: Settings) -> None:
    port = free_port()
    settings.worker_metrics_port = port
    settings.worker_metrics_host = "127.0.0.1"
    await make_story(http, "US-001")
    async with run_worker(settings):
        job = await queue(http, "US-001", num_test_cases=1)
        assert (await read_events(http, job["events_url"]))[-1].event == "completed"
        async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as worker:
            scraped = await worker.get("/metrics")
    assert scraped.status_code == 200
    assert 'testgen_jobs_total{kind="generate",outcome="completed"}' in scraped.text
    exported = families((await http.get("/metrics")).text) | families(scraped.text)

    dashboard = json.loads(DASHBOARD.read_text())
    queries = _queries(dashboard)
    assert queries
    named: set[str] = set()
    for title, expr in queries:
        names = _METRIC.findall(expr)
        assert names, f"{title}: {expr} names no testgen metric"
        for name in names:
            family = _SERIES_SUFFIX.sub("", name)
            assert family in exported, f"{title}: {name} is not exported"
            named.add(family)
    titles = " | ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for what in (
        "queue depth",
        "pickup",
        "job outcomes",
        "model call latency",
        "tokens",
        "open event streams",
    ):
        assert what in titles
    for wanted in (
        "testgen_queue_depth",
        "testgen_job_pickup_seconds",
        "testgen_jobs_total",
        "testgen_model_call_duration_seconds",
        "testgen_model_tokens_total",
        "testgen_sse_streams_open",
    ):
        assert wanted in named
