"""kombu's filesystem transport with jobkit's atomic message files (celery/kombu#1551): a
consumer reading the folder while a message is being written never sees it half written."""

from __future__ import annotations

import contextlib
import os
import threading
import time
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


def _connection(folder: Path) -> Connection:
    return Connection("filesystem://", transport_options=folders(folder))


def test_messages_come_out_in_order_per_queue_including_those_written_after_a_listing(
    tmp_path: Path,
) -> None:
    assert is_patched(filesystem.Channel, "_get")
    one, two = (f"jobkit-test-fs-{uuid.uuid4().hex[:8]}" for _ in range(2))
    with _connection(tmp_path) as connection:
        first, second = connection.SimpleQueue(one), connection.SimpleQueue(two)
        for i in range(5):
            first.put(i)
        second.put("a")
        got = []
        for _ in range(3):
            message = first.get(timeout=5)
            got.append(message.payload)
            message.ack()
        for i in range(5, 8):  # written after the channel listed the folder
            first.put(i)
        while len(got) < 8:
            message = first.get(timeout=5)  # polls past LISTING_MAX_AGE for the new ones
            got.append(message.payload)
            message.ack()
        assert got == list(range(8))
        assert second.get(timeout=5).payload == "a"
        assert not [n for n in os.listdir(tmp_path) if n.endswith(".msg")]  # none left, none taken
        first.close()
        second.close()


def test_two_consumers_of_one_folder_take_each_message_once(tmp_path: Path) -> None:
    name = f"jobkit-test-fs-{uuid.uuid4().hex[:8]}"
    with _connection(tmp_path) as producer:
        queue = producer.SimpleQueue(name)
        for i in range(400):
            queue.put(i)
        queue.close()
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def consume(into: list[int]) -> None:
        with _connection(tmp_path) as connection:
            channel = connection.default_channel
            start.wait(10)
            while True:
                try:
                    into.append(channel._get(name)["body"])
                except filesystem.Empty:
                    return

    threads = [threading.Thread(target=consume, args=(t,)) for t in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(taken[0]) + len(taken[1]) == 400
    assert len(set(taken[0]) | set(taken[1])) == 400  # no message twice, none lost


def test_a_backlog_is_listed_once_not_per_message(tmp_path: Path, monkeypatch) -> None:
    """The cost the patch removes: kombu lists and sorts the folder for every message, and
    for every poll of an empty queue."""
    busy, idle = (f"jobkit-test-fs-{uuid.uuid4().hex[:8]}" for _ in range(2))
    with _connection(tmp_path) as connection:
        queue = connection.SimpleQueue(busy)
        for i in range(500):
            queue.put(i)
        channel = connection.default_channel
        listings = []
        real_listdir = os.listdir

        def listdir(path: str) -> list[str]:
            listings.append(path)
            return real_listdir(path)

        monkeypatch.setattr(filesystem_broker.os, "listdir", listdir)
        started = time.monotonic()
        for _ in range(500):
            channel._get(busy)  # the worker's poll: the busy queue, then the idle one
            with contextlib.suppress(filesystem.Empty):
                channel._get(idle)
        elapsed = time.monotonic() - started
        # At most one listing per LISTING_MAX_AGE (kombu's own: 1,000 here).
        assert len(listings) <= 2 + elapsed / filesystem_broker.LISTING_MAX_AGE
        assert len(listings) < 100
        queue.close()
