"""Typed, lazily read `JOBKIT_*` settings, so that `override_settings` is always honoured."""

from __future__ import annotations

from typing import Any

from django.conf import settings


class Settings:
    @property
    def MIDDLEWARE(self) -> list[str]:
        """Dotted paths of job middleware, outermost first (like Django's MIDDLEWARE)."""
        return list(getattr(settings, "JOBKIT_MIDDLEWARE", []))

    @property
    def WAIT_POLL_INTERVAL(self) -> float:
        """Longest pause, in seconds, between two looks at the database in `JobRequest.wait`."""
        return float(getattr(settings, "JOBKIT_WAIT_POLL_INTERVAL", 0.2))

    @property
    def SCHEDULE(self) -> list[Any]:
        """Schedules of jobs with arguments: ("app.jobs.SomeJob", "<cron>", {options}) tuples."""
        return list(getattr(settings, "JOBKIT_SCHEDULE", []))

    @property
    def SCHEDULE_QUEUE(self) -> str:
        """Queue of the small task beat sends at each occurrence (it enqueues the job)."""
        return str(getattr(settings, "JOBKIT_SCHEDULE_QUEUE", "default"))

    @property
    def SCHEDULE_CATCH_UP_LIMIT(self) -> int:
        """Most missed occurrences a `catch_up` schedule enqueues when beat starts again."""
        return int(getattr(settings, "JOBKIT_SCHEDULE_CATCH_UP_LIMIT", 10))

    @property
    def SCHEDULE_MISFIRE_GRACE(self) -> float:
        """Seconds after its time an occurrence is still enqueued when beat fires it late.

        Beat fires a missed occurrence once when it comes back; later than this, a schedule
        without `catch_up` skips it.
        """
        return float(getattr(settings, "JOBKIT_SCHEDULE_MISFIRE_GRACE", 300))

    @property
    def SWEEP_INTERVAL(self) -> float:
        """Seconds between two sweeps (re-sending, due delayed jobs, lost detection, pruning)."""
        return float(getattr(settings, "JOBKIT_SWEEP_INTERVAL", 5))

    @property
    def DELAY_HORIZON(self) -> float:
        """Delays up to this many seconds go to the broker as an ETA; longer ones wait in the
        database until the sweeper sends them, so no worker holds them in memory."""
        return float(getattr(settings, "JOBKIT_DELAY_HORIZON", 60))

    @property
    def RESEND_AFTER(self) -> float:
        """Seconds after which a sent but unclaimed request is sent again (its message may
        have been lost with a broker that keeps nothing on disk); the claim stays the guard."""
        return float(getattr(settings, "JOBKIT_RESEND_AFTER", 600))

    @property
    def HEARTBEAT_INTERVAL(self) -> float:
        """Seconds between a worker's heartbeats (and its checks for dead child processes)."""
        return float(getattr(settings, "JOBKIT_HEARTBEAT_INTERVAL", 5))

    @property
    def HEARTBEAT_TIMEOUT(self) -> float:
        """A worker silent for this many seconds is dead: its running jobs become LOST."""
        return float(getattr(settings, "JOBKIT_HEARTBEAT_TIMEOUT", 60))

    @property
    def RESULTS_RETENTION(self) -> float:
        """Seconds a result is kept before the sweeper deletes it (default one week)."""
        return float(getattr(settings, "JOBKIT_RESULTS_RETENTION", 60 * 60 * 24 * 7))

    @property
    def MAX_PARAMETERS_BYTES(self) -> int:
        """Largest encoded job arguments accepted at enqueue, in bytes (default 1 MiB)."""
        return int(getattr(settings, "JOBKIT_MAX_PARAMETERS_BYTES", 1024 * 1024))

    @property
    def TIMEOUT_GRACE(self) -> float:
        """Seconds between a job's soft time limit (an exception in the job) and the hard one
        (its worker child is killed)."""
        return float(getattr(settings, "JOBKIT_TIMEOUT_GRACE", 5))

    @property
    def SWEEP_BATCH_SIZE(self) -> int:
        """Rows one sweep step handles at most, so no sweep holds long locks."""
        return int(getattr(settings, "JOBKIT_SWEEP_BATCH_SIZE", 1000))

    @property
    def KEEP_DB_CONNECTIONS(self) -> bool:
        """Keep database connections between jobs in workers, by CONN_MAX_AGE, instead of
        Celery's close-around-every-task (see django_jobkit.connections)."""
        return bool(getattr(settings, "JOBKIT_KEEP_DB_CONNECTIONS", True))

    @property
    def REUSE_REDIS_CLIENTS(self) -> bool:
        """Keep one redis-py client per kombu channel instead of one per Redis command (see
        django_jobkit.redis_clients)."""
        return bool(getattr(settings, "JOBKIT_REUSE_REDIS_CLIENTS", True))

    @property
    def SKIP_REDIS_ACK_EMULATION(self) -> bool:
        """Keep jobkit's delivered Redis messages in the worker's memory instead of kombu's
        unacked hash; the database re-sends what a killed worker loses (see
        django_jobkit.redis_acks)."""
        return bool(getattr(settings, "JOBKIT_SKIP_REDIS_ACK_EMULATION", True))


jobkit_settings = Settings()
