"""Enqueue writes one request inside the caller's transaction, or nothing at all."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg.pq import TransactionStatus

from django_jobkit import Job
from django_jobkit.enqueue.service import build_request
from django_jobkit.exceptions import InvalidJobOption, InvalidJobParameter, JobNotRegistered
from django_jobkit.models import JobProcess, JobRequest
from tests.jobs import AtMostTwoPerTenantJob, EchoJob, NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_request_row_holds_job_and_falls_back_to_default_hooks():
    request = NoopJob("x", queue="q1", key="k1").run_in_worker()
    row = JobRequest.objects.get()
    assert row.pk == request.pk
    assert row.job_class == "tests.jobs.NoopJob"
    assert (row.queue, row.priority, row.retries, row.concurrency_key) == ("q1", 0, 0, "k1")
    assert row.root_uuid == row.job_request_uuid == request.uuid
    assert row.start_at is None
    assert row.parameters == {"args": ["x"], "kwargs": {"queue": "q1", "key": "k1"}}


def test_options_override_hooks():
    request = NoopJob().run_in_worker(
        queue="other", priority=-5, retries=3, retry_attempt=1, concurrency_key="c", delay=60
    )
    row = JobRequest.objects.get(pk=request.pk)
    assert (row.queue, row.priority, row.retries, row.retry_attempt) == ("other", -5, 3, 1)
    assert row.concurrency_key == "c"
    assert row.start_at > timezone.now() + dt.timedelta(seconds=55)


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"queue": ""}, InvalidJobOption, "queue=''"),
        ({"queue": 5}, InvalidJobOption, "queue=5"),
        ({"priority": "high"}, TypeError, "priority='high' has type str"),
        ({"retries": -1}, InvalidJobOption, "retries=-1"),
        ({"delay": "soon"}, TypeError, "delay='soon'"),
        ({"delay": dt.datetime(2030, 1, 1)}, InvalidJobOption, "naive"),
        ({"concurrency_key": 7}, TypeError, "concurrency_key=7"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_written(options, error, text):
    with pytest.raises(error, match=text):
        NoopJob().run_in_worker(**options)
    assert not JobRequest.objects.exists()


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        NoopJob().run_in_worker("default")  # type: ignore[misc]


def test_unstorable_argument_is_refused_and_nothing_is_written():
    with pytest.raises(InvalidJobParameter, match=r"'args\[1\]' has type builtins.set"):
        EchoJob(1, {2}).run_in_worker()
    assert not JobRequest.objects.exists()


def test_unregistered_job_is_refused():
    class Unregistered(Job):
        def run(self):
            pass

    with pytest.raises(JobNotRegistered, match="@register_job"):
        Unregistered().run_in_worker()


def test_rollback_leaves_no_request():
    with pytest.raises(RuntimeError), transaction.atomic():
        NoopJob().run_in_worker()
        assert JobRequest.objects.count() == 1
        raise RuntimeError("the view failed")
    assert not JobRequest.objects.exists()


def test_model_instances_are_stored_by_reference_and_fetched_again():
    user = User.objects.create(username="ada")
    other = User.objects.create(username="grace")
    request = EchoJob(user, [other], {"u": user, "when": dt.date(2026, 1, 1)}).run_in_worker()
    row = JobRequest.objects.get(pk=request.pk)
    assert row.parameters["args"][0] == {"__jobkit__": "model", "model": "auth.user", "pk": user.pk}
    User.objects.filter(pk=user.pk).update(username="ada lovelace")
    job = row.load_job()
    assert job.args[0].username == "ada lovelace"  # fetched again, not a stale copy
    assert job.args[1] == [other]
    assert job.args[2] == {"u": user, "when": dt.date(2026, 1, 1)}


def test_unsaved_model_instance_is_refused():
    with pytest.raises(InvalidJobParameter, match="unsaved User"):
        EchoJob(User(username="x")).run_in_worker()


def test_rich_values_round_trip_through_the_database():
    values = [dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), uuid.uuid4(), Decimal("1.10")]
    request = EchoJob(*values).run_in_worker()
    assert JobRequest.objects.get(pk=request.pk).load_job().args == tuple(values)


def test_concurrency_key_deduplicates_pending_and_running_jobs():
    first = NoopJob(key="user-1").run_in_worker()
    assert first is not None
    assert NoopJob(key="user-1").run_in_worker() is None
    assert NoopJob(key="user-2").run_in_worker() is not None
    assert NoopJob().run_in_worker() is not None and NoopJob().run_in_worker() is not None
    # Running counts too: turn the request into a process as a worker's claim would.
    request = JobRequest.objects.get(pk=first.pk)
    fields = {f.name: getattr(request, f.name) for f in JobRequest._meta.fields}
    for name in ("id", "start_at", "sent_at"):
        fields.pop(name)
    JobProcess.objects.create(**fields)
    request.delete()
    assert NoopJob(key="user-1").run_in_worker() is None
    JobProcess.objects.all().delete()
    assert NoopJob(key="user-1").run_in_worker() is not None


def test_custom_should_enqueue_policy():
    results = [AtMostTwoPerTenantJob("acme").run_in_worker() for _ in range(4)]
    assert [r is not None for r in results] == [True, True, False, False]
    assert AtMostTwoPerTenantJob("other").run_in_worker() is not None


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("BEGIN travels with the INSERT on PostgreSQL (psycopg 3) only")


def test_an_enqueue_opening_a_transaction_is_part_of_it(postgres_only):
    """`BEGIN; INSERT` in one query: the row is the transaction's, to commit or roll back."""
    with transaction.atomic():
        first = NoopJob(1).run_in_worker()
        assert connection.connection.pgconn.transaction_status == TransactionStatus.INTRANS
        second = NoopJob(2).run_in_worker()  # the transaction is open: the usual path
    assert sorted(JobRequest.objects.values_list("pk", flat=True)) == [first.pk, second.pk]
    with pytest.raises(RuntimeError), transaction.atomic():
        NoopJob(3).run_in_worker()
        assert JobRequest.objects.count() == 3
        raise RuntimeError("roll back")
    assert JobRequest.objects.count() == 2


def test_an_enqueue_failing_as_it_opens_a_transaction_raises_djangos_error(postgres_only):
    request = NoopJob().run_in_worker()
    duplicate = build_request(NoopJob())
    duplicate.job_request_uuid = request.uuid
    with pytest.raises(IntegrityError, match="jobkit_request_uuid_uniq"), transaction.atomic():
        JobRequest.objects.insert(duplicate)
    # The transaction was rolled back and the connection serves the next one.
    with transaction.atomic():
        assert NoopJob().run_in_worker() is not None
    assert JobRequest.objects.count() == 2
