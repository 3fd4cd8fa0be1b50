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
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from ..patching import Upstream, applies, patch_method, unpatch_method

#: Checked against kombu 5.7; outside this range kombu's own (non-atomic) write applies.
UPSTREAM = Upstream("kombu", (5, 7), (5, 8))
#: The upstream code replaced, by digest of its source (tests/unit/test_compat.py).
REPLACES = {
    "kombu.transport.filesystem.Channel._put": "a88e2ceb3927a99a",
    "kombu.transport.filesystem.Channel._queue_bind": "ba07d374c2f0555e",
    "kombu.transport.filesystem.Channel.get_table": "347cc4c7c0dd07d3",
}

#: Prefix of a message file being written: not `<number>_<uuid>.<queue>.msg`, so never read.
PARTIAL_PREFIX = ".partial-"


def install() -> bool:
    """Patch kombu's filesystem channel once; False when the transport cannot be imported."""
    try:
        from kombu.transport import filesystem
    except ImportError:  # pragma: no cover - kombu always ships it
        return False
    if not applies(UPSTREAM, "the atomic filesystem-transport write (kombu#1551)"):
        return False
    patch_method(filesystem.Channel, "_put", lambda original: _put)
    patch_method(filesystem.Channel, "_queue_bind", lambda original: _queue_bind)
    patch_method(filesystem.Channel, "get_table", lambda original: _get_table)
    return True


def _put(self: Any, queue: str, payload: Any, **kwargs: Any) -> None:
    from time import monotonic

    from kombu.exceptions import ChannelError
    from kombu.utils.encoding import str_to_bytes
    from kombu.utils.json import dumps

    # The name kombu gives a message (its order and its queue), written under a prefix.
    name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
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
    unpatch_method(filesystem.Channel, "_queue_bind")
    unpatch_method(filesystem.Channel, "get_table")
