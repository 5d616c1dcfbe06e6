"""Every Prometheus metric testgen exports, in one place (prometheus-client).

Each process has one `ServiceMetrics` (built on first use, never at import). The API serves its
process's metrics plus the service-wide gauges it reads from Redis at scrape time (`/metrics`); a
worker serves its own on WORKER_METRICS_PORT (opt-in). The processes of one `testgen api --workers N`
or `testgen worker --processes N` share prometheus-client's multiprocess mode: their supervisor gives
them one PROMETHEUS_MULTIPROC_DIR, and a scrape adds up the files of all of them (see
docs/operations/metrics.md).

Labels are bounded: kinds, outcomes and error types come from our own code; model names are
user-chosen (per project), so at most MAX_MODELS_PER_PROVIDER distinct ones are kept per provider
and any other is counted as "other". No task or story id is ever a label.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client itself when it is imported

MAX_MODELS_PER_PROVIDER = 20
MAX_LABEL_CHARS = 100
OTHER = "other"

# Outcomes of one run of a job (testgen_jobs_total, testgen_job_duration_seconds): the final status
# it reached (completed, failed, cancelled: data/job_states.py) or one of these.
REQUEUED = "requeued"  # the worker stopped; the job went back on the queue
FINISHED_ELSEWHERE = "finished_elsewhere"  # cancelled or finished by another run meanwhile
# Outcomes of one model call: "ok", the fault type (rate_limit, timeout, upstream, auth, ...), or
# ABORTED when the job stopped waiting (cancelled, timed out, worker stopping).
CALL_OK = "ok"
ABORTED = "aborted"
TOKEN_KINDS = ("prompt", "output")

# Enqueue to start: milliseconds when a worker is idle, minutes when the queue is long.
PICKUP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Job run times span seconds to the job timeout (10 minutes by default).
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
MODEL_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# Service-wide gauges, read from Redis by the API at scrape time (api/services/ops.py).
QUEUE_DEPTH = "testgen_queue_depth"
JOBS_RUNNING = "testgen_jobs_running"
WORKERS_LIVE = "testgen_workers_live"
SSE_STREAMS_OPEN = "testgen_sse_streams_open"
REDIS_UP = "testgen_redis_up"


def multiprocess_mode() -> bool:
    """Whether prometheus-client keeps values in PROMETHEUS_MULTIPROC_DIR (set by our supervisors)."""
    return values.ValueClass is not values.MutexValue


class ServiceMetrics:
    """The metrics of one process. Each is registered in `registry` (this process's values); in
    multiprocess mode `exposition()` reads every process's files instead."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._models: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        r = self.registry
        self.jobs_queued = Counter(
            "testgen_jobs_queued", "Jobs queued through the API, by kind.", ["kind"], registry=r
        )
        self.pickup = Histogram(
            "testgen_job_pickup_seconds",
            "From a job's enqueue to the start of its first run, by kind.",
            ["kind"],
            buckets=PICKUP_BUCKETS,
            registry=r,
        )
        self.job_duration = Histogram(
            "testgen_job_duration_seconds",
            "Run time of one run of a job, by kind and outcome.",
            ["kind", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "testgen_jobs", "Runs of jobs that ended, by kind and outcome.", ["kind", "outcome"], registry=r
        )
        self.job_errors = Counter(
            "testgen_job_errors", "Failed jobs by kind and error type.", ["kind", "error_type"], registry=r
        )
        self.model_call_duration = Histogram(
            "testgen_model_call_duration_seconds",
            "Latency of one model call (one attempt), by provider, model and outcome.",
            ["provider", "model", "outcome"],
            buckets=MODEL_CALL_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter(
            "testgen_model_calls",
            "Model calls (attempts), by provider, model and outcome.",
            ["provider", "model", "outcome"],
            registry=r,
        )
        self.model_retries = Counter(
            "testgen_model_retries",
            "Model calls tried again (rate limits, server errors, timeouts), by provider, model and reason.",
            ["provider", "model", "reason"],
            registry=r,
        )
        self.model_reasks = Counter(
            "testgen_model_reasks",
            "Models asked again after a malformed or short answer, by provider and model.",
            ["provider", "model"],
            registry=r,
        )
        self.model_tokens = Counter(
            "testgen_model_tokens",
            "Tokens the model calls used, by provider, model and kind (prompt, output).",
            ["provider", "model", "kind"],
            registry=r,
        )
        self.sse_delivery_lag = Histogram(
            "testgen_sse_delivery_lag_seconds",
            "From a job event's write to Redis to its hand-over to this API process's event streams.",
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )

    def model_label(self, provider: str, model: str) -> str:
        """`model`, or "other" past MAX_MODELS_PER_PROVIDER distinct models of the provider."""
        model = model[:MAX_LABEL_CHARS]
        seen = self._models.setdefault(provider, set())
        if model in seen:
            return model
        with self._lock:
            if len(seen) >= MAX_MODELS_PER_PROVIDER:
                return OTHER
            seen.add(model)
        return model

    def model_call(self, provider: str, model: str, outcome: str, seconds: float) -> None:
        model = self.model_label(provider, model)
        self.model_call_duration.labels(provider, model, outcome).observe(seconds)
        self.model_calls.labels(provider, model, outcome).inc()

    def tokens(self, provider: str, model: str, prompt: int, output: int) -> None:
        model = self.model_label(provider, model)
        if prompt:
            self.model_tokens.labels(provider, model, "prompt").inc(prompt)
        if output:
            self.model_tokens.labels(provider, model, "output").inc(output)

    def retried(self, provider: str, model: str, reason: str) -> None:
        self.model_retries.labels(provider, self.model_label(provider, model), reason[:MAX_LABEL_CHARS]).inc()

    def reasked(self, provider: str, model: str) -> None:
        self.model_reasks.labels(provider, self.model_label(provider, model)).inc()

    def job_ended(self, kind: str, outcome: str, seconds: float, error_type: str | None = None) -> None:
        self.jobs.labels(kind, outcome).inc()
        self.job_duration.labels(kind, outcome).observe(seconds)
        if error_type is not None:
            self.job_errors.labels(kind, error_type[:MAX_LABEL_CHARS]).inc()


@functools.cache
def service_metrics() -> ServiceMetrics:
    """This process's metrics, built on first use."""
    return ServiceMetrics()


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def multiprocess_registry(path: Path | None = None) -> CollectorRegistry:
    """A registry that adds up the values every process wrote to the multiprocess directory."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
        registry, path=str(path) if path is not None else None
    )
    return registry


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """This process's metrics (every process's in multiprocess mode) and `extra`, in the text format."""
    source = multiprocess_registry() if multiprocess_mode() else service_metrics().registry
    body = generate_latest(source)
    extras = list(extra)
    if extras:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(extras))
        body += generate_latest(registry)
    return body


def serve(host: str, port: int, registry: CollectorRegistry | None = None) -> Any:
    """Serve `registry` (default: this process's metrics) over HTTP on a thread; returns the server,
    whose `shutdown()` stops it."""
    from prometheus_client import start_http_server

    if registry is None:
        registry = multiprocess_registry() if multiprocess_mode() else service_metrics().registry
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
