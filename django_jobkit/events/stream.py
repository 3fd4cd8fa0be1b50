"""An event stream of job states: only changes are sent, a comment keeps a quiet connection
alive, and the stream ends after `JOBKIT_EVENTS_MAX_DURATION` (before proxies and workers cut
it) or once every job has a final result.

`Stream` decides what to send at each reading; `sync_events` and `async_events` only differ
in how they wait between readings, so WSGI servers get a plain iterator and ASGI servers an
async one that holds no thread while it waits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async

from ..conf import jobkit_settings
from .states import Follower, JobState

#: Milliseconds the browser waits before reconnecting after the stream ends (`retry:`).
RECONNECT_MS = 2000


def encode(state: JobState, before: JobState | None = None) -> bytes:
    """One event; its output holds only the items `before` (the last state sent) lacked, or
    all of them when the attempt's output is not a continuation (a retry starts anew)."""
    output_from = 0
    if before is not None and state.output[: len(before.output)] == before.output:
        output_from = len(before.output)
    return f"data: {json.dumps(state.as_json(output_from))}\n\n".encode()


class Stream:
    """The chunks to send, reading by reading; `pause()` is None once the stream is over."""

    def __init__(self, follower: Follower, clock: Callable[[], float] = time.monotonic) -> None:
        self.follower = follower
        self.clock = clock
        self.started = self.last_sent = clock()
        self.sent: dict[str, JobState] = {}
        self.over = False

    def opening(self) -> bytes:
        return f"retry: {RECONNECT_MS}\n: following {len(self.follower.uuids)} jobs\n\n".encode()

    def step(self) -> bytes:
        """Read the jobs once: the states that changed, a keep-alive, or nothing."""
        changed = [s for s in self.follower.read() if self.sent.get(s.uuid) != s]
        chunks = [encode(s, self.sent.get(s.uuid)) for s in changed]
        self.sent.update((s.uuid, s) for s in changed)
        now = self.clock()
        if self.follower.done():
            chunks.append(b"event: end\ndata: {}\n\n")  # the page stops reconnecting
            self.over = True
        elif now - self.started >= jobkit_settings.EVENTS_MAX_DURATION:
            self.over = True  # the browser reconnects after `retry:`
        if chunks:
            self.last_sent = now
        elif now - self.last_sent >= jobkit_settings.EVENTS_KEEPALIVE:
            chunks.append(b": keep-alive\n\n")
            self.last_sent = now
        return b"".join(chunks)

    def pause(self) -> float | None:
        return None if self.over else jobkit_settings.EVENTS_POLL_INTERVAL


def sync_events(stream: Stream) -> Iterator[bytes]:
    """For WSGI: a plain iterator, the server's thread waiting between readings."""
    yield stream.opening()
    while True:
        if chunk := stream.step():
            yield chunk
        if (pause := stream.pause()) is None:
            return
        time.sleep(pause)


async def async_events(stream: Stream) -> AsyncIterator[bytes]:
    """For ASGI: readings in the request's thread, the waits on the event loop."""
    step = sync_to_async(stream.step)
    yield stream.opening()
    while True:
        if chunk := await step():
            yield chunk
        if (pause := stream.pause()) is None:
            return
        await asyncio.sleep(pause)
