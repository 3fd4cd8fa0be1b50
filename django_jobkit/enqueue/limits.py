"""Running limits: at most N attempts running per key across all workers; the others wait.

A job's `limits()` returns `Limit(key, running=N)`s. Its request is written with one hold per
limit (`JobHold`) and is sent only once it holds a slot of every one of them: a job over a
limit waits in the database as a request, with no message at the broker and no worker holding
it. Slots are counted and given out under the key's database lock, in priority order then
age, by the query layer (`JobHold.objects.admit`): at enqueue, and in the transaction that
records an attempt's end, which frees its slots — so the next job is sent the moment one ends,
not at the next sweep. A slot belongs to a request (then its process) and is freed only when
the attempt is recorded (a dead worker's attempt when the heartbeat rescue records it LOST),
never by a timer. The sweeper admits again what a missed release left waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..exceptions import InvalidJobOption, InvalidJobOptionType


@dataclass(frozen=True)
class Limit:
    """At most `running` attempts of jobs declaring this `key` run at once, across all workers
    and job classes; the others wait as requests and are sent as slots free."""

    key: str
    running: int

    def __post_init__(self) -> None:
        if not isinstance(self.key, str):
            raise InvalidJobOptionType(
                f"Limit key={self.key!r} has type {type(self.key).__name__}; pass a str"
            )
        if not self.key.strip() or len(self.key) > 255:
            raise InvalidJobOption(
                f"Limit key={self.key[:40]!r} must be a non-empty str of at most 255 characters"
            )
        if not isinstance(self.running, int) or isinstance(self.running, bool):
            raise InvalidJobOptionType(
                f"Limit running={self.running!r} has type {type(self.running).__name__}; "
                "pass an int"
            )
        if self.running < 1:
            raise InvalidJobOption(f"Limit running={self.running!r} must be at least 1")

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "running": self.running}


def stored(limits: Any, job_class: str) -> list[dict[str, Any]] | None:
    """What a request stores of its job's `limits()`: checked, one per key; None for none."""
    if limits is None:
        return None
    if not isinstance(limits, list | tuple):
        raise InvalidJobOptionType(
            f"{job_class}.limits() returned {type(limits).__name__}; return a list of Limit"
        )
    by_key: dict[str, dict[str, Any]] = {}
    for limit in limits:
        if not isinstance(limit, Limit):
            raise InvalidJobOptionType(
                f"{job_class}.limits() holds {limit!r} ({type(limit).__name__}); "
                "return Limit(key, running=N) items"
            )
        if limit.key in by_key:
            raise InvalidJobOption(f"{job_class}.limits() names the key {limit.key!r} twice")
        by_key[limit.key] = limit.as_json()
    return list(by_key.values()) or None
