"""Timestamps from the worker to the benchmark, outside the systems being measured.

A job marks when its body starts (`started`); Celery's `task_postrun` signal, which fires after
the task has returned and after any result backend has stored its result, sends that mark with
the end time as one datagram to a Unix socket the benchmark listens on. The datagram is sent
after both times are taken, so it never delays what it measures; nothing goes through the
database or the broker under test, and the benchmark blocks on the socket instead of polling.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

SOCKET_ENV = "BENCH_PROBE_SOCKET"

#: Set by a latency job's body in the worker child: `time.time()` when the body started.
started: float | None = None
_sender: socket.socket | None = None


def send(text: str) -> None:
    """Send one datagram to the benchmark; silently nothing when it is not listening."""
    global _sender
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        _sender.sendto(text.encode(), path)


def mark(tag: str) -> None:
    """A named point in time (used by the raw Celery drain markers)."""
    send(f"mark {tag} {time.time()!r}")


def on_task_postrun(task_id: str | None = None, **kwargs: Any) -> None:
    global started
    if started is None:
        return
    done = time.time()
    start, started = started, None
    send(f"done {task_id} {start!r} {done!r}")


def install() -> None:
    """Connect the postrun handler (in the module that defines the latency task or job)."""
    from celery.signals import task_postrun

    task_postrun.connect(on_task_postrun, weak=False, dispatch_uid="bench.probe")


class Listener:
    """The benchmark's end of the socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    def wait(
        self, kind: str, key: str, timeout: float, guard: Callable[[], None] | None = None
    ) -> list[str]:
        """Block until a datagram `<kind> <key> ...` arrives; its remaining fields.

        Datagrams for other keys (late ones from warm-up jobs) are dropped. `guard` is called
        about once a second while nothing arrives (to fail fast when the worker died).
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {kind} {key} from the worker within {timeout} s")
            self.sock.settimeout(min(remaining, 1.0))
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                if guard is not None:
                    guard()
                continue
            fields = data.decode().split()
            if fields[:2] == [kind, key]:
                return fields[2:]

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
