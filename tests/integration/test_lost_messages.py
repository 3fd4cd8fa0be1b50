"""Messages the broker no longer holds are re-sent within a sweep or two, not after
JOBKIT_RESEND_AFTER: an emptied queue (every broker), a restarted Redis (its uptime)."""

from __future__ import annotations

import datetime as dt
import os
import socket

import pytest
from django.utils import timezone

from django_jobkit.execution import broker_probe
from django_jobkit.execution.sweep_turns import TURN
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobLock, JobRequest, JobWorker
from tests.conftest import publishing_to, wait_for
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


def purge(app, queue: str) -> None:
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def uptime(app) -> int:
    with app.connection_for_write() as connection:
        return int(connection.default_channel.client.info("server")["uptime_in_seconds"])


def sent_long_ago(request: JobRequest, seconds: float = 20) -> None:
    """As if sent `seconds` ago: past JOBKIT_MISSING_MESSAGE_AFTER (15 s), far from RESEND_AFTER."""
    JobRequest.objects.filter(pk=request.pk).update(
        sent_at=timezone.now() - dt.timedelta(seconds=seconds)
    )


def consumed(queue: str) -> None:
    """A live worker consumes `queue` (as its heartbeat row says)."""
    JobWorker.objects.beat(socket.gethostname(), os.getpid(), "w1@test", [queue])


def test_a_request_whose_queue_was_emptied_is_sent_again(celery_app, fresh_queue):
    queue = fresh_queue()
    consumed(queue)
    request = NoopJob(queue=queue).run_in_worker()
    assert broker_probe.queue_sizes(celery_app, [queue]) == {queue: 1}
    sent_long_ago(request)
    assert Sweeper().sweep().sent == 0  # its message is still in the queue
    purge(celery_app, queue)
    assert broker_probe.queue_sizes(celery_app, [queue]) == {queue: 0}
    assert Sweeper().sweep().sent == 1
    assert broker_probe.queue_sizes(celery_app, [queue]) == {queue: 1}
    assert Sweeper().sweep().sent == 0  # sent just now: given its time again


def test_a_request_sent_moments_ago_is_left_alone_even_if_its_queue_is_empty(
    celery_app, fresh_queue
):
    queue = fresh_queue()
    consumed(queue)
    request = NoopJob(queue=queue).run_in_worker()
    purge(celery_app, queue)  # e.g. a worker fetched it and is about to claim it
    sent_long_ago(request, seconds=2)
    assert Sweeper().sweep().sent == 0


def test_a_delayed_request_not_yet_due_is_left_alone_in_an_empty_queue(celery_app, fresh_queue):
    queue = fresh_queue()
    consumed(queue)
    request = NoopJob(queue=queue).run_in_worker(delay=30)  # an ETA message, which a worker
    purge(celery_app, queue)  # holds in its memory once fetched: the queue is empty
    sent_long_ago(request)
    assert Sweeper().sweep().sent == 0


def test_an_empty_queue_that_no_live_worker_consumes_is_not_looked_at(celery_app, fresh_queue):
    queue = fresh_queue()
    request = NoopJob(queue=queue).run_in_worker()
    purge(celery_app, queue)
    sent_long_ago(request)
    assert Sweeper().sweep().sent == 0  # sent again, it would wait there as the lost one did
    consumed(queue)
    assert Sweeper().sweep().sent == 1


def test_a_queue_the_broker_does_not_know_holds_nothing(celery_app, fresh_queue):
    queue = fresh_queue()
    assert broker_probe.queue_sizes(celery_app, [queue]) == {queue: 0}


def test_messages_sent_before_redis_restarted_are_sent_again_at_once(
    private_redis, celery_app, fresh_queue
):
    queue = fresh_queue()
    with publishing_to(celery_app, private_redis.url):
        # Redis counts its uptime in whole seconds: a message sent in a server's first second
        # may be taken for one sent before it started and sent again (harmless: the claim
        # runs it once), which this test keeps out of the way.
        wait_for(lambda: uptime(celery_app) >= 2, 10, "Redis to be up for 2 s")
        before = broker_probe.started_at(celery_app)
        assert before is not None and before < timezone.now()
        requests = [NoopJob(i, queue=queue).run_in_worker() for i in range(3)]
        assert Sweeper().sweep().sent == 0
        private_redis.stop()  # at once: messages sent in its last second are lost too
        private_redis.start()  # empty: no persistence
        wait_for(lambda: uptime(celery_app) >= 2, 10, "Redis to be up for 2 s")
        assert broker_probe.started_at(celery_app) > before
        assert Sweeper().sweep().sent == 3  # no need to wait JOBKIT_MISSING_MESSAGE_AFTER
        assert broker_probe.queue_sizes(celery_app, [queue]) == {queue: 3}
        assert Sweeper().sweep().sent == 0
    assert JobRequest.objects.filter(pk__in=[r.pk for r in requests]).count() == 3


def test_brokers_without_an_uptime_answer_none(celery_app):
    if celery_app.conf.broker_url.startswith("redis"):
        pytest.skip("Redis reports its uptime")
    assert broker_probe.started_at(celery_app) is None


def test_one_taker_per_interval():
    assert JobLock.objects.take_turn(TURN, 60) is True
    assert JobLock.objects.take_turn(TURN, 60) is False  # taken moments ago
    assert JobLock.objects.take_turn(TURN, 0) is True  # the interval has passed
    assert JobLock.objects.filter(key=TURN).count() == 1
