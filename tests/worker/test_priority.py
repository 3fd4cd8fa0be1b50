"""Priorities, as the broker orders them: higher first, first come first served within one."""

from __future__ import annotations

import pytest

from django_jobkit.enqueue.routing import broker_kind
from django_jobkit.models import JobResult
from tests.jobs import RecordStartJob

pytestmark = pytest.mark.worker


def test_higher_priority_jobs_start_first_and_equal_ones_in_order(
    celery_app, start_worker_process, fresh_queue
):
    if broker_kind(celery_app) == "filesystem":
        pytest.skip("kombu's filesystem transport cannot order messages by priority")
    queue = fresh_queue()  # declared by nobody yet: the first publish must declare it
    low = [RecordStartJob(f"low-{i}", queue=queue, priority=0).run_in_worker() for i in range(5)]
    high = [RecordStartJob(f"high-{i}", queue=queue, priority=10).run_in_worker() for i in range(5)]
    assert {r.priority for r in low} == {0} and {r.priority for r in high} == {10}

    # Nothing was dropped on the way: all ten messages wait in the broker's queue, which
    # RabbitMQ declared on the first publish with x-max-priority (a redeclaration with other
    # arguments would be refused).
    with celery_app.connection_for_write() as conn:
        assert conn.default_channel.queue_declare(queue, passive=True).message_count == 10
        if broker_kind(celery_app) == "amqp":
            conn.default_channel.queue_declare(
                queue, durable=True, auto_delete=False, arguments={"x-max-priority": 10}
            )

    start_worker_process(queues=[queue], concurrency=1)
    results = [request.wait(timeout=30) for request in low + high]

    assert {r.status for r in results} == {JobResult.Status.SUCCESSFUL}
    in_start_order = sorted(results, key=lambda r: r.return_value["started"])
    assert [r.return_value["tag"] for r in in_start_order] == [
        *(f"high-{i}" for i in range(5)),
        *(f"low-{i}" for i in range(5)),
    ]
    assert sorted(results, key=lambda r: r.started_at) == in_start_order
    assert len({r.return_value["pid"] for r in results}) == 1  # one child ran them one by one
