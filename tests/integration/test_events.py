"""The events stream over real records: WSGI (the test client and a live server) and ASGI
(Django's AsyncClient), permission checked, following jobs along their retries."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Permission
from django.test import AsyncClient, Client

from django_jobkit.execution.outcomes import Outcome, record
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/jobs/events/"
CLAIMED = {"pid_start_time": None, "worker_name": "w", "worker_pid": 1, "celery_task_id": "t"}


@pytest.fixture(autouse=True)
def quick(settings: Any) -> None:
    settings.JOBKIT_EVENTS_POLL_INTERVAL = 0.02
    settings.JOBKIT_EVENTS_KEEPALIVE = 15
    settings.JOBKIT_EVENTS_MAX_DURATION = 20


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_jobprocess", "view_jobresult"])
    )
    return user


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def waiting() -> JobRequest:
    request = NoopJob().run_in_worker(delay=3600)  # waits in the database, never sent
    assert request is not None
    return request


def running(request: JobRequest) -> JobProcess:
    JobRequest.objects.filter(pk=request.pk).update(start_at=None)
    process, _ = JobRequest.objects.claim(request.uuid, {"host": "h", "pid": 1, **CLAIMED})
    assert process is not None
    return process


def end(process: JobProcess, status: str = JobResult.Status.SUCCESSFUL) -> JobResult:
    result = record(process, Outcome(status, retryable=False))
    assert result is not None
    return result


def report(process: JobProcess, fraction: float, message: str, output: tuple = ()) -> None:
    """As a job's `set_progress` and `emit` end up: on the row and on the runner's process
    object."""
    JobProcess.objects.set_progress(process.pk, fraction, message, output)
    process.progress, process.progress_message = fraction, message
    process.output = list(output) or None


def events(chunks: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The data of each event, in order; comments and the end event skipped."""
    for chunk in chunks:
        for block in chunk.decode().split("\n\n"):
            lines = block.split("\n")
            if any(line.startswith("event: end") for line in lines):
                continue
            for line in lines:
                if line.startswith("data: "):
                    yield json.loads(line[6:])


def test_a_job_is_followed_from_waiting_to_running_to_its_result(staff_client):
    request = waiting()
    response = staff_client.get(URL, {"jobs": str(request.uuid)})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    chunks = iter(response.streaming_content)
    assert next(chunks).startswith(b"retry: ")
    seen = events(chunks)
    assert next(seen) == {
        "uuid": str(request.uuid), "status": "waiting", "progress": None, "message": "",
        "final": False, "output": [], "output_from": 0,
    }  # fmt: skip
    process = running(request)
    assert next(seen)["status"] == "running"
    report(process, 0.25, "a quarter", ({"text": "one"},))
    assert next(seen) == {
        "uuid": str(request.uuid), "status": "running", "progress": 0.25,
        "message": "a quarter", "final": False, "output": [{"text": "one"}], "output_from": 0,
    }  # fmt: skip
    report(process, 1.0, "all", ({"text": "one"}, {"text": "two"}))
    event = next(seen)
    # Only what the page lacks: the items after the ones already sent.
    assert (event["progress"], event["output"], event["output_from"]) == (
        1.0, [{"text": "two"}], 1,
    )  # fmt: skip
    end(process)
    last = next(seen)
    assert (last["status"], last["progress"], last["message"], last["final"]) == (
        "SUCCESSFUL", 1.0, "all", True,
    )  # fmt: skip
    assert (last["output"], last["output_from"]) == ([], 2)  # the result kept both items
    assert JobResult.objects.get().output == [{"text": "one"}, {"text": "two"}]
    assert list(seen) == []  # every job is final: the stream is over


def test_a_retried_job_is_followed_to_its_retry(staff_client):
    first = waiting()
    retry = NoopJob().run_in_worker(delay=3600)
    assert retry is not None
    result = end(running(first), JobResult.Status.ERRORED)
    JobResult.objects.filter(pk=result.pk).update(retry_job_request_uuid=retry.uuid)
    response = staff_client.get(URL, {"jobs": str(first.uuid)})
    seen = events(iter(response.streaming_content))
    assert next(seen)["status"] == "waiting"  # the retry waits: not final yet
    end(running(retry), JobResult.Status.SUCCESSFUL)
    last = next(seen)
    assert (last["uuid"], last["status"], last["final"]) == (str(first.uuid), "SUCCESSFUL", True)
    assert list(seen) == []


def test_many_jobs_on_one_stream_each_once_then_only_changes(staff_client):
    done = end(running(waiting()))
    waits, unknown = waiting(), "00000000-0000-0000-0000-000000000001"
    response = staff_client.get(URL, {"jobs": f"{done.job_request_uuid},{waits.uuid},{unknown}"})
    seen = events(iter(response.streaming_content))
    first = [next(seen) for _ in range(3)]
    assert [(e["status"], e["final"]) for e in first] == [
        ("SUCCESSFUL", True), ("waiting", False), ("unknown", True),
    ]  # fmt: skip
    JobRequest.objects.cancel(waits.uuid)
    assert next(seen) == {
        "uuid": str(waits.uuid), "status": "CANCELLED", "progress": None, "message": "",
        "final": True, "output": [], "output_from": 0,
    }  # fmt: skip
    assert list(seen) == []


def test_the_stream_ends_after_its_longest_duration_with_keep_alives_before(staff_client, settings):
    settings.JOBKIT_EVENTS_KEEPALIVE = 0.05
    settings.JOBKIT_EVENTS_MAX_DURATION = 0.3
    request = waiting()
    body = b"".join(staff_client.get(URL, {"jobs": str(request.uuid)}).streaming_content)
    assert b": keep-alive\n\n" in body
    assert b"event: end" not in body  # ended by time: the browser reconnects


@pytest.mark.parametrize("who", ["anonymous", "staff without permissions", "active non-staff"])
def test_who_may_not_follow_jobs_gets_403(who, django_user_model):
    client = Client()
    if who != "anonymous":
        user = django_user_model.objects.create_user("u", password="pw", is_staff=who[0] == "s")
        if who == "active non-staff":
            user.user_permissions.set(Permission.objects.filter(codename__startswith="view_job"))
        client.force_login(user)
    response = client.get(URL, {"jobs": str(waiting().uuid)})
    assert response.status_code == 403


def test_a_setting_names_the_callable_that_decides(settings, client):
    settings.JOBKIT_EVENTS_PERMISSION = "tests.test_events_permission.only_even_uuids"
    even, odd = "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000003"
    assert client.get(URL, {"jobs": even}).status_code == 200
    assert client.get(URL, {"jobs": f"{even},{odd}"}).status_code == 403


@pytest.mark.parametrize(
    ("jobs", "complaint"), [("", b"give the jobs"), ("x1", b"'x1' in ?jobs= is not a request")]
)
def test_bad_input_gets_400_naming_it(staff_client, jobs, complaint):
    response = staff_client.get(URL, {"jobs": jobs})
    assert response.status_code == 400 and complaint in response.content


def test_a_live_wsgi_server_streams_the_events(live_server, staff_client):
    process = running(waiting())
    report(process, 0.5, "half")
    cookie = f"sessionid={staff_client.cookies['sessionid'].value}"
    request = urllib.request.Request(
        f"{live_server.url}{URL}?jobs={process.job_request_uuid}", headers={"Cookie": cookie}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        lines = (line.decode().rstrip("\n") for line in response)
        data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data[6:])["message"] == "half"  # sent before the job ended
        end(process)
        data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data[6:])["status"] == "SUCCESSFUL"
        assert "event: end" in list(lines)


def test_an_asgi_server_streams_the_events_from_an_async_iterator(staff):
    process = running(waiting())
    client = AsyncClient()
    client.force_login(staff)

    async def follow() -> list[dict[str, Any]]:
        response = await client.get(URL, {"jobs": str(process.job_request_uuid)})
        assert response.status_code == 200 and response.is_async
        seen: list[dict[str, Any]] = []
        async for chunk in response.streaming_content:
            seen += list(events(iter([chunk])))
            if len(seen) == 1:
                await sync_end(process)
        return seen

    sync_end = sync_to_async(end)
    seen = async_to_sync(follow)()
    assert [e["status"] for e in seen] == ["running", "SUCCESSFUL"]
