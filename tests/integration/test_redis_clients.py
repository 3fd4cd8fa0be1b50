"""kombu's Redis channels keep one redis-py client (`_compat.kombu.redis_clients`), against a real
redis-server: messages still flow, a replaced pool gets a new client, a restart is survived."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from kombu import Connection
from kombu.transport import redis as kombu_redis

from django_jobkit._compat.kombu import redis_clients
from django_jobkit._compat.patching import is_patched


@pytest.fixture
def channel(private_redis) -> Iterator[kombu_redis.Channel]:
    with Connection(private_redis.url) as connection:
        channel = connection.default_channel
        yield channel


def roundtrip(channel: kombu_redis.Channel, body: str) -> str:
    """Publish and consume one message on the channel's connection (its default channel)."""
    queue = channel.connection.client.SimpleQueue("jobkit-test-clients")
    try:
        queue.put(body)
        message = queue.get(timeout=5)
        message.ack()
        return message.payload
    finally:
        queue.close()


def test_installed_by_the_app_and_one_client_serves_every_command(channel) -> None:
    assert is_patched(kombu_redis.Channel, "_create_client")
    first = channel._create_client()
    assert channel._create_client() is first
    assert roundtrip(channel, "hello") == "hello"
    assert channel._create_client() is first
    # The consumer's asynchronous client is kombu's own, not the shared one.
    assert channel._create_client(asynchronous=True) is not first


def test_a_replaced_pool_gets_a_new_client(channel) -> None:
    first = channel._create_client()
    channel._disconnect_pools()  # what kombu does after a connection error
    second = channel._create_client()
    assert second is not first
    assert second.connection_pool is channel.pool
    assert roundtrip(channel, "after reset") == "after reset"


def test_survives_a_server_restart(channel, private_redis) -> None:
    assert roundtrip(channel, "before") == "before"
    private_redis.stop()
    private_redis.start()
    # The shared client holds no connection of its own: after the restart its commands get
    # fresh connections from the pool (redis-py reconnects), as kombu's one-off clients do.
    client = channel._create_client()
    assert client.ping()
    assert channel._create_client() is client
    client.set("jobkit-test-key", "after restart")
    assert client.get("jobkit-test-key") == b"after restart"


def test_uninstall_gives_kombu_back_its_own_method(private_redis) -> None:
    redis_clients.uninstall()
    try:
        assert not is_patched(kombu_redis.Channel, "_create_client")
        with Connection(private_redis.url) as connection:
            channel = connection.channel()
            assert channel._create_client() is not channel._create_client()
    finally:
        assert redis_clients.install()
    assert redis_clients.install()  # installing twice wraps once
    # Wrapped once: what the patch wraps is kombu's own method.
    assert not hasattr(kombu_redis.Channel._create_client.__wrapped__, "__wrapped__")


def test_a_channel_closed_after_its_connection_raises_a_connection_error(private_redis) -> None:
    """Closing a channel after a broker restart, kombu restores unacked messages and needs a
    client: with the connection already gone that is a connection error (recoverable), not
    the AttributeError that stopped workers."""
    connection = Connection(private_redis.url)
    channel = connection.channel()
    channel._disconnect_pools()
    channel.connection.client = None  # what kombu's collect() leaves behind
    with pytest.raises(redis.ConnectionError):
        channel._create_client()
