"""jobkit's router: a job's queue and priority, expressed in each broker's own terms.

jobkit priorities are integers, higher first (10 > 0 > -10). Brokers order by a small range:
- RabbitMQ: 0..N, higher first, only on queues declared with `x-max-priority`
  (Celery declares it when `task_queue_max_priority` is set);
- Redis: 0..9, *lower* first, one list per step of `priority_steps`; the default steps
  [0, 3, 6, 9] collapse ten levels into four, and a message sent without a priority lands in
  the most urgent one — so jobkit always sends an explicit priority;
- the filesystem transport cannot order at all (messages run in arrival order).

Queue and priority are passed per message rather than as task attributes, which Celery
deprecates.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from celery import current_app

from ..exceptions import InvalidJobOption

BROKER_LEVELS = 10  # 0 (least urgent) .. 9 (most urgent)


def broker_level(priority: int) -> int:
    """Map a jobkit priority onto 0..9, giving 0 and small priorities distinct levels.

    0 → 4; ±1..2 → 5/3; ±3..4 → 6/2; ±5..6 → 7/1; 7..8 → 8; ≥ 9 → 9; ≤ -7 → 0.
    """
    step = math.ceil(abs(priority) / 2)
    level = 4 + step if priority >= 0 else 4 - step
    return max(0, min(BROKER_LEVELS - 1, level))


def broker_kind(app: Any = None) -> str:
    """'redis', 'amqp', 'filesystem' or the transport's own name, from the broker URL."""
    app = app or current_app
    url = app.conf.broker_write_url or app.conf.broker_url or ""
    if isinstance(url, list | tuple):
        url = url[0] if url else ""
    return _kind_of(str(url))


@lru_cache(maxsize=64)
def _kind_of(url: str) -> str:
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme in ("redis", "rediss", "sentinel", "socket"):
        return "redis"
    if scheme in ("amqp", "amqps", "pyamqp", "librabbitmq", ""):
        return "amqp"
    return scheme


def broker_priority(priority: int, app: Any = None, kind: str | None = None) -> int | None:
    """The value to send as the message's priority, or None where the broker cannot order."""
    kind = kind or broker_kind(app)
    level = broker_level(priority)
    if kind == "redis":
        return BROKER_LEVELS - 1 - level
    if kind in ("filesystem", "memory"):
        return None
    return level


def route(queue: str, priority: int, app: Any = None, kind: str | None = None) -> dict[str, Any]:
    """The publish options for one job: its queue, and its priority where the broker orders."""
    options: dict[str, Any] = {"queue": queue}
    value = broker_priority(priority, app, kind)
    if value is not None:
        options["priority"] = value
    return options


def routed_queue(task_name: str, app: Any = None) -> str | None:
    """The queue `CELERY_TASK_ROUTES` gives a job task, or None when no route matches.

    Celery's own router answers (glob and regex maps, router functions and classes), asked as
    for a message of that task with no arguments: a job task's only argument is a request's
    uuid, and the job's own arguments are not Celery's. Only the queue of a route is used;
    priorities are jobkit's own (`default_priority`).
    """
    app = app or current_app
    routes = app.amqp.routes
    if not routes:  # the usual case, and the hot path's: nothing to ask
        return None
    route = app.amqp.router.lookup_route(task_name, (), {}, {}, None)
    if route is None:
        return None
    queue = route if isinstance(route, str) else route.get("queue")
    if queue is None:
        return None
    return str(getattr(queue, "name", queue))


def check_queue(value: Any) -> str:
    """A queue name as given, or `InvalidJobOption` saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidJobOption(f"queue={value!r} is not a queue name; pass a non-empty str")
    if len(value) > 255:
        raise InvalidJobOption(f"queue name {value[:40]!r}... is longer than 255 characters")
    return value
