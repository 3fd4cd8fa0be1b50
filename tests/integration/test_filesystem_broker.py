"""kombu's filesystem transport with jobkit's atomic message files (celery/kombu#1551): a
consumer reading the folder while a message is being written never sees it half written."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from pathlib import Path

import pytest
from kombu import Connection
from kombu.transport import filesystem

from django_jobkit._compat.kombu import filesystem as filesystem_broker
from django_jobkit._compat.patching import is_patched


class Slow:
    """A header value whose JSON encoding waits until the test lets it go: the message's
    serialisation, and so its write, is held open at a known point."""

    entered = threading.Event()
    release = threading.Event()

    def __json__(self) -> str:  # kombu's JSON encoder calls this
        Slow.entered.set()
        assert Slow.release.wait(10), "the test never released the write"
        return "slow"


@pytest.fixture
def slow_header() -> None:
    Slow.entered.clear()
    Slow.release.clear()


def folders(folder: Path) -> dict[str, str]:
    control = folder / "control"
    control.mkdir(exist_ok=True)
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(control),
    }


def visible_messages(folder: Path, queue: str) -> list[int]:
    """Sizes of the files kombu's reader would take for `queue` (its own name filter)."""
    return [
        (folder / name).stat().st_size
        for name in os.listdir(folder)
        if name.partition(".")[2] == f"{queue}.msg"
    ]


def files_seen_mid_write(folder: Path) -> list[int]:
    """Publish one message, hold its serialisation open, and list what a reader sees then."""
    # A queue of its own: kombu remembers declared queues process-wide, by name.
    name = f"jobkit-test-fs-{uuid.uuid4().hex[:8]}"
    with Connection("filesystem://", transport_options=folders(folder)) as connection:
        queue = connection.SimpleQueue(name)
        failures: list[BaseException] = []

        def write() -> None:
            try:
                queue.put("body", headers={"h": Slow()})
            except BaseException as exc:  # reported by the assertion below
                failures.append(exc)
                Slow.entered.set()

        writer = threading.Thread(target=write)
        writer.start()
        try:
            assert Slow.entered.wait(10), "the message was never serialised"
            assert not failures, failures
            seen = visible_messages(folder, name)
        finally:
            Slow.release.set()
            writer.join(10)
        assert len(visible_messages(folder, name)) == 1  # and once written, it is there, whole
        message = queue.get(timeout=5)
        assert message.payload == "body"
        message.ack()
        queue.close()
    return seen


def test_installed_by_the_app() -> None:
    assert is_patched(filesystem.Channel, "_put")


def test_a_reader_sees_no_message_file_while_it_is_written(tmp_path: Path, slow_header) -> None:
    assert files_seen_mid_write(tmp_path) == []
    assert not [n for n in os.listdir(tmp_path) if n.startswith(filesystem_broker.PARTIAL_PREFIX)]


def test_kombus_own_write_shows_an_empty_file_meanwhile(tmp_path: Path, slow_header) -> None:
    """The race the patch closes, with kombu's own method: the file is there, empty."""
    filesystem_broker.uninstall()
    try:
        assert files_seen_mid_write(tmp_path) == [0]
    finally:
        assert filesystem_broker.install()


def bind_race(folder: Path, rounds: int = 100, binders: int = 6) -> list[str]:
    """Bind `binders` queues to a new exchange at once, `rounds` times; what went wrong."""
    problems: list[str] = []
    with Connection("filesystem://", transport_options=folders(folder)) as connection:
        channel = connection.default_channel
        file = folder / "control" / "jobkit-race.exchange"
        for attempt in range(rounds):
            with contextlib.suppress(FileNotFoundError):
                file.unlink()
            start = threading.Barrier(binders)
            failures: list[BaseException] = []

            def bind(i: int, start: threading.Barrier = start, failures: list = failures) -> None:
                start.wait(10)
                try:
                    channel._queue_bind("jobkit-race", f"key-{i}", "", f"queue-{i}")
                except BaseException as exc:  # reported below
                    failures.append(exc)

            threads = [threading.Thread(target=bind, args=(i,)) for i in range(binders)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(10)
            try:
                queues = {q.queue for q in channel.get_table("jobkit-race")}
            except ValueError as exc:  # the file holds no whole JSON table
                problems.append(f"round {attempt}: {exc}: {file.read_text()[:120]!r}")
                continue
            if failures:
                problems.append(f"round {attempt}: {failures[0]!r}")
            elif queues != {f"queue-{i}" for i in range(binders)}:
                problems.append(f"round {attempt}: bound {sorted(queues)}")
    return problems


def test_queues_bound_at_once_all_stay_bound_in_a_whole_table(tmp_path: Path) -> None:
    assert is_patched(filesystem.Channel, "_queue_bind")
    assert bind_race(tmp_path) == []


def test_kombus_own_bind_loses_or_breaks_tables_meanwhile(tmp_path: Path) -> None:
    """The race the patch closes, with kombu's own methods: bindings lost or the file broken."""
    filesystem_broker.uninstall()
    try:
        assert bind_race(tmp_path) != []
    finally:
        assert filesystem_broker.install()
