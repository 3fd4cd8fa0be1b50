"""jobkit's messages skip kombu's Redis ack emulation (`_compat.kombu.redis_acks`), against a
real redis-server: no unacked copy while delivered, and still put back on close and requeue;
other tasks' messages keep kombu's copy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import redis as kombu_redis

from django_jobkit._compat.kombu import redis_acks
from django_jobkit._compat.patching import is_patched
from django_jobkit.registry import is_job_task, name_for
from tests.jobs import NoopJob

QUEUE = "jobkit-test-acks"
JOB_TASK = name_for(NoopJob)
OTHER_TASK = "tests.some_plain_celery_task"


@pytest.fixture
def connection(private_redis) -> Iterator[Connection]:
    with Connection(private_redis.url) as connection:
        yield connection


def take(connection: Connection, task: str, body: str) -> tuple[Any, Any]:
    """Publish one message of `task` and take it without acking: (message, its queue)."""
    queue = connection.SimpleQueue(QUEUE)
    queue.put(body, headers={"task": task})
    return queue.get(timeout=5), queue


def unacked(connection: Connection) -> dict[bytes, bytes]:
    channel = connection.default_channel
    return channel.client.hgetall(channel.unacked_key)


def waiting(connection: Connection) -> int:
    return connection.default_channel.client.llen(QUEUE)


def test_installed_by_the_app() -> None:
    for name in ("append", "ack", "reject", "restore_unacked"):
        assert is_patched(kombu_redis.QoS, name)


def test_job_messages_are_told_by_task_name_aliases_included() -> None:
    assert is_job_task(JOB_TASK)
    assert is_job_task("legacy.jobs.RenamedJob")  # an alias of tests.jobs.RenamedJob
    assert not is_job_task(OTHER_TASK)
    assert not is_job_task("django_jobkit.sweep")  # jobkit's own tasks keep kombu's copy
    assert not is_job_task(None)


def test_a_job_message_has_no_unacked_copy_and_acks_locally(connection) -> None:
    message, queue = take(connection, JOB_TASK, "job")
    assert message.payload == "job"
    assert unacked(connection) == {}
    # Still counted in flight, so kombu's prefetch limit holds.
    assert message.delivery_tag in connection.default_channel.qos._delivered
    message.ack()
    assert unacked(connection) == {}
    assert waiting(connection) == 0
    queue.close()


def test_other_tasks_keep_kombus_emulation(connection) -> None:
    message, queue = take(connection, OTHER_TASK, "plain")
    assert list(unacked(connection)) == [message.delivery_tag.encode()]
    message.ack()
    assert unacked(connection) == {}
    queue.close()


def test_a_job_message_not_acked_goes_back_when_the_channel_closes(private_redis) -> None:
    with Connection(private_redis.url) as first:
        _, queue = take(first, JOB_TASK, "again")
        take(first, OTHER_TASK, "plain again")
        queue.close()
        first.default_channel.close()  # a warm shutdown closes its channels like this
    with Connection(private_redis.url) as second:
        assert waiting(second) == 2  # kombu's copy and jobkit's message are both back
        queue = second.SimpleQueue(QUEUE)
        bodies = set()
        for _ in range(2):
            again = queue.get(timeout=5)
            bodies.add(again.payload)
            if again.payload == "again":
                assert again.delivery_info.get("redelivered") or again.headers.get("redelivered")
            again.ack()
        assert bodies == {"again", "plain again"}
        assert unacked(second) == {}
        queue.close()


def test_a_job_message_rejected_for_requeue_goes_back(connection) -> None:
    message, queue = take(connection, JOB_TASK, "requeued")
    message.reject(requeue=True)
    assert unacked(connection) == {}
    again = queue.get(timeout=5)
    assert again.payload == "requeued"
    again.ack()
    assert waiting(connection) == 0
    queue.close()


def test_a_job_message_rejected_without_requeue_is_dropped(connection) -> None:
    message, queue = take(connection, JOB_TASK, "dropped")
    message.reject()
    assert waiting(connection) == 0
    assert unacked(connection) == {}
    queue.close()


def test_uninstall_gives_kombu_back_its_emulation(connection) -> None:
    redis_acks.uninstall()
    try:
        message, queue = take(connection, JOB_TASK, "emulated")
        assert list(unacked(connection)) == [message.delivery_tag.encode()]
        message.ack()
        queue.close()
    finally:
        assert redis_acks.install()
    assert redis_acks.install()  # installing twice wraps once
    assert not hasattr(kombu_redis.QoS.append.__wrapped__, "__wrapped__")
