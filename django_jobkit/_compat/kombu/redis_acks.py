"""jobkit's messages skip kombu's Redis ack emulation: the database already brings them back.

Redis has no acknowledgements, so kombu emulates them: every message a worker takes is copied
into an "unacked" hash and sorted set, and deleted from both on ack, two MULTI/EXEC round trips
in the worker's main process per message. The copy brings a message back when its worker dies
before acking it, after the visibility timeout (an hour by default). Measured on a 2-core
machine, that bookkeeping was about 40 % of the main process's CPU per no-op job and half of
Redis's.

A jobkit message needs no such copy. Its request row is the record: a request sent but not
claimed within `JOBKIT_RESEND_AFTER` (ten minutes) is sent again by the sweeper, and a second
delivery is harmless, as the claim lets one win. So the main process keeps jobkit's delivered
messages in memory only (kombu's own prefetch accounting still counts them) and, as kombu's
emulation does, puts the ones it has not acked back into their queue when the channel closes
(a warm shutdown) or when one is rejected for requeueing. A worker killed outright loses them;
the sweeper sends them again. Messages of every other task keep kombu's emulation.
`JOBKIT_SKIP_REDIS_ACK_EMULATION = False` leaves kombu as it is.
"""

from __future__ import annotations

import logging
from typing import Any

from ...registry import is_job_task
from ..patching import Upstream, applies, patch_method, unpatch_method

logger = logging.getLogger("django_jobkit.redis_acks")

#: Where a QoS keeps the delivery tags of the jobkit messages it tracks in memory only.
_LOCAL_ATTRIBUTE = "_jobkit_local_tags"

_METHODS = ("append", "ack", "reject", "restore_unacked")

#: Checked against kombu 5.7; outside it every message keeps kombu's ack emulation (slower).
UPSTREAM = Upstream("kombu", (5, 7), (5, 8))
#: The upstream code replaced or relied on, by digest of its source (tests/unit/test_compat.py).
REPLACES = {
    "kombu.transport.redis.QoS.append": "35c655f6ecc62fe6",
    "kombu.transport.redis.QoS.ack": "1bc15a4ddf541af6",
    "kombu.transport.redis.QoS.reject": "747a02434344d1a6",
    "kombu.transport.redis.QoS.restore_unacked": "8954efef014d546e",
    "kombu.transport.virtual.QoS.append": "b388f0cd6485c28a",
    "kombu.transport.virtual.QoS.ack": "0714292b916fecb2",
}


def install() -> bool:
    """Patch kombu's Redis QoS class once; False when kombu's Redis transport is missing."""
    try:
        from kombu.transport import redis as kombu_redis
        from kombu.transport import virtual
    except ImportError:  # redis-py not installed: no Redis transport
        return False
    if not applies(UPSTREAM, "the Redis ack-emulation bypass (JOBKIT_SKIP_REDIS_ACK_EMULATION)"):
        return False

    base = virtual.QoS

    def make_append(original: Any) -> Any:
        def append(self: Any, message: Any, delivery_tag: Any) -> None:
            if not is_job_message(message):
                return original(self, message, delivery_tag)
            base.append(self, message, delivery_tag)
            _local_tags(self).add(delivery_tag)

        return append

    def make_ack(original: Any) -> Any:
        def ack(self: Any, delivery_tag: Any) -> None:
            local = _local_tags(self)
            if delivery_tag not in local:
                return original(self, delivery_tag)
            local.discard(delivery_tag)
            base.ack(self, delivery_tag)

        return ack

    def make_reject(original: Any) -> Any:
        def reject(self: Any, delivery_tag: Any, requeue: bool = False) -> None:
            local = _local_tags(self)
            if delivery_tag not in local:
                return original(self, delivery_tag, requeue=requeue)
            if requeue:
                _put_back(self, [self._delivered[delivery_tag]], leftmost=True)
            local.discard(delivery_tag)
            base.ack(self, delivery_tag)

        return reject

    def make_restore_unacked(original: Any) -> Any:
        def restore_unacked(self: Any, client: Any = None) -> Any:
            local = _local_tags(self)
            if local:
                # In delivery order, as kombu restores its own.
                messages = [m for tag, m in self._delivered.items() if tag in local]
                local.clear()
                _put_back(self, messages, client=client)
                for message in messages:
                    self._delivered.pop(message.delivery_tag, None)
            return original(self, client=client)

        return restore_unacked

    makers = {
        "append": make_append,
        "ack": make_ack,
        "reject": make_reject,
        "restore_unacked": make_restore_unacked,
    }
    for name in _METHODS:
        patch_method(kombu_redis.QoS, name, makers[name])
    return True


def uninstall() -> None:
    """Restore kombu's own methods (for tests)."""
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:
        return
    for name in _METHODS:
        unpatch_method(kombu_redis.QoS, name)


def is_job_message(message: Any) -> bool:
    """A message of a registered job's task: "go look at request X", nothing else."""
    headers = message.headers or {}
    return is_job_task(headers.get("task"))


def _local_tags(qos: Any) -> set[Any]:
    tags = qos.__dict__.get(_LOCAL_ATTRIBUTE)
    if tags is None:
        tags = qos.__dict__[_LOCAL_ATTRIBUTE] = set()
    return tags


def _put_back(qos: Any, messages: list[Any], *, client: Any = None, leftmost: bool = False) -> None:
    """Push messages back onto their queues in one pipeline, as kombu restores its own copies."""
    if not messages:
        return
    channel = qos.channel
    with channel.conn_or_acquire(client) as redis_client:
        pipe = redis_client.pipeline()
        for message in messages:
            delivery = message.delivery_info
            channel._do_restore_message(
                message._raw, delivery["exchange"], delivery["routing_key"], pipe, leftmost
            )
        pipe.execute()
    logger.debug("put %d unacknowledged jobkit messages back on their queues", len(messages))
