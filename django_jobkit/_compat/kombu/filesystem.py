"""Whole message files for kombu's filesystem transport, the embedded default's broker.

kombu writes a message by creating its file under the final name and then writing into it; a
consumer polling the folder can take the file in between, read it empty, and die of the
JSONDecodeError (celery/kombu#1551: the worker stops with "Unrecoverable error"). jobkit makes
the write atomic: the message is written under a name no consumer matches, then renamed into
place, which POSIX and Windows do in one step within a folder.

Binding a queue to an exchange races too: kombu opens a missing exchange file with "wb" (which
empties it) before taking its lock, and rewrites a shorter table over a longer one without
truncating; two processes binding at once (each `celery control` binds a reply queue) leave a
file such as `[["a", "", "a"]] "", "b"]]`, and every later `celery control` fails with "Extra
data" until the file is removed by hand. jobkit's bind opens without emptying, takes the lock,
then reads, writes and truncates under it; a reader that finds the file just created, still
empty, takes it for an empty table.

Taking a message does not scale with a backlog: for every message kombu lists the whole folder,
sorts it and walks it with `list.pop(0)`, and does the same for each empty queue the worker
polls (`-Q default,slow`, the remote-control queue): with 20,000 messages waiting the demo's
worker drained about 6 jobs/s. jobkit's channel lists the folder once into a per-queue deque
of names in kombu's order, takes from it, and lists again when a queue's deque runs dry, at
most every `LISTING_MAX_AGE` seconds, or less often where listing the folder takes long, so
that listing takes at most `LISTING_SHARE` of the time (a message written meanwhile waits that
long: 50 ms, or about a second behind a 20,000-message backlog). A message is taken by
renaming it to a name no consumer matches, so two consumers of one folder never both take it;
a name another consumer took first fails the rename and is skipped.

And a worker waits for nothing: kombu's polling transports sleep `polling_interval` whenever a
poll brings no message, also when the poll was skipped because the worker's prefetch is full,
so with prefetch 1 per child each child waited up to 50 ms for its next job after every one.
jobkit's filesystem transport waits `QOS_FULL_POLL` instead while a consumer's prefetch is full
(its slot frees as soon as a child takes or finishes a job), and `polling_interval` only when
the queues are empty. Names carry the nanosecond they were written at, zero-padded, so that
the folder's order is the order of writing.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import deque
from typing import Any

from ..patching import Upstream, applies, patch_method, unpatch_method

#: Checked against kombu 5.7; outside this range kombu's own (non-atomic) write applies.
UPSTREAM = Upstream("kombu", (5, 7), (5, 8))
#: The upstream code replaced, by digest of its source (tests/unit/test_compat.py).
REPLACES = {
    "kombu.transport.filesystem.Channel._put": "a88e2ceb3927a99a",
    "kombu.transport.filesystem.Channel._get": "ecaf5682c3d51458",
    "kombu.transport.virtual.base.Transport.drain_events": "dc55900aa0d2f4e8",
    "kombu.transport.filesystem.Channel._queue_bind": "ba07d374c2f0555e",
    "kombu.transport.filesystem.Channel.get_table": "347cc4c7c0dd07d3",
}

#: Prefix of a message file being written: not `<number>_<uuid>.<queue>.msg`, so never read.
PARTIAL_PREFIX = ".partial-"
#: Prefix of a message file a consumer has taken and is reading: likewise never matched.
TAKEN_PREFIX = ".taken-"
#: How old a channel's listing of the folder may be when a queue's deque runs dry ...
LISTING_MAX_AGE = 0.05
#: ... unless listing takes longer: then at most this share of the time goes to listing.
LISTING_SHARE = 0.05
#: How long a worker whose prefetch is full waits before it looks again.
QOS_FULL_POLL = 0.002


def install() -> bool:
    """Patch kombu's filesystem channel once; False when the transport cannot be imported."""
    try:
        from kombu.transport import filesystem
    except ImportError:  # pragma: no cover - kombu always ships it
        return False
    if not applies(UPSTREAM, "the atomic filesystem-transport write (kombu#1551)"):
        return False
    patch_method(filesystem.Channel, "_put", lambda original: _put)
    patch_method(filesystem.Channel, "_get", lambda original: _get)
    patch_method(filesystem.Transport, "drain_events", lambda original: _drain_events)
    patch_method(filesystem.Channel, "_queue_bind", lambda original: _queue_bind)
    patch_method(filesystem.Channel, "get_table", lambda original: _get_table)
    return True


def _put(self: Any, queue: str, payload: Any, **kwargs: Any) -> None:
    from kombu.exceptions import ChannelError
    from kombu.utils.encoding import str_to_bytes
    from kombu.utils.json import dumps

    # kombu's form of name (an order, a uuid, the queue), written under a prefix. kombu's
    # order is the millisecond, so messages of one millisecond came out in uuid order; the
    # zero-padded nanosecond of the machine-wide monotonic clock keeps them first in, first
    # out across processes.
    name = f"{time.monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
    final = os.path.join(self.data_folder_out, name)
    partial = os.path.join(self.data_folder_out, PARTIAL_PREFIX + name)
    try:
        with open(partial, "wb", buffering=0) as file:
            file.write(str_to_bytes(dumps(payload)))
        os.replace(partial, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise ChannelError(f"Cannot add file {final!r} to directory") from exc


def _get(self: Any, queue: str) -> Any:
    from kombu.exceptions import ChannelError
    from kombu.utils.encoding import bytes_to_str
    from kombu.utils.json import loads

    folder = self.data_folder_in
    names = _pending(self, queue)
    while names:
        name = names.popleft()
        taken = os.path.join(folder, TAKEN_PREFIX + name)
        try:
            os.rename(os.path.join(folder, name), taken)
        except OSError:
            continue  # taken by another consumer, or purged, since the listing
        try:
            with open(taken, "rb") as file:
                payload = file.read()
            if self.store_processed:
                os.replace(taken, os.path.join(self.processed_folder, name))
            else:
                os.remove(taken)
        except OSError as exc:
            raise ChannelError(f"Cannot read file {taken!r} from queue.") from exc
        return loads(bytes_to_str(payload))
    raise _upstream().Empty()


def _drain_events(self: Any, connection: Any, timeout: float | None = None) -> None:
    started = time.monotonic()
    polling_interval = self.polling_interval
    if timeout and polling_interval and polling_interval > timeout:
        polling_interval = timeout
    while True:
        try:
            self.cycle.get(self._deliver, timeout=timeout)
        except _upstream().Empty:
            if timeout is not None and time.monotonic() - started >= timeout:
                raise TimeoutError() from None  # socket.timeout, as kombu raises
            if polling_interval is not None:
                time.sleep(QOS_FULL_POLL if _prefetch_full(self) else polling_interval)
        else:
            return


def _prefetch_full(transport: Any) -> bool:
    """Whether a consumer of this transport was skipped only because its prefetch is full."""
    return any(
        channel._consumers and not channel.qos.can_consume()
        for channel in transport.channels
        if channel is not None
    )


def _pending(self: Any, queue: str) -> deque[str]:
    """The channel's names of `queue`'s messages in kombu's order (the time-stamped name),
    listed again from the folder when they have run out and the listing is old enough."""
    state: dict[str, Any] = self.__dict__.setdefault(
        "_jobkit_listing", {"at": None, "took": 0.0, "queues": {}}
    )
    names: deque[str] | None = state["queues"].get(queue)
    started = time.monotonic()
    # A listing of a big folder is slow itself (about 50 ms for 20,000 names): list again at
    # most every LISTING_MAX_AGE, or every LISTING_SHARE⁻¹ times what the last one took.
    wait = max(LISTING_MAX_AGE, state["took"] / LISTING_SHARE)
    if not names and (state["at"] is None or started - state["at"] >= wait):
        queues: dict[str, list[str]] = {}
        for name in os.listdir(self.data_folder_in):
            kind = name.partition(".")[2]
            if kind.endswith(".msg") and not name.startswith("."):
                queues.setdefault(kind[: -len(".msg")], []).append(name)
        state["queues"] = {q: deque(sorted(found)) for q, found in queues.items()}
        state["at"] = time.monotonic()
        state["took"] = state["at"] - started
        names = state["queues"].get(queue)
    if names is None:
        names = state["queues"][queue] = deque()
    return names


def _queue_bind(self: Any, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
    from kombu.exceptions import ChannelError
    from kombu.utils.encoding import str_to_bytes
    from kombu.utils.json import dumps

    upstream = _upstream()

    file = self._exchange_file(exchange)
    self.control_folder.mkdir(exist_ok=True)
    wanted = upstream.exchange_queue_t(routing_key or "", pattern or "", queue or "")
    try:
        # "a+b" creates a missing file without emptying one another process is writing.
        with open(file, "a+b", buffering=0) as f_obj:
            upstream.lock(f_obj, upstream.LOCK_EX)
            try:
                f_obj.seek(0)
                queues = _table(f_obj.read())
                if wanted not in queues:
                    queues.insert(0, wanted)
                    f_obj.seek(0)
                    f_obj.truncate()
                    f_obj.write(str_to_bytes(dumps(queues)))
            finally:
                upstream.unlock(f_obj)
    except OSError as exc:
        raise ChannelError(f"Cannot open {file}") from exc


def _get_table(self: Any, exchange: str) -> list[Any]:
    from kombu.exceptions import ChannelError

    upstream = _upstream()

    file = self._exchange_file(exchange)
    try:
        with open(file, "rb", buffering=0) as f_obj:
            upstream.lock(f_obj, upstream.LOCK_SH)
            try:
                text = f_obj.read()
            finally:
                upstream.unlock(f_obj)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ChannelError(f"Cannot open {file}") from exc
    return _table(text)


def _upstream() -> Any:
    """kombu's filesystem module: its locking helpers, whichever the platform defines."""
    from kombu.transport import filesystem

    return filesystem


def _table(data: bytes) -> list[Any]:
    """An exchange file's bindings; an empty file (just created, not yet written) has none."""
    from kombu.utils.encoding import bytes_to_str
    from kombu.utils.json import loads

    text = bytes_to_str(data)
    return [_upstream().exchange_queue_t(*q) for q in loads(text)] if text.strip() else []


def uninstall() -> None:
    """Restore kombu's own methods (for tests)."""
    from kombu.transport import filesystem

    unpatch_method(filesystem.Channel, "_put")
    unpatch_method(filesystem.Channel, "_get")
    unpatch_method(filesystem.Transport, "drain_events")
    unpatch_method(filesystem.Channel, "_queue_bind")
    unpatch_method(filesystem.Channel, "get_table")
