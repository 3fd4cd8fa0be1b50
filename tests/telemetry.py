"""OpenTelemetry's SDK recording in memory, for the tests of `django_jobkit.contrib.otel`.

Each test gets providers of its own, handed to `instrument()`: the global ones can be set only
once per process, and a test must see only its own spans and points.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from django_jobkit.contrib import otel

OTEL_MIDDLEWARE = "django_jobkit.contrib.otel.OpenTelemetryMiddleware"


class Telemetry:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        # Shut down by the fixture, not again at exit.
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        # Simple, not batched: a span is exported as it ends, so a test that waited for the
        # result (written after the middleware returned) finds it.
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Ended spans, oldest first; those called `name` when given."""
        found = list(self.exporter.get_finished_spans())
        return [span for span in found if name is None or span.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of one metric, as the reader collects them now."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for found in scope.metrics
            if found.name == metric
            for point in found.data.data_points
        ]

    def counts(self) -> dict[tuple[str, str], int]:
        """`jobkit.job.attempts` by (job class, outcome)."""
        return {
            (p.attributes["jobkit.job_class"], p.attributes["jobkit.outcome"]): p.value
            for p in self.points("jobkit.job.attempts")
        }

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture(name="telemetry")
def telemetry_fixture() -> Iterator[Telemetry]:
    """Spans and metrics of jobkit's OpenTelemetry integration, recorded for this test."""
    recorded = Telemetry()
    otel.instrument(
        tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider
    )
    try:
        yield recorded
    finally:
        otel.uninstrument()
        recorded.close()


def traceparent(span: ReadableSpan) -> str:
    """The W3C `traceparent` header that carries this span's context."""
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
