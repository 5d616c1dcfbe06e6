"""OpenTelemetry traces, read with the SDK's in-memory exporter: one enqueue is one connected trace
from the API's request through the queue to the worker's batches and each model call (the real
google-genai client against the fake Gemini); no secret in any span; JSON logs carry the ids."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from testgen.core import tracing
from testgen.core.config import Settings
from testgen.core.logs import make_handler
from tests.support.fake_gemini import FakeGemini
from tests.support.harness import ROOT, run_worker, wait_for
from tests.support.helpers import make_story, queue, read_events

KEY = "AIzaSy-tracing-key-5e4d3c2b1a"
STREAM_SECRET = "s3cr3t-stream-token-value"


class _Switchable(SpanProcessor):
    """Records only while this module's tests run (the tracer provider of a process is set once)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.on = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    processor = _Switchable(SimpleSpanProcessor(memory))
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        current.add_span_processor(processor)
    else:
        trace.set_tracer_provider(tracing.build_provider("testgen-test", processor))
    processor.on = True
    yield memory
    processor.on = False
    for instrumentor in (RedisInstrumentor(), SQLAlchemyInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(retry_delay="0.05s") as server:
        yield server


@pytest.fixture
def settings(
    settings: Settings, exporter: InMemorySpanExporter, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Tracing on (console names an exporter; the provider installed above is kept), Gemini faked."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    exporter.clear()
    fake.reset()
    settings.otel_traces_exporter = "console"
    settings.llm_provider = "gemini"
    settings.gemini_api_key = SecretStr(KEY)
    settings.gemini_base_url = fake.url
    settings.gemini_timeout_s = 5
    return settings


def _hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def _job_spans(exporter: InMemorySpanExporter, task_id: str) -> list[ReadableSpan] | None:
    spans = list(exporter.get_finished_spans())
    job = [
        s
        for s in spans
        if s.kind == SpanKind.CONSUMER and (s.attributes or {}).get("testgen.task_id") == task_id
    ]
    if not job:
        return None
    return [s for s in spans if s.context.trace_id == job[0].context.trace_id]


def _text(span: ReadableSpan) -> str:
    return span.to_json()


async def test_one_enqueue_is_one_connected_trace(
    http: AsyncClient, settings: Settings, exporter: InMemorySpanExporter, fake: FakeGemini
) -> None:
    await make_story(http, "US-001")
    fake.script("429")  # the first call is rate-limited once, then answered
    log = io.StringIO()
    handler = make_handler("json", log)
    logger = logging.getLogger("testgen")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with run_worker(settings):
            job = await queue(http, "US-001", num_test_cases=15, scenarios_per_test_case=3)
            events = await read_events(http, job["events_url"])
            assert events[-1].event == "completed"
            spans = await wait_for(lambda: _job_spans(exporter, job["task_id"]), what="the job's span")
        assert (await http.get(f"/user-stories?access_token={STREAM_SECRET}")).status_code == 200
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    by_id = {s.context.span_id: s for s in spans}
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1, [s.name for s in roots]
    (root,) = roots
    assert root.kind == SpanKind.SERVER and "queue" in root.name  # the API's request span
    for span in spans:  # connected: every other span's parent is in the same trace
        assert span is root or (span.parent is not None and span.parent.span_id in by_id), span.name

    def ancestors(span: ReadableSpan) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    enqueue = [s for s in spans if s.kind == SpanKind.PRODUCER]
    (consumer,) = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert len(enqueue) == 1 and consumer.name == "generate_test_cases"
    assert consumer.parent is not None and consumer.parent.span_id == enqueue[0].context.span_id
    assert (consumer.attributes or {})["testgen.outcome"] == "completed"

    batches = sorted(s.name for s in spans if s.name.startswith("batch "))
    assert batches == ["batch 1/3", "batch 2/3", "batch 3/3"]
    calls = [s for s in spans if s.name == "model call"]
    assert len(calls) == 3
    for call in calls:
        attributes = call.attributes or {}
        assert ancestors(call)[0].startswith("batch ") and "generate_test_cases" in ancestors(call)
        assert attributes["gen_ai.system"] == "gemini"
        assert attributes["gen_ai.request.model"] == settings.gemini_model
        assert attributes["gen_ai.usage.input_tokens"] > 0 and attributes["gen_ai.usage.output_tokens"] > 0
        assert attributes["testgen.outcome"] == "ok"
    assert sorted((c.attributes or {})["testgen.retries"] for c in calls) == [0, 0, 1]

    # The contrib instrumentations: FastAPI (the root), SQLAlchemy and redis, in the API and the worker.
    systems = {
        (s.attributes or {}).get("db.system") or (s.attributes or {}).get("db.system.name") for s in spans
    }
    assert {"redis", "sqlite"} <= systems or {"redis", "postgresql"} <= systems

    # JSON logs of the API and the worker carry the trace's ids.
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    traced = [line for line in lines if line.get("trace_id") == _hex(root.context.trace_id)]
    assert any(line["message"].startswith("Queued test generation task") for line in traced)
    assert any(line["message"].startswith("Batch 1/3 started") for line in traced)
    assert all(len(line["span_id"]) == 16 for line in traced)

    everything = [_text(s) for s in exporter.get_finished_spans()]
    assert not any(KEY in text or KEY[:12] in text for text in everything)
    assert not any(STREAM_SECRET in text for text in everything)
    assert any("[redacted]" in text for text in everything)  # the access_token of the last request


async def test_a_rejected_key_fails_the_span_without_the_key(
    http: AsyncClient, settings: Settings, exporter: InMemorySpanExporter, fake: FakeGemini
) -> None:
    """The fake echoes the key in its error message; the spans say why the job failed, never the key."""
    fake.script(*["bad_key"] * 5)
    await make_story(http, "US-001")
    async with run_worker(settings):
        job = await queue(http, "US-001", num_test_cases=1, scenarios_per_test_case=1)
        events = await read_events(http, job["events_url"])
        assert events[-1].event == "failed"
        spans = await wait_for(lambda: _job_spans(exporter, job["task_id"]), what="the job's span")
    (call,) = [s for s in spans if s.name == "model call"]
    assert (call.attributes or {})["testgen.outcome"] == "auth"
    assert call.status.description is not None and "rejected the API key" in call.status.description
    (consumer,) = [s for s in spans if s.kind == SpanKind.CONSUMER]
    assert (consumer.attributes or {})["testgen.outcome"] == "failed"
    assert not any(KEY[:12] in _text(s) for s in exporter.get_finished_spans())


def test_tracing_is_off_unless_an_exporter_or_endpoint_is_set() -> None:
    base: dict[str, Any] = {"_env_file": None}
    assert not Settings(**base).tracing_enabled
    assert Settings(**base, otel_exporter_otlp_endpoint="http://127.0.0.1:4318").tracing_enabled
    assert Settings(**base, otel_traces_exporter="console").tracing_enabled
    assert not Settings(
        **base, otel_traces_exporter="none", otel_exporter_otlp_endpoint="http://x"
    ).tracing_enabled
    # In a fresh process, with tracing off: no provider is installed and no trace context travels.
    code = (
        "from opentelemetry import trace\n"
        "from testgen.core import tracing\n"
        "from testgen.core.config import Settings\n"
        "assert not tracing.start_tracing(Settings(_env_file=None), 'x')\n"
        "with tracing.tracer().start_as_current_span('s'):\n"
        "    assert tracing.inject() == {}\n"
        "print(type(trace.get_tracer_provider()).__name__)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ProxyTracerProvider"


async def test_a_bulk_enqueue_is_one_trace_over_all_its_jobs(
    http: AsyncClient, settings: Settings, exporter: InMemorySpanExporter
) -> None:
    for story in ("US-1", "US-2"):
        await make_story(http, story)
    async with run_worker(settings):
        r = await http.post("/generate-test-cases/queue", json={"story_ids": ["US-1", "US-2"]})
        assert r.status_code == 202, r.text
        task_ids = [job["task_id"] for job in r.json()["jobs"]]
        traces = [
            await wait_for(lambda t=t: _job_spans(exporter, t), what=f"the span of job {t}") for t in task_ids
        ]
    (trace_id,) = {span.context.trace_id for spans in traces for span in spans}
    roots = [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id and s.parent is None]
    assert len(roots) == 1 and roots[0].kind == SpanKind.SERVER
