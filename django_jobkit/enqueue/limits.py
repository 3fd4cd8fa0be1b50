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

A rate limit (`Limit(key, rate="100/m")`) is checked where a job starts: the claim counts the
key's starts in the window (`JobRateStart` rows, under the key's lock); a job that would pass
the rate is not run but given the start time at which the window has room, and sent again
for it — so excess jobs wait, in the order they reached a worker, and no worker holds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..exceptions import InvalidJobOption, InvalidJobOptionType

#: Seconds in each unit a rate may be given per.
RATE_UNITS = {"s": 1, "m": 60, "h": 3600}
RATE = re.compile(r"^\s*(\d+)\s*/\s*([smh])\s*$")


def parse_rate(rate: Any) -> tuple[int, int]:
    """ "100/m" to (100, 60): how many starts per how many seconds."""
    if not isinstance(rate, str):
        raise InvalidJobOptionType(
            f"Limit rate={rate!r} has type {type(rate).__name__}; pass a str such as '100/m'"
        )
    match = RATE.match(rate)
    if match is None or int(match.group(1)) < 1:
        raise InvalidJobOption(
            f"Limit rate={rate!r} is not a rate; pass 'N/s', 'N/m' or 'N/h' with N >= 1"
        )
    return int(match.group(1)), RATE_UNITS[match.group(2)]


@dataclass(frozen=True)
class Limit:
    """Flow control for jobs declaring this `key`, across all workers and job classes:
    `running` — at most N attempts run at once; `rate` — at most N start per second, minute
    or hour ("N/s", "N/m", "N/h"), in any window of that length. Jobs over a limit wait."""

    key: str
    running: int | None = None
    rate: str | None = None

    def __post_init__(self) -> None:
        if self.running is None and self.rate is None:
            raise InvalidJobOption(f"Limit {self.key!r} needs running=N, rate='N/m', or both")
        if self.rate is not None:
            parse_rate(self.rate)
        if not isinstance(self.key, str):
            raise InvalidJobOptionType(
                f"Limit key={self.key!r} has type {type(self.key).__name__}; pass a str"
            )
        if not self.key.strip() or len(self.key) > 255:
            raise InvalidJobOption(
                f"Limit key={self.key[:40]!r} must be a non-empty str of at most 255 characters"
            )
        if self.running is None:
            return
        if not isinstance(self.running, int) or isinstance(self.running, bool):
            raise InvalidJobOptionType(
                f"Limit running={self.running!r} has type {type(self.running).__name__}; "
                "pass an int"
            )
        if self.running < 1:
            raise InvalidJobOption(f"Limit running={self.running!r} must be at least 1")

    def as_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"key": self.key, "running": self.running}
        if self.rate is not None:
            stored["rate"] = list(parse_rate(self.rate))  # [starts, per seconds]
        return stored


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


def running_keys(limits: list[dict[str, Any]] | None) -> list[str]:
    """The keys of the running limits among stored ones (a request waits for their slots)."""
    return [limit["key"] for limit in limits or () if limit.get("running")]


def rates(limits: list[dict[str, Any]] | None) -> list[tuple[str, int, int]]:
    """(key, starts, per seconds) of the rate limits among stored ones."""
    return [(lim["key"], *lim["rate"]) for lim in limits or () if lim.get("rate")]
