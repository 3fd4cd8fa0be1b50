"""OpenTelemetry in a real worker: the producer span at enqueue, a consumer span per attempt
related to it across the broker, delays and retries; the queue wait and the outcomes."""

from __future__ import annotations

import pytest
from django.test import override_settings
from opentelemetry.trace import SpanKind, StatusCode

from django_jobkit.contrib import otel
from django_jobkit.models import JobResult
from tests.jobs import DeferringJob, FailingJob, FailOnceJob, NoopJob
from tests.telemetry import OTEL_MIDDLEWARE, telemetry_fixture, traceparent  # noqa: F401

pytestmark = pytest.mark.worker


def seconds(later, earlier) -> float:
    return (later - earlier).total_seconds()


def test_a_job_is_traced_from_enqueue_to_its_run_in_the_worker(
    start_inprocess_worker, fresh_queue, telemetry
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    view = telemetry.tracer_provider.get_tracer("tests")
    with override_settings(JOBKIT_MIDDLEWARE=[OTEL_MIDDLEWARE]):
        with view.start_as_current_span("GET /welcome"):
            request = NoopJob("value", queue=queue).run_in_worker()
        result = request.wait(timeout=30)
        failed = FailingJob("boom").run_in_worker(queue=queue).wait(timeout=30)

    assert result.status == JobResult.Status.SUCCESSFUL and result.return_value == "value"
    (web,) = telemetry.spans("GET /welcome")
    (producer,) = telemetry.spans("enqueue tests.jobs.NoopJob")
    (consumer,) = telemetry.spans("run tests.jobs.NoopJob")

    # The producer span belongs to the code that enqueued; its context rode on the row.
    assert producer.kind == SpanKind.PRODUCER
    assert producer.parent is not None and producer.parent.span_id == web.context.span_id
    assert request.headers["traceparent"] == traceparent(producer)
    assert result.headers["traceparent"] == traceparent(producer)
    assert dict(producer.attributes) == {
        "messaging.system": "jobkit",
        "messaging.operation.type": "create",
        "messaging.operation.name": "enqueue",
        "messaging.destination.name": queue,
        "messaging.message.id": str(request.job_request_uuid),
        "messaging.message.conversation_id": str(request.job_request_uuid),
        "jobkit.job_class": "tests.jobs.NoopJob",
        "jobkit.attempt": 1,
    }

    # The consumer span: a child of the producer span and linked to it, in the same trace.
    assert consumer.kind == SpanKind.CONSUMER
    assert consumer.context.trace_id == web.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]
    assert dict(consumer.attributes) == {
        **producer.attributes,
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "jobkit.outcome": "SUCCESSFUL",
    }
    assert consumer.status.status_code == StatusCode.UNSET
    assert consumer.start_time >= producer.end_time

    (failing,) = telemetry.spans("run tests.jobs.FailingJob")
    assert failed.status == JobResult.Status.ERRORED
    assert failing.attributes["jobkit.outcome"] == "ERRORED"
    assert failing.attributes["error.type"] == "builtins.RuntimeError"
    assert failing.status.status_code == StatusCode.ERROR
    assert failing.status.description == "RuntimeError: boom"
    assert [event.name for event in failing.events] == ["exception"]

    assert telemetry.counts() == {
        ("tests.jobs.NoopJob", "SUCCESSFUL"): 1,
        ("tests.jobs.FailingJob", "ERRORED"): 1,
    }
    waits = {p.attributes["jobkit.job_class"]: p for p in telemetry.points("jobkit.job.wait_time")}
    assert set(waits) == {"tests.jobs.NoopJob", "tests.jobs.FailingJob"}
    for point in waits.values():
        assert point.count == 1 and 0 <= point.sum < 30
        assert point.attributes["messaging.destination.name"] == queue


def test_a_delayed_job_waits_from_its_start_time_not_from_its_enqueue(
    start_inprocess_worker, fresh_queue, telemetry
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    with override_settings(JOBKIT_MIDDLEWARE=[OTEL_MIDDLEWARE]):
        request = NoopJob("later", queue=queue).run_in_worker(delay=1)
        result = request.wait(timeout=30)

    assert result.status == JobResult.Status.SUCCESSFUL
    assert request.headers[otel.DUE_HEADER] == request.start_at.isoformat()
    (producer,) = telemetry.spans("enqueue tests.jobs.NoopJob")
    (consumer,) = telemetry.spans("run tests.jobs.NoopJob")
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert seconds(result.started_at, result.created_at) >= 0.9  # the delay

    (wait,) = telemetry.points("jobkit.job.wait_time")
    # Counted from the start time: the result's start comes a moment after the claim.
    assert wait.count == 1
    assert 0 <= wait.sum <= seconds(result.started_at, request.start_at)
    assert wait.sum < seconds(result.started_at, result.created_at) - 0.5


def test_every_attempt_of_a_retried_job_relates_to_the_first_enqueue(
    start_inprocess_worker, fresh_queue, telemetry
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    with override_settings(JOBKIT_MIDDLEWARE=[OTEL_MIDDLEWARE]):
        retried = FailOnceJob().run_in_worker(queue=queue)
        last = retried.wait(timeout=30)
        backing_off = FailingJob("again", retries=1, delay=1).run_in_worker(queue=queue)
        gave_up = backing_off.wait(timeout=30)
        deferred = DeferringJob(times=1).run_in_worker(queue=queue)
        done = deferred.wait(timeout=30)

    assert last.status == JobResult.Status.SUCCESSFUL and last.retry_attempt == 1
    assert gave_up.status == JobResult.Status.ERRORED and gave_up.retry_attempt == 1
    assert done.status == JobResult.Status.SUCCESSFUL and done.retry_attempt == 0

    for job_class, request, numbers, outcomes in [
        ("tests.jobs.FailOnceJob", retried, [1, 2], ["ERRORED", "SUCCESSFUL"]),
        ("tests.jobs.FailingJob", backing_off, [1, 2], ["ERRORED", "ERRORED"]),
        # A deferral that uses up no retry runs the same attempt again.
        ("tests.jobs.DeferringJob", deferred, [1, 1], ["DEFERRED", "SUCCESSFUL"]),
    ]:
        # One producer span for the chain: later attempts keep the first enqueue's context.
        (producer,) = telemetry.spans(f"enqueue {job_class}")
        runs = telemetry.spans(f"run {job_class}")
        attempts = list(
            JobResult.objects.filter(root_uuid=request.job_request_uuid).order_by("ended_at")
        )
        assert [a.headers["traceparent"] for a in attempts] == [traceparent(producer)] * 2
        assert [run.attributes["jobkit.attempt"] for run in runs] == numbers
        assert [run.attributes["jobkit.outcome"] for run in runs] == outcomes
        assert [run.attributes["messaging.message.id"] for run in runs] == [
            str(a.job_request_uuid) for a in attempts
        ]
        for run in runs:
            assert run.parent is not None and run.parent.span_id == producer.context.span_id
            assert [link.context.span_id for link in run.links] == [producer.context.span_id]
            assert run.attributes["messaging.message.conversation_id"] == str(
                request.job_request_uuid
            )

    # The delayed retry's wait counts from its own start time, not from the first enqueue.
    first, retry = JobResult.objects.filter(root_uuid=backing_off.job_request_uuid).order_by(
        "retry_attempt"
    )
    assert otel.DUE_HEADER not in first.headers
    assert otel.due_at(retry.headers) is not None
    assert seconds(otel.due_at(retry.headers), first.ended_at) >= 1

    assert telemetry.counts() == {
        ("tests.jobs.FailOnceJob", "ERRORED"): 1,
        ("tests.jobs.FailOnceJob", "SUCCESSFUL"): 1,
        ("tests.jobs.FailingJob", "ERRORED"): 2,
        ("tests.jobs.DeferringJob", "DEFERRED"): 1,
        ("tests.jobs.DeferringJob", "SUCCESSFUL"): 1,
    }
    waits = {p.attributes["jobkit.job_class"]: p for p in telemetry.points("jobkit.job.wait_time")}
    assert {job_class: p.count for job_class, p in waits.items()} == {
        "tests.jobs.FailOnceJob": 2,
        "tests.jobs.FailingJob": 2,
        "tests.jobs.DeferringJob": 2,
    }
    assert waits["tests.jobs.FailingJob"].sum < 1  # the retry's 1 s delay is no queue wait
