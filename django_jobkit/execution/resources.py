"""Worker-resident resources: a heavy object (a speech model, a tokenizer, a client with a warm
pool) loaded once per worker child by `Job.resource(key, loader)` and handed to every later job
in that child, instead of being loaded again for each job.

Each process holds its own: a prefork child's resources live in that child, on the device the
child owns (`execution.gpu`), and go when it exits. At most `JOBKIT_RESOURCES_MAX` stay loaded;
loading one more releases the least recently used first, through its `release` hook (by
default the object's own `close()` when it has one) followed by a garbage collection, so that a
framework can give its device memory back before the next model arrives. A loader that raises
stores nothing: the job fails with its error and the next job tries again.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.signals import worker_process_shutdown

from ..conf import jobkit_settings
from ..exceptions import InvalidResource
from . import gpu, holdings

logger = logging.getLogger("django_jobkit.worker")

Release = Callable[[Any], None]
#: Told after each `get`: whether the set of resources changed (a load, a release).
OnChange = Callable[["Resources", bool], None]


@dataclass
class Held:
    """One loaded resource and what the admin may show of it."""

    key: str
    value: Any
    device: str
    loaded_at: float
    release: Release | None = None
    hits: int = field(default=0)

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "device": self.device,
            "loaded_at": self.loaded_at,
            "hits": self.hits,
        }


def close_if_closable(value: Any) -> None:
    close = getattr(value, "close", None)
    if callable(close):
        close()


class Resources:
    """The resources of one process, least recently used first."""

    def __init__(
        self,
        limit: Callable[[], int] = lambda: jobkit_settings.RESOURCES_MAX,
        on_change: OnChange | None = None,
    ) -> None:
        self.limit = limit
        self.on_change = on_change
        self.held: OrderedDict[str, Held] = OrderedDict()
        self.lock = threading.RLock()

    def get(self, key: str, loader: Callable[[], Any], release: Release | None = None) -> Any:
        if not isinstance(key, str) or not key:
            raise InvalidResource(f"resource key {key!r}: it must be a non-empty str")
        if not callable(loader):
            raise InvalidResource(f"resource {key!r}: the loader {loader!r} is not callable")
        with self.lock:
            held = self.held.get(key)
            if held is not None:
                self.held.move_to_end(key)
                held.hits += 1
                self._tell(changed=False)
                return held.value
            limit = self.limit()
            if limit < 1:
                raise InvalidResource(f"JOBKIT_RESOURCES_MAX={limit}: it must be 1 or more")
            while len(self.held) >= limit:
                self._release(self.held.popitem(last=False)[1])
            value = loader()
            device = gpu.current_entry() or "cpu"
            self.held[key] = Held(key, value, device, time.time(), release)
            logger.info("resource %s loaded (on %s)", key, device)
            self._tell(changed=True)
            return value

    def release_all(self) -> None:
        with self.lock:
            while self.held:
                self._release(self.held.popitem(last=False)[1])

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [held.describe() for held in self.held.values()]

    def _tell(self, changed: bool) -> None:
        if self.on_change is not None:
            self.on_change(self, changed)

    @staticmethod
    def _release(held: Held) -> None:
        try:
            (held.release or close_if_closable)(held.value)
        except Exception:  # a failing release must not fail the job that needs the room
            logger.exception("releasing resource %s failed", held.key)
        del held.value
        gc.collect()
        logger.info("resource %s released", held.key)


def _report(held: Resources, changed: bool) -> None:
    holdings.report(held.describe, changed)


#: This process's resources, each change written on the worker's row (`holdings`).
resources = Resources(on_change=_report)


@worker_process_shutdown.connect(dispatch_uid="django_jobkit.resources.release")
def _release_on_exit(**kwargs: Any) -> None:
    resources.release_all()
