"""Every worker's main process takes its turn at the sweep: the guarantees need only a worker.

Beat's periodic sweep reaches a worker only through a queue, and a project whose workers do
not consume that queue (Celery's default queue is `celery`, workers often run `-Q default`)
would silently lose LOST detection, re-sends and delayed jobs. So each worker's main process
asks every `JOBKIT_SWEEP_INTERVAL`, on Celery's own timer, whether it is its turn: the turn is
one database row that one worker per interval stamps (`JobLock.objects.take_turn`), so a
cluster of any size sweeps about once per interval. The pass runs in slices of at most
`SLICE` rows with a turn of the event loop between them, so the worker goes on receiving and
dispatching messages while it sweeps. (A step that must reach an unreachable broker waits
up to Celery's `broker_connection_timeout`; the worker's own consumer is reconnecting then.)

At start a worker also says, loudly, when it consumes none of the queues jobkit's own tasks
go to: unless another worker does, scheduled jobs would never fire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from django.db import close_old_connections

from ..conf import jobkit_settings
from ..models import JobLock
from .connections import closing_off_loop
from .sweeper import Sweeper, SweepReport

logger = logging.getLogger("django_jobkit.sweeper")

#: The lock row whose stamp is the cluster's last sweep.
TURN = "django_jobkit.sweep"

#: Rows a slice of a worker's sweep handles at most (see README, "When things go wrong").
SLICE = 100

#: Seconds between two slices: long enough for the event loop to poll its sockets.
PAUSE = 0.005

#: A turn is taken once this fraction of the interval has passed, so that a timer firing a
#: little early does not skip a whole interval.
EARLY = 0.9


class SweepTurns:
    """The sweep as this worker takes it: at most one pass at a time, sliced."""

    def __init__(self, timer: Any) -> None:
        self.timer = timer
        self.pass_: Iterator[None] | None = None
        self.report = SweepReport()
        self.steps = 0
        self.busy = 0.0  # seconds the event loop spent in this pass's steps
        self.longest_step = 0.0

    def tick(self) -> None:
        """Take the turn if it is this worker's, and start a pass."""
        closing_off_loop(self._tick)

    def _tick(self) -> None:
        if self.pass_ is not None:
            return  # the last pass is still going
        try:
            close_old_connections()
            if not JobLock.objects.take_turn(TURN, EARLY * jobkit_settings.SWEEP_INTERVAL):
                return
        except Exception:
            logger.exception("could not take a turn at the sweep")
            return
        self.report = SweepReport()
        self.steps, self.busy, self.longest_step = 0, 0.0, 0.0
        self.pass_ = Sweeper(slice_size=SLICE).steps(self.report)
        self.step()

    def step(self) -> None:
        """Run one slice of the pass, then leave the loop to itself until the next."""
        if self.pass_ is None:
            return
        pass_ = self.pass_
        started = time.perf_counter()
        try:
            closing_off_loop(lambda: next(pass_))
        except StopIteration:
            self.pass_ = None
        except Exception:
            logger.exception("sweep failed")
            self.pass_ = None
        took = time.perf_counter() - started
        self.steps += 1
        self.busy += took
        self.longest_step = max(self.longest_step, took)
        if self.pass_ is not None:
            self.timer.call_after(PAUSE, self.step)
        elif self.report.sent or self.report.unknown or self.report.lost:
            logger.info(
                "this worker's sweep took %.0f ms of its main process in %d steps, the longest "
                "%.1f ms",
                self.busy * 1000,
                self.steps,
                self.longest_step * 1000,
            )


def start(timer: Any, queues: list[str]) -> SweepTurns | None:
    """Give this worker its turns at the sweep (unless `JOBKIT_WORKER_SWEEPS` is off), and
    warn when it consumes none of jobkit's own queues."""
    warn_unless_consuming_own_queues(queues)
    if not jobkit_settings.WORKER_SWEEPS:
        return None
    turns = SweepTurns(timer)
    timer.call_repeatedly(jobkit_settings.SWEEP_INTERVAL, turns.tick)
    return turns


def own_queues() -> set[str]:
    """The queues jobkit sends its own tasks to: schedule firings and beat's sweeps."""
    return {jobkit_settings.SCHEDULE_QUEUE}


def warn_unless_consuming_own_queues(queues: list[str]) -> bool:
    """Log a warning when `queues` (a worker's) include none of `own_queues()`; whether it did."""
    own = own_queues()
    if own & set(queues):
        return False
    logger.warning(
        "This worker consumes %s but none of jobkit's own queues (%s): schedule firings and "
        "beat's sweeps sent there run only if another worker consumes them. Add %s to this "
        "worker's -Q, or set JOBKIT_SCHEDULE_QUEUE to a queue your workers consume. (This "
        "worker's main process still takes its turns at the sweep%s.)",
        ", ".join(sorted(queues)) or "no queue",
        ", ".join(sorted(own)),
        ",".join(sorted(own)),
        "" if jobkit_settings.WORKER_SWEEPS else ": no, JOBKIT_WORKER_SWEEPS is False",
    )
    return True
