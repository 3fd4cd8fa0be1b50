"""One redis-py client per kombu channel, instead of a new one for every Redis command.

kombu's Redis transport builds a fresh `redis.Redis` for each publish, ack and queue
bookkeeping step (`Channel._create_client`), and redis-py's constructor fills a
case-insensitive table of about 170 response callbacks each time (redis/redis-py#3624): about
50 µs of Python per command, a sixth of a publish and two per job in a worker's main process.
A client is only a handle on the channel's connection pool, safe to share, so jobkit keeps
one per channel and pool; a channel whose pool is replaced (after a connection error) gets a
new one. `JOBKIT_REUSE_REDIS_CLIENTS = False` leaves kombu as it is.
"""

from __future__ import annotations

from typing import Any

from ..patching import Upstream, applies, patch_method, unpatch_method

#: Checked against kombu 5.7; outside it kombu builds a client per command again (slower).
UPSTREAM = Upstream("kombu", (5, 7), (5, 8))
#: The upstream code replaced, by digest of its source (tests/unit/test_compat.py).
REPLACES = {"kombu.transport.redis.Channel._create_client": "dae92bc4075dafb9"}

_CACHE_ATTRIBUTE = "_jobkit_client"


def install() -> bool:
    """Patch kombu's Redis channel class once; False when kombu or redis-py is missing."""
    try:
        import redis
        from kombu.transport import redis as kombu_redis
    except ImportError:  # redis-py not installed: no Redis transport to tune
        return False
    if not applies(UPSTREAM, "the kept Redis client (JOBKIT_REUSE_REDIS_CLIENTS)"):
        return False

    def make(original: Any) -> Any:
        def _create_client(self: Any, asynchronous: bool = False) -> Any:
            if asynchronous:  # the consumer's own client, which kombu already keeps
                return original(self, asynchronous=True)
            try:
                pool = self.pool
            except AttributeError as exc:
                # kombu restores unacked messages while closing a channel whose connection
                # is already gone (after a broker restart), and building a pool then fails on
                # the missing connection. As a connection error the consumer recovers (it
                # reconnects, and the messages come back by the visibility timeout); as an
                # AttributeError the worker stopped with "Unrecoverable error".
                if self.connection is None or self.connection.client is None:
                    raise redis.ConnectionError(
                        "the channel's broker connection is closed"
                    ) from exc
                raise
            client = self.__dict__.get(_CACHE_ATTRIBUTE)
            if client is None or client.connection_pool is not pool:
                client = original(self)
                self.__dict__[_CACHE_ATTRIBUTE] = client
            return client

        return _create_client

    patch_method(kombu_redis.Channel, "_create_client", make)
    return True


def uninstall() -> None:
    """Restore kombu's own method (for tests)."""
    try:
        from kombu.transport import redis as kombu_redis
    except ImportError:
        return
    unpatch_method(kombu_redis.Channel, "_create_client")
