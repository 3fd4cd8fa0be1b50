"""Broker outages against real workers and brokers: nothing committed is lost or run twice.

A broker that a test stops is a private one on its own loopback ports (a redis-server, a
RabbitMQ node), so stopping it disturbs nothing else. The Redis server keeps nothing on disk,
so a restart loses every message and only the database can bring the jobs back; RabbitMQ keeps
durable queues and persistent messages, so the jobs come back twice, from both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kombu
import pytest
from django.test import override_settings

from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobRequest, JobResult
from tests.conftest import broker_kind, publishing_to, wait_for
from tests.jobs import NoopJob, RecordStartJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status


def sweep_until(done: Callable[[], Any], timeout: float = 60, what: str = "all jobs") -> None:
    """Run the sweeper (as beat would, every second here) until `done()` holds."""

    def swept() -> Any:
        Sweeper().sweep()
        return done()

    wait_for(swept, timeout, what)


def exactly_once(requests: list[JobRequest]) -> bool:
    """Each request has exactly one result, and nothing is left waiting or running."""
    uuids = [r.job_request_uuid for r in requests]
    counts = list(
        JobResult.objects.filter(job_request_uuid__in=uuids).values_list("status", flat=True)
    )
    return len(counts) == len(uuids) and set(counts) <= {S.SUCCESSFUL}


def test_broker_down_at_commit_keeps_the_row_and_the_sweeper_sends_it(
    start_worker_process, private_redis, celery_app, caplog
):
    worker = start_worker_process(env={"CELERY_BROKER_URL": private_redis.url}, concurrency=2)
    with publishing_to(celery_app, private_redis.url):
        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="django_jobkit.publish"):
            request = NoopJob("outbox").run_in_worker()  # does not raise into the view
        assert request is not None
        assert "will be sent again" in caplog.text
        row = JobRequest.objects.get(pk=request.pk)
        assert row.sent_at is None  # marked unsent for the sweeper
        private_redis.start()
        sweep_until(lambda: JobResult.objects.filter(job_request_uuid=request.uuid).exists())
    assert request.wait(timeout=1).return_value == "outbox"
    assert worker.proc.poll() is None


def test_redis_stopped_during_a_burst_then_restarted(
    start_worker_process, private_redis, celery_app
):
    worker = start_worker_process(env={"CELERY_BROKER_URL": private_redis.url}, concurrency=2)
    requests: list[JobRequest] = []
    with publishing_to(celery_app, private_redis.url), override_settings(JOBKIT_RESEND_AFTER=3):
        requests += [NoopJob(i).run_in_worker() for i in range(20)]
        private_redis.stop()
        requests += [NoopJob(i).run_in_worker() for i in range(20, 26)]
        private_redis.start()
        requests += [NoopJob(i).run_in_worker() for i in range(26, 40)]
        sweep_until(lambda: exactly_once(requests), 90, "every job to run once")
    # The worker that was running before the outage reconnected and went on consuming.
    assert worker.proc.poll() is None
    after = JobResult.objects.filter(job_request_uuid__in=[r.uuid for r in requests[26:]])
    assert {r.worker_name.split("@")[0] for r in after} == {worker.name.split("@")[0]}


def test_delayed_jobs_survive_a_broker_restart_and_a_worker_restart(
    start_worker_process, private_redis, celery_app
):
    env = {"CELERY_BROKER_URL": private_redis.url}
    worker = start_worker_process(env=env)
    with (
        publishing_to(celery_app, private_redis.url),
        override_settings(JOBKIT_DELAY_HORIZON=2, JOBKIT_RESEND_AFTER=3),
    ):
        held_by_broker = RecordStartJob("eta").run_in_worker(delay=1.5)  # an ETA message
        held_in_db = RecordStartJob("db").run_in_worker(delay=6)  # waits in the database
        assert JobRequest.objects.get(pk=held_in_db.pk).sent_at is None
        worker.stop()
        private_redis.stop()
        private_redis.start()
        start_worker_process(env=env)
        sweep_until(lambda: exactly_once([held_by_broker, held_in_db]), 60)
    for request in (held_by_broker, held_in_db):
        result = JobResult.objects.get(job_request_uuid=request.uuid)
        assert result.started_at >= request.start_at  # never early


def test_two_workers_competing_for_one_queue_run_each_job_once(start_worker_process):
    first = start_worker_process(concurrency=2)
    second = start_worker_process(concurrency=2)
    requests = [NoopJob(i).run_in_worker() for i in range(200)]
    wait_for(lambda: exactly_once(requests), 90, "200 jobs")
    workers = set(JobResult.objects.values_list("worker_name", flat=True))
    assert len(workers) == 2, workers
    assert first.proc.poll() is None and second.proc.poll() is None


def waiting_in(url: str, queue: str) -> int:
    """How many messages a RabbitMQ queue holds (asked passively: nothing is declared)."""
    with kombu.Connection(url) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


# Its private node takes 15-30 s to boot and restart on a 2-core machine, and what it tests is
# the broker's, the same on every database: once per CI run, in the RabbitMQ combination.
@pytest.mark.skipif(broker_kind() != "amqp", reason="runs in the RabbitMQ combination only")
def test_rabbitmq_restarted_with_jobs_waiting(start_worker_process, private_rabbitmq, celery_app):
    with publishing_to(celery_app, private_rabbitmq.url):
        requests = [NoopJob(i).run_in_worker() for i in range(30)]
        wait_for(lambda: waiting_in(private_rabbitmq.url, "default") == 30, 20, "30 messages")
        private_rabbitmq.restart_app()
        # Unlike Redis here, RabbitMQ keeps them: the queue is durable, the messages persistent.
        assert waiting_in(private_rabbitmq.url, "default") == 30
        worker = start_worker_process(
            env={"CELERY_BROKER_URL": private_rabbitmq.url}, concurrency=2
        )
        with override_settings(JOBKIT_RESEND_AFTER=3):
            # The sweeper also sends again whatever has not run after 3 s: those copies are
            # duplicates of the kept messages, and none of them may run a job a second time.
            sweep_until(lambda: exactly_once(requests), 90, "every job to run once")
    assert worker.proc.poll() is None
