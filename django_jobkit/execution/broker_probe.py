"""Asking the broker what it still holds, so that messages it lost are re-sent early.

A request marked sent whose message is gone (a Redis restarted without persistence, a purged
queue, a worker killed with messages it had fetched) would otherwise wait `JOBKIT_RESEND_AFTER`
for its re-send. Two questions tell the sweeper sooner, each one cheap broker round trip:

- when did the broker start? Redis reports its uptime (`INFO server`): a message sent before
  the running instance started went to an instance that is gone. RabbitMQ and the filesystem
  transport keep their messages across restarts and have no such answer (None).
- how many messages wait in a queue? (a passive `queue_declare`, on every broker). An empty
  queue cannot deliver the requests that wait as sent to it, unless a worker fetched their
  messages and has not started them yet: re-sending those costs a message, never a second run,
  because the claim still lets exactly one delivery run the job.

Any error answers None ("unknown"), and the sweeper then does nothing early.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..enqueue.routing import broker_kind

logger = logging.getLogger("django_jobkit.sweeper")


@contextmanager
def _connection(app: Any) -> Iterator[Any]:
    connection = app.pool.acquire(block=True)
    try:
        yield connection
    except Exception:
        # Back to the pool closed, not with a socket the broker hung up on.
        connection.collect()
        raise
    finally:
        connection.release()


def started_at(app: Any) -> datetime | None:
    """The latest time the broker instance now running can have started, where the broker
    says (Redis); a message sent before it went to an instance that is gone.

    Redis counts its uptime in whole seconds of its clock, whose current microsecond it also
    reports: the server started within the second that ended `uptime + fraction - 1` seconds
    ago. Erring late means a message sent in a new server's first second may be sent twice
    (the claim runs it once), never that a lost one is missed.
    """
    if broker_kind(app) != "redis":
        return None
    try:
        with _connection(app) as connection:
            info = connection.default_channel.client.info("server")
        elapsed = float(info["uptime_in_seconds"])
        if "server_time_usec" in info:  # Redis 5 and later
            elapsed += int(info["server_time_usec"]) % 1_000_000 / 1_000_000
    except Exception:
        logger.debug("could not ask the broker for its uptime", exc_info=True)
        return None
    return timezone.now() - timedelta(seconds=elapsed - 1)


def queue_sizes(app: Any, queues: Iterable[str]) -> dict[str, int | None]:
    """Messages ready in each queue (not those fetched by workers); None where unknown.

    A queue the broker does not know holds nothing: 0.
    """
    names = list(queues)
    sizes: dict[str, int | None] = {}
    own_channel = broker_kind(app) == "amqp"
    try:
        with _connection(app) as connection:
            for queue in names:
                sizes[queue] = _size(connection, queue, own_channel)
    except Exception:
        logger.debug("could not ask the broker for queue sizes", exc_info=True)
    return {queue: sizes.get(queue) for queue in names}


def _size(connection: Any, queue: str, own_channel: bool) -> int:
    # RabbitMQ closes a channel on which a passive declare fails: one channel per question
    # there. kombu's virtual transports raise without closing, and a new Redis channel would
    # open a new connection: they share the connection's default channel.
    channel = connection.channel() if own_channel else connection.default_channel
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except connection.channel_errors:
        return 0  # no such queue: nothing waits in it
    finally:
        if own_channel:
            channel.close()
