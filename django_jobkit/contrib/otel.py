"""OpenTelemetry for jobs: a producer span when a job is enqueued, a consumer span around each
attempt, a queue-wait histogram and an outcome counter (the `otel` extra).

A job crosses two processes and possibly hours (a delay, retries), so the trace context cannot
ride in the Python context: the producer writes it into the request's `headers` (W3C
`traceparent`/`tracestate`, or whatever propagators the project configured), the row carries
it through delays and onto every retry, and the worker reads it back from the process. The
first enqueue's context is kept for the whole chain: every attempt's consumer span relates to
the same producer span, as the messaging conventions ask of a "custom creation context".

Both sides stay out of jobkit's own code: the producer side is a receiver of the
`job_enqueuing` signal, the consumer side a job middleware. `instrument()` connects the
receiver; jobkit calls it at start-up when `JOBKIT_MIDDLEWARE` names `OpenTelemetryMiddleware`,
so one setting turns on both sides in web and worker processes alike.

Spans and metrics go to the global tracer and meter providers unless `instrument()` is given
its own (tests do, since the global ones can be set only once per process).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_datetime

from .. import __version__, signals
from ..exceptions import DeferJob

try:
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.context import Context
except ImportError as exc:  # the extra is missing: say which one
    raise ImportError(
        f"django_jobkit.contrib.otel needs OpenTelemetry's API ({exc}); install the extra: "
        "pip install 'django-jobkit[otel]'"
    ) from exc

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.trace import TracerProvider

    from ..execution.middleware import RunJob
    from ..models import JobProcess, JobRequest
    from ..models.records import JobFields

#: `messaging.system` of every span and metric: the database row is the message.
SYSTEM = "jobkit"

#: The header holding when a delayed attempt was due (ISO 8601): a process keeps its request's
#: `created_at` but not its `start_at`, and the queue wait is counted from the later of the two.
DUE_HEADER = "jobkit-due-at"

#: Bucket bounds of the queue-wait histogram, in seconds: from a busy worker's few
#: milliseconds to a backlog of an hour.
WAIT_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600
)  # fmt: skip

#: How an attempt ended, as the middleware sees it (`jobkit.outcome`). The first three are the
#: result's statuses; INTERRUPTED is a SystemExit or KeyboardInterrupt (a cancel, a hard time
#: limit, a stopped child), which the runner records as CANCELLED, ERRORED or LOST.
SUCCESSFUL, ERRORED, DEFERRED, INTERRUPTED = "SUCCESSFUL", "ERRORED", "DEFERRED", "INTERRUPTED"

_DISPATCH_UID = "django_jobkit.contrib.otel"


@dataclass(frozen=True)
class Instruments:
    """The tracer and the two metric instruments, from one pair of providers."""

    tracer: trace.Tracer
    wait_time: Histogram
    attempts: Counter

    @classmethod
    def create(
        cls, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> Instruments:
        meter = metrics.get_meter("django_jobkit", __version__, meter_provider)
        return cls(
            tracer=trace.get_tracer("django_jobkit", __version__, tracer_provider),
            wait_time=meter.create_histogram(
                "jobkit.job.wait_time",
                unit="s",
                description="Queue wait: how long an attempt waited for a worker once it was due.",
                explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
            ),
            attempts=meter.create_counter(
                "jobkit.job.attempts",
                unit="{attempt}",
                description="Attempts that ended, by outcome (jobkit.outcome).",
            ),
        )


_instruments: Instruments | None = None


def instrument(
    *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Trace enqueues (connect the `job_enqueuing` receiver) and send what both sides record to
    these providers (None: the global ones). Calling it again replaces the providers."""
    global _instruments
    _instruments = Instruments.create(tracer_provider, meter_provider)
    signals.job_enqueuing.connect(on_enqueuing, dispatch_uid=_DISPATCH_UID)


def uninstrument() -> None:
    """Stop tracing enqueues; the middleware goes back to the global providers."""
    global _instruments
    signals.job_enqueuing.disconnect(dispatch_uid=_DISPATCH_UID)
    _instruments = None


def instrumented() -> bool:
    """Whether `instrument()` was called (and not undone)."""
    return _instruments is not None


def instruments() -> Instruments:
    """The instruments in use; the global providers' when `instrument()` was never called."""
    global _instruments
    if _instruments is None:
        _instruments = Instruments.create(None, None)
    return _instruments


def on_enqueuing(sender: Any, *, request: JobRequest, **kwargs: Any) -> None:
    """The producer side: a PRODUCER span for a new job, its context written into the request's
    headers; an attempt that carries a context already (a retry, a deferral) keeps it, and
    no span is made for it."""
    headers = dict(request.headers or {})  # a new dict: a retry shares its earlier one's
    if carried_context(headers) is None:
        span = instruments().tracer.start_span(
            f"enqueue {request.job_class}",
            kind=trace.SpanKind.PRODUCER,
            attributes=job_attributes(request, "create", "enqueue"),
        )
        propagate.inject(headers, context=trace.set_span_in_context(span))
        span.end()
    if request.start_at is not None:
        headers[DUE_HEADER] = request.start_at.isoformat()
    else:
        headers.pop(DUE_HEADER, None)  # a retry without a delay is due when it is written
    request.headers = headers or None


class OpenTelemetryMiddleware:
    """The consumer side: a CONSUMER span around the attempt, the queue wait and the outcome.

    The span links to the producer's context from the headers, as the messaging conventions
    ask, and is its child too unless a span is already current (another instrumentation's,
    e.g. Celery's), so that a plain setup shows enqueue and every attempt in one trace.
    """

    def __init__(self, run_job: RunJob) -> None:
        self.run_job = run_job

    def __call__(self, job_process: JobProcess) -> Any:
        found = instruments()
        producer = carried_context(job_process.headers or {})
        links, parent = None, None
        if producer is not None:
            links = [trace.Link(trace.get_current_span(producer).get_span_context())]
            if not trace.get_current_span().get_span_context().is_valid:
                parent = producer
        measured = metric_attributes(job_process)
        found.wait_time.record(queue_wait(job_process), measured)
        outcome = INTERRUPTED
        with found.tracer.start_as_current_span(
            f"run {job_process.job_class}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes=job_attributes(job_process, "process", "run"),
            links=links,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                value = self.run_job(job_process)
            except DeferJob:
                outcome = DEFERRED
                raise
            except Exception as exc:
                outcome = ERRORED
                failed(span, exc)
                raise
            except BaseException as exc:
                failed(span, exc)
                raise
            else:
                outcome = SUCCESSFUL
                return value
            finally:
                span.set_attribute("jobkit.outcome", outcome)
                found.attempts.add(1, {**measured, "jobkit.outcome": outcome})


def failed(span: trace.Span, exc: BaseException) -> None:
    """Mark the span as failed by `exc`, with its class's dotted path as `error.type`."""
    span.record_exception(exc)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
    span.set_attribute("error.type", f"{type(exc).__module__}.{type(exc).__qualname__}")


def carried_context(headers: Mapping[str, Any]) -> Context | None:
    """The trace context written into these headers, or None when they hold no valid one."""
    if not headers:
        return None
    context = propagate.extract(headers)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def queue_wait(job_process: JobProcess) -> float:
    """Seconds from when the attempt was due (its delay's end, else its enqueue) to its start;
    never negative (an admin's "run now" starts a delayed job before its due time)."""
    due = due_at(job_process.headers or {}) or job_process.created_at
    return max(0.0, (job_process.started_at - due).total_seconds())


def due_at(headers: Mapping[str, Any]) -> datetime | None:
    """When a delayed attempt was due, from its headers; None for one that was not delayed."""
    value = headers.get(DUE_HEADER)
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


def job_attributes(job: JobFields, operation_type: str, operation_name: str) -> dict[str, Any]:
    """A span's attributes: the messaging conventions' where they fit, jobkit's own after."""
    return {
        "messaging.system": SYSTEM,
        "messaging.operation.type": operation_type,
        "messaging.operation.name": operation_name,
        "messaging.destination.name": job.queue,
        "messaging.message.id": str(job.job_request_uuid),
        "messaging.message.conversation_id": str(job.root_uuid),
        "jobkit.job_class": job.job_class,
        "jobkit.attempt": job.retry_attempt + 1,
    }


def metric_attributes(job: JobFields) -> dict[str, Any]:
    """The metrics' attributes: few values each (no uuids, no attempt numbers)."""
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": job.queue,
        "jobkit.job_class": job.job_class,
    }
