"""The no-op and latency tasks of the raw Celery peers, defined once for both peer apps."""

from __future__ import annotations

import time
from typing import Any

from bench import probe


def define(app: Any) -> tuple[Any, Any]:
    """Register `bench.noop` and `bench.latency` on a peer's Celery app."""

    @app.task(name="bench.noop")
    def noop() -> None:
        return None

    @app.task(name="bench.latency")
    def latency() -> None:
        probe.started = time.time()

    return noop, latency
