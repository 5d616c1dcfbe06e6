"""OpenTelemetry traces: off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER is set.

One trace per job: the API's request span, the enqueue, then (the W3C `traceparent` travels in the
arq job's arguments) the worker's job span, one span per batch and one per model call. FastAPI,
SQLAlchemy and redis are traced by the OpenTelemetry contrib instrumentations. A database or Redis
call outside any request or job (the worker's polling, the event hub's blocking read) would be a
trace of its own every few milliseconds: such orphan client spans are not sampled.

Span attributes never hold a secret: no header is captured, secrets in a query string are replaced
by `[redacted]`, and error descriptions are the redacted messages a job reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from testgen.core.config import Settings
from testgen.core.logs import redact_query_secrets

logger = logging.getLogger(__name__)

TRACER = "testgen"
# Span attributes that may carry a URL's query string (old and new HTTP semantic conventions).
URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")
_lock = threading.Lock()


def tracer() -> trace.Tracer:
    """testgen's tracer: a no-op until a tracer provider is installed."""
    return trace.get_tracer(TRACER)


class _NoOrphanClientSpans(Sampler):
    """A root span of kind CLIENT (a Redis or database call outside any request or job) is dropped."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "NoOrphanClientSpans"


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_traces_exporter == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if settings.otel_exporter_otlp_endpoint:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        return OTLPSpanExporter(endpoint=endpoint)
    return OTLPSpanExporter()  # the SDK's own default (http://localhost:4318/v1/traces)


def build_provider(service: str, processor: SpanProcessor) -> TracerProvider:
    """A tracer provider for `service` that sends its spans to `processor`."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), sampler=ParentBased(root=_NoOrphanClientSpans())
    )
    provider.add_span_processor(processor)
    return provider


def start_tracing(settings: Settings, service: str) -> bool:
    """Install this process's tracer provider (once; a provider already installed is kept) and the
    Redis and SQLAlchemy instrumentation. Returns whether tracing is on."""
    if not settings.tracing_enabled:
        return False
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    with _lock:
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            name = settings.otel_service_name or service
            trace.set_tracer_provider(build_provider(name, BatchSpanProcessor(_exporter(settings))))
            logger.info("Sending traces as %s (%s)", name, settings.otel_traces_exporter or "otlp")
        if not RedisInstrumentor().is_instrumented_by_opentelemetry:
            RedisInstrumentor().instrument()
        if not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry:
            # Its declared range stops before SQLAlchemy 2.1, whose engine events it uses unchanged
            # (tests/api/test_tracing.py checks the spans).
            SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    return True


def flush() -> None:
    """Send the spans still buffered (at shutdown)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)


def instrument_app(app: Any) -> None:
    """FastAPI's server spans (not the ones per ASGI message: an event stream sends thousands)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        server_request_hook=_redact_request,
        excluded_urls="/health,/metrics",
        exclude_spans=["receive", "send"],
    )


def _redact_request(span: Span, _scope: Mapping[str, Any]) -> None:
    attributes = getattr(span, "attributes", None) or {}
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, redact_query_secrets(value))


def inject() -> dict[str, str]:
    """The current trace context as a carrier (`traceparent`), to travel in a job; {} when tracing is off."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def job_span(name: str, task_id: str, carrier: Mapping[str, str] | None) -> Iterator[Span]:
    """The worker's span of one job run, continuing the trace of the request that queued it."""
    parent = propagate.extract(dict(carrier)) if carrier else None
    with tracer().start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"testgen.task_id": task_id, "messaging.system": "arq"},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def fail(span: Span, description: str) -> None:
    """Mark `span` failed with a description that has been redacted already."""
    span.set_status(Status(StatusCode.ERROR, description[:300]))


@contextmanager
def batch_span(index: int, count: int, scenarios: int, provider: str, model: str) -> Iterator[Span]:
    """The span of one batch of a job (batch `index` of `count`, zero-based)."""
    with tracer().start_as_current_span(
        f"batch {index + 1}/{count}",
        attributes={
            "testgen.batch.index": index,
            "testgen.batch.count": count,
            "testgen.batch.scenarios": scenarios,
            "gen_ai.system": provider,
            "gen_ai.request.model": model,
        },
        record_exception=False,
    ) as span:
        yield span
