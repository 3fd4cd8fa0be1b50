"""run_in_worker options: delays, priorities on each broker, and refused values."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from django_jobkit.enqueue.routing import broker_level
from django_jobkit.enqueue.service import start_time
from django_jobkit.exceptions import InvalidJobOption


def test_delay_in_seconds_timedelta_or_aware_datetime():
    before = timezone.now()
    assert start_time(None) is None
    assert start_time(0) is None
    assert before + dt.timedelta(seconds=2) <= start_time(2) <= timezone.now() + dt.timedelta(2)
    assert start_time(dt.timedelta(minutes=1)) >= before + dt.timedelta(minutes=1)
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert start_time(when) == when


@pytest.mark.parametrize(
    ("delay", "error", "text"),
    [
        (dt.datetime(2030, 1, 1), InvalidJobOption, "naive datetime"),
        (-1, InvalidJobOption, "negative"),
        (float("nan"), InvalidJobOption, "nan"),
        ("60", TypeError, "'60' has type str"),
        (True, TypeError, "True has type bool"),
    ],
)
def test_bad_delays_are_refused_naming_the_value(delay, error, text):
    with pytest.raises(error, match=text):
        start_time(delay)


def test_priority_levels_keep_order_and_keep_zero_apart():
    priorities = range(-20, 21)
    levels = [broker_level(p) for p in priorities]
    assert levels == sorted(levels)  # never inverts
    assert min(levels) == 0 and max(levels) == 9
    assert broker_level(-1) < broker_level(0) < broker_level(1)
    assert (
        broker_level(-10) < broker_level(-5) < broker_level(0) < broker_level(5) < broker_level(10)
    )


@pytest.mark.parametrize(
    ("url", "urgent", "default"),
    [
        ("redis://127.0.0.1:6379/0", 0, 5),  # Redis runs the lowest number first
        ("amqp://guest@127.0.0.1//", 9, 4),  # RabbitMQ the highest
        ("filesystem://", None, None),  # cannot order: send none
    ],
)
def test_broker_priority_per_transport(url, urgent, default):
    from celery import Celery

    from django_jobkit.enqueue.routing import broker_priority, route

    app = Celery(set_as_current=False)
    app.conf.update(broker_url=url, broker_write_url=url)  # as written, whatever the environment
    assert broker_priority(10, app) == urgent
    assert broker_priority(0, app) == default
    assert ("priority" in route("q", 0, app)) is (default is not None)
