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
    def MISSING_MESSAGE_AFTER(self) -> float:
        """Seconds after which a sent, due, unclaimed request whose message the broker no
        longer holds (its queue is empty, or the broker restarted since) is sent again."""
        return float(getattr(settings, "JOBKIT_MISSING_MESSAGE_AFTER", 15))

    @property
    def WORKER_SWEEPS(self) -> bool:
        """Each worker's main process takes its turn at the sweep every
        `JOBKIT_SWEEP_INTERVAL` (one worker per interval); False leaves sweeping to beat's
        periodic task and `manage.py jobkit sweep`."""
        return bool(getattr(settings, "JOBKIT_WORKER_SWEEPS", True))

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

    @property
    def PROGRESS_INTERVAL(self) -> float:
        """Shortest time, in seconds, between two progress writes of one running job; the
        first is written at once, the last when the job ends."""
        return float(getattr(settings, "JOBKIT_PROGRESS_INTERVAL", 0.25))

    @property
    def OUTPUT_MAX(self) -> int:
        """Most items one attempt may publish with `Job.emit` (they travel in every write of
        its process row and every reconnecting events stream)."""
        return int(getattr(settings, "JOBKIT_OUTPUT_MAX", 1000))

    @property
    def EVENTS_POLL_INTERVAL(self) -> float:
        """Seconds between two looks at the database by an open events stream."""
        return float(getattr(settings, "JOBKIT_EVENTS_POLL_INTERVAL", 1.0))

    @property
    def EVENTS_KEEPALIVE(self) -> float:
        """Seconds of silence after which an events stream sends a comment, so that proxies
        do not take it for a dead connection."""
        return float(getattr(settings, "JOBKIT_EVENTS_KEEPALIVE", 15))

    @property
    def EVENTS_MAX_DURATION(self) -> float:
        """Seconds after which an events stream ends and the browser reconnects: shorter than
        the usual proxy and worker timeouts (60 s for nginx, 30-60 s for gunicorn setups)."""
        return float(getattr(settings, "JOBKIT_EVENTS_MAX_DURATION", 55))

    @property
    def EVENTS_PERMISSION(self) -> str:
        """Dotted path of `callable(request, uuids) -> bool` deciding who may follow jobs on
        the events stream; empty: active staff with view permission on processes and
        results."""
        return str(getattr(settings, "JOBKIT_EVENTS_PERMISSION", ""))

    @property
    def GPU_QUEUE(self) -> str:
        """The queue `GPUJob`s go to; a worker that consumes it pins each child to a device."""
        return str(getattr(settings, "JOBKIT_GPU_QUEUE", "gpu"))

    @property
    def GPU_DEVICES(self) -> str | list[str] | None:
        """The devices a GPU worker may use ("0,1", GPU UUIDs, or a list of them); None: the
        `JOBKIT_GPU_DEVICES` environment variable, else detected (see `execution.gpu`)."""
        value = getattr(settings, "JOBKIT_GPU_DEVICES", None)
        return value if value is None or isinstance(value, str) else [str(v) for v in value]

    @property
    def GPU_JOBS_PER_DEVICE(self) -> int:
        """How many worker children share one device (each runs one job at a time)."""
        return int(getattr(settings, "JOBKIT_GPU_JOBS_PER_DEVICE", 1))

    @property
    def RESOURCES_MAX(self) -> int:
        """How many `Job.resource` objects one worker child keeps loaded (least recently used
        released first)."""
        return int(getattr(settings, "JOBKIT_RESOURCES_MAX", 4))


jobkit_settings = Settings()
