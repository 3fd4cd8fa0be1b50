"""`django_jobkit.contrib.otel` piece by piece, on unsaved records: no database, no broker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from opentelemetry.trace import NoOpTracerProvider, SpanKind

from django_jobkit import apps, signals
from django_jobkit.contrib import otel
from django_jobkit.models import JobProcess, JobRequest
from tests.conftest import ROOT
from tests.telemetry import OTEL_MIDDLEWARE, Telemetry, telemetry_fixture, traceparent  # noqa: F401


def request_row(**fields) -> JobRequest:
    now = timezone.now()
    request_uuid = uuid.uuid4()
    values = {
        "job_class": "tests.jobs.NoopJob",
        "queue": "default",
        "job_request_uuid": request_uuid,
        "root_uuid": request_uuid,
        "created_at": now,
        "sent_at": now,
        **fields,
    }
    return JobRequest(**values)


def process_row(**fields) -> JobProcess:
    request_uuid = uuid.uuid4()
    values = {
        "job_class": "tests.jobs.NoopJob",
        "queue": "default",
        "job_request_uuid": request_uuid,
        "root_uuid": request_uuid,
        **fields,
    }
    return JobProcess(**values)


def test_a_new_job_gets_a_producer_span_whose_context_goes_into_its_headers(telemetry):
    request = request_row(headers={"task": "kept"})
    signals.job_enqueuing.send(sender=None, job=None, request=request)

    (producer,) = telemetry.spans()
    assert producer.name == "enqueue tests.jobs.NoopJob" and producer.kind == SpanKind.PRODUCER
    assert request.headers == {"task": "kept", "traceparent": traceparent(producer)}


def test_a_retry_keeps_the_context_it_carries_and_makes_no_span(telemetry):
    first = request_row()
    signals.job_enqueuing.send(sender=None, job=None, request=first)
    carried = first.headers
    retry = request_row(
        headers=carried, retry_attempt=1, start_at=timezone.now() + timedelta(seconds=5)
    )
    signals.job_enqueuing.send(sender=None, job=None, request=retry)

    assert len(telemetry.spans()) == 1
    assert retry.headers == {**carried, otel.DUE_HEADER: retry.start_at.isoformat()}
    assert first.headers == carried and otel.DUE_HEADER not in carried  # not changed in place

    again = request_row(headers=retry.headers, retry_attempt=2)  # a retry without a delay
    signals.job_enqueuing.send(sender=None, job=None, request=again)
    assert again.headers == carried


def test_without_an_sdk_nothing_is_written():
    otel.instrument(tracer_provider=NoOpTracerProvider())
    try:
        request = request_row()
        signals.job_enqueuing.send(sender=None, job=None, request=request)
        assert request.headers is None
    finally:
        otel.uninstrument()


def test_the_queue_wait_counts_from_the_start_time_when_there_was_a_delay():
    enqueued = timezone.now()
    due = enqueued + timedelta(seconds=60)
    started = due + timedelta(seconds=2.5)
    delayed = process_row(
        created_at=enqueued, started_at=started, headers={otel.DUE_HEADER: due.isoformat()}
    )
    plain = process_row(created_at=enqueued, started_at=enqueued + timedelta(seconds=0.25))
    early = process_row(  # the admin's "run now" on a delayed job
        created_at=enqueued, started_at=enqueued, headers={otel.DUE_HEADER: due.isoformat()}
    )
    assert otel.queue_wait(delayed) == 2.5
    assert otel.queue_wait(plain) == 0.25
    assert otel.queue_wait(early) == 0
    assert otel.due_at({otel.DUE_HEADER: "not a time"}) is None
    assert otel.due_at({otel.DUE_HEADER: 12}) is None


def test_headers_without_a_valid_context_carry_none():
    assert otel.carried_context({}) is None
    assert otel.carried_context({"traceparent": "00-garbage"}) is None
    assert otel.carried_context({"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"}) is None


def test_under_a_current_span_the_consumer_span_is_its_child_and_links_to_the_producer(
    telemetry,
):
    request = request_row()
    signals.job_enqueuing.send(sender=None, job=None, request=request)
    (producer,) = telemetry.spans()
    process = process_row(
        headers=request.headers, created_at=request.created_at, started_at=timezone.now()
    )
    middleware = otel.OpenTelemetryMiddleware(lambda job_process: "done")

    with telemetry.tracer_provider.get_tracer("tests").start_as_current_span("celery run"):
        assert middleware(process) == "done"

    consumer, celery = telemetry.spans()[1:]
    assert consumer.parent is not None and consumer.parent.span_id == celery.context.span_id
    assert [link.context.span_id for link in consumer.links] == [producer.context.span_id]


def test_an_interrupted_attempt_is_counted_and_the_interruption_goes_on(telemetry):
    def stopped(job_process):
        raise SystemExit(-15)

    process = process_row(created_at=timezone.now(), started_at=timezone.now())
    with pytest.raises(SystemExit):
        otel.OpenTelemetryMiddleware(stopped)(process)

    (consumer,) = telemetry.spans()
    assert consumer.parent is None and not consumer.links  # nothing was carried
    assert consumer.attributes["jobkit.outcome"] == "INTERRUPTED"
    assert consumer.attributes["error.type"] == "builtins.SystemExit"
    assert telemetry.counts() == {("tests.jobs.NoopJob", "INTERRUPTED"): 1}


def test_configuring_the_middleware_instruments_enqueues_at_start_up():
    assert not otel.instrumented()
    with override_settings(JOBKIT_MIDDLEWARE=[OTEL_MIDDLEWARE]):
        apps.instrument_opentelemetry()
    try:
        assert otel.instrumented()
        assert signals.job_enqueuing.has_listeners()
    finally:
        otel.uninstrument()
    assert not signals.job_enqueuing.has_listeners()
    with override_settings(JOBKIT_MIDDLEWARE=["tests.middleware.OuterTag"]):
        apps.instrument_opentelemetry()
    assert not otel.instrumented()


def test_start_up_keeps_the_providers_a_project_gave(telemetry):
    own = otel.instruments()
    with override_settings(JOBKIT_MIDDLEWARE=[OTEL_MIDDLEWARE]):
        apps.instrument_opentelemetry()
    assert otel.instruments() is own


def test_jobkit_runs_without_opentelemetry_and_the_module_names_the_extra():
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        sys.modules["opentelemetry"] = None  # as if it were not installed
        import django
        django.setup()
        import django_jobkit
        for module in pkgutil.walk_packages(django_jobkit.__path__, "django_jobkit."):
            if module.name != "django_jobkit.contrib.otel":
                importlib.import_module(module.name)
        from django_jobkit.enqueue import service
        from django_jobkit.execution import middleware
        middleware.chain()
        try:
            import django_jobkit.contrib.otel
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'django-jobkit[otel]'" in done.stdout


def test_configured_without_opentelemetry_start_up_fails_naming_the_extra():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if it were not installed
        import django
        from django.conf import settings
        from tests import settings as base

        names = {name: getattr(base, name) for name in dir(base) if name.isupper()}
        names["JOBKIT_MIDDLEWARE"] = ["django_jobkit.contrib.otel.OpenTelemetryMiddleware"]
        settings.configure(**names)
        try:
            django.setup()
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'django-jobkit[otel]'" in done.stdout
