"""Pausing a queue: enqueue writes its jobs unsent, the sweeper sends none of them, a claim
puts an in-flight one back to wait, and resuming sends them; `manage.py jobkit pause|resume`
and the admin's actions (permission `pause_queue`, 403 when forged, logged per queue).

A real worker taking a paused queue's message is in tests/worker/test_pauses.py."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from django_jobkit import bulk_run_in_worker
from django_jobkit.enqueue import pauses
from django_jobkit.exceptions import InvalidJobOption
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobQueue, JobRequest
from tests.integration.test_admin_actions import (
    act,
    action_names,
    messages_of,
    staff_client,
    staff_client_named,
)
from tests.integration.test_renderings import CLAIMED_BY
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue(fresh_queue: Any) -> str:
    return str(fresh_queue())


@pytest.fixture(autouse=True)
def _fresh_view():
    pauses.forget()
    yield
    pauses.forget()


def test_a_paused_queue_keeps_its_jobs_unsent_and_resuming_sends_them(queue):
    assert pauses.pause(queue, by="test") is True
    assert pauses.pause(queue) is False  # already paused
    waiting = [NoopJob(i).run_in_worker(queue=queue) for i in range(3)]
    other = NoopJob("elsewhere").run_in_worker(queue=queue + "-other", delay=3600)

    rows = JobRequest.objects.filter(queue=queue)
    assert rows.count() == 3 and not rows.filter(sent_at__isnull=False).exists()
    Sweeper().send_waiting()
    assert not rows.filter(sent_at__isnull=False).exists()  # the sweeper sends none of them

    changed, sent = pauses.resume(queue)
    assert (changed, sent) == (True, 3)
    assert rows.filter(sent_at__isnull=False).count() == 3
    assert pauses.resume(queue) == (False, 0)
    assert {r.job_request_uuid for r in rows} == {w.job_request_uuid for w in waiting}
    other.cancel()


def test_a_claim_of_a_paused_queues_request_puts_it_back_to_wait(queue):
    request = NoopJob("in flight").run_in_worker(queue=queue)
    assert JobRequest.objects.get(pk=request.pk).sent_at is not None  # its message left
    pauses.pause(queue)

    process, early = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert (process, early) == (None, None)
    row = JobRequest.objects.get(pk=request.pk)
    assert row.sent_at is None  # waiting again, for the resume to send

    pauses.resume(queue)
    process, _ = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert process is not None and process.queue == queue
    process.delete()


def test_the_management_commands_pause_and_resume(queue):
    out = io.StringIO()
    call_command("jobkit", "pause", queue, stdout=out)
    assert f"{queue}: paused" in out.getvalue()
    assert JobQueue.objects.get(name=queue).paused_by == "manage.py jobkit pause"
    NoopJob("later").run_in_worker(queue=queue)
    out = io.StringIO()
    call_command("jobkit", "resume", queue, stdout=out)
    assert f"{queue}: resumed; 1 waiting job(s) sent" in out.getvalue()
    with pytest.raises(CommandError, match="is not a queue name"):
        call_command("jobkit", "pause", " ")
    with pytest.raises(InvalidJobOption, match="longer than 255"):
        pauses.pause("q" * 256)


def test_the_admin_pauses_and_resumes_behind_the_pause_queue_permission(queue):
    request = NoopJob("held").run_in_worker(queue=queue, delay=3600)
    allowed = staff_client("view_jobrequest", "view_jobqueue", "pause_queue")
    refused = staff_client_named("viewer", "view_jobrequest", "view_jobqueue")

    assert "pause_queues_of_selected" not in action_names(refused, "jobrequest")
    forged = refused.post(
        "/admin/django_jobkit/jobrequest/",
        {"action": "pause_queues_of_selected", "index": "0", "_selected_action": [request.pk]},
    )
    assert forged.status_code == 403
    assert not JobQueue.objects.filter(name=queue).exists()

    assert "pause_queues_of_selected" in action_names(allowed, "jobrequest")
    page = act(allowed, "jobrequest", "pause_queues_of_selected", [request.pk])
    assert f"Paused {queue}" in messages_of(page)
    paused = JobQueue.objects.get(name=queue)
    assert paused.paused and paused.paused_by == "admin: staff"
    entry = LogEntry.objects.get(object_id=str(paused.pk), content_type__model="jobqueue")
    assert entry.user.username == "staff" and entry.change_message == "Paused"

    listed = allowed.get("/admin/django_jobkit/jobrequest/")
    assert f"queue {queue} paused since" in listed.content.decode()
    queues = allowed.get("/admin/django_jobkit/jobqueue/")
    assert queues.status_code == 200 and "paused" in queues.content.decode()

    page = act(allowed, "jobqueue", "resume_selected", [paused.pk])
    assert f"Resumed {queue}" in messages_of(page)
    assert not JobQueue.objects.get(name=queue).paused
    assert LogEntry.objects.filter(object_id=str(paused.pk)).count() == 2
    request.cancel()


def test_a_request_of_a_paused_queue_says_so(queue):
    request = NoopJob("held").run_in_worker(queue=queue)
    pauses.pause(queue)
    request.refresh_from_db()
    assert request.waiting_reason().startswith(f"queue {queue} paused since ")
    pauses.resume(queue)
    request.refresh_from_db()
    assert request.waiting_reason() == f"sent to queue {queue}, waiting for a worker"


def test_a_sweep_while_resuming_leaves_what_waited_to_resume(queue):
    """The queue is resumed and its first batch taken in one transaction: a sweep running at
    the same moment (a worker's turn, beat's) sees it paused or the rows taken, so `resume`
    sends, and counts, every job that waited."""
    stop = threading.Event()
    sweep_errors: list[BaseException] = []

    def sweep_all_the_time() -> None:
        try:
            while not stop.is_set():
                Sweeper().send_waiting()
        except BaseException as error:  # reported by the test below
            sweep_errors.append(error)
        finally:
            connection.close()

    sweeping = threading.Thread(target=sweep_all_the_time)
    sweeping.start()
    try:
        for round_ in range(5):
            pauses.pause(queue)
            jobs = bulk_run_in_worker([NoopJob(i) for i in range(20)], queue=queue)
            assert all(r.sent_at is None for r in JobRequest.objects.filter(queue=queue))
            changed, sent = pauses.resume(queue)
            assert (round_, changed, sent) == (round_, True, len(jobs))
            JobRequest.objects.filter(queue=queue).delete()
    finally:
        stop.set()
        sweeping.join(30)
    assert not sweep_errors
