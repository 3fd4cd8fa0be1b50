"""The admin's dashboard: its figures from rows made here (counts by window, hour buckets on
the local clock, queues, percentiles), who may see it, and a constant number of queries."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from django_jobkit.admin import dashboard
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker, stats

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("admin:django_jobkit_dashboard")
NOW = datetime(2026, 12, 2, 18, 32, 19, tzinfo=UTC)
OK, ERRORED, LOST = JobResult.Status.SUCCESSFUL, JobResult.Status.ERRORED, JobResult.Status.LOST


def fields(**values):
    request_uuid = uuid.uuid4()
    return {
        "job_class": "tests.jobs.NoopJob",
        "parameters": {"args": [], "kwargs": {}},
        "job_request_uuid": request_uuid,
        "root_uuid": request_uuid,
        **values,
    }


def result(ended_at, status=OK, seconds=None, **values) -> JobResult:
    started = None if seconds is None else ended_at - timedelta(seconds=seconds)
    return JobResult.objects.create(
        **fields(status=status, ended_at=ended_at, started_at=started, **values)
    )


def text(page) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.content.decode()))


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_results_are_counted_by_status_over_the_last_hour_and_the_last_day():
    result(NOW - timedelta(minutes=10))
    result(NOW - timedelta(minutes=59))
    result(NOW - timedelta(minutes=5), ERRORED)
    result(NOW - timedelta(hours=5))
    result(NOW - timedelta(hours=23, minutes=59), LOST)
    result(NOW - timedelta(hours=25), ERRORED)  # before the day
    result(NOW + timedelta(minutes=1))  # after now: not yet part of the figures
    counts = stats.status_counts(NOW)
    assert counts[OK] == (2, 3)
    assert counts[ERRORED] == (1, 1)
    assert counts[LOST] == (0, 1)
    assert counts[JobResult.Status.CANCELLED] == (0, 0)


def test_buckets_follow_the_local_clock_and_a_boundary_opens_the_later_one(settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    kolkata = ZoneInfo("Asia/Kolkata")
    with timezone.override(kolkata):
        bounds = stats.hour_boundaries(NOW)  # NOW is 00:02 on 3 December there
    assert bounds[-1].astimezone(kolkata) == datetime(2026, 12, 3, 1, tzinfo=kolkata)
    result(bounds[-2])  # the last bucket's first instant
    result(bounds[-2] - timedelta(microseconds=1), ERRORED)  # the one before's last
    result(bounds[3] + timedelta(minutes=20), LOST)
    result(bounds[3] + timedelta(minutes=21))
    result(bounds[0] - timedelta(seconds=1))  # before the chart
    found = stats.buckets(bounds)
    assert len(found) == 24
    assert (found[-1].finished, found[-1].failed) == (1, 0)
    assert (found[-2].finished, found[-2].failed) == (1, 1)
    assert (found[3].finished, found[3].failed) == (2, 1)
    assert sum(b.finished for b in found) == 4
    assert found[3].start == bounds[3] and found[3].end == bounds[4]


def test_queues_show_depth_oldest_waiting_delayed_and_running():
    created = NOW - timedelta(minutes=30)
    JobRequest.objects.create(**fields(queue="default", created_at=created))
    JobRequest.objects.create(
        **fields(
            queue="default",
            created_at=NOW - timedelta(hours=2),
            start_at=NOW - timedelta(minutes=40),
        )
    )  # delayed until 40 min ago: it has waited since then
    JobRequest.objects.create(**fields(queue="default", start_at=NOW + timedelta(hours=1)))
    JobRequest.objects.create(**fields(queue="slow", created_at=NOW - timedelta(minutes=3)))
    JobProcess.objects.create(**fields(queue="default"))
    JobProcess.objects.create(**fields(queue="gpu"))
    rows = {q.name: q for q in stats.queues(NOW)}
    assert list(rows) == ["default", "gpu", "slow"]
    assert (rows["default"].waiting, rows["default"].delayed, rows["default"].running) == (2, 1, 1)
    assert rows["default"].oldest_waiting == NOW - timedelta(minutes=40)
    assert (rows["gpu"].waiting, rows["gpu"].running, rows["gpu"].oldest_waiting) == (0, 1, None)
    assert (rows["slow"].waiting, rows["slow"].running) == (1, 0)


def test_job_classes_show_runs_failure_rate_and_percentiles_of_their_durations():
    for i in range(1, 11):  # 1 s .. 10 s, the longest two failed
        result(NOW - timedelta(minutes=i), ERRORED if i > 8 else OK, seconds=i, job_class="a.Slow")
    result(NOW - timedelta(minutes=1), OK, seconds=0.5, job_class="b.Quick")
    result(NOW - timedelta(minutes=2), JobResult.Status.CANCELLED, job_class="b.Quick")  # never ran
    result(NOW - timedelta(hours=30), ERRORED, seconds=99, job_class="b.Quick")  # before the day
    rows = {c.job_class: c for c in stats.job_classes(NOW)}
    assert list(rows) == ["a.Slow", "b.Quick"]  # most runs first
    slow = rows["a.Slow"]
    assert (slow.runs, slow.failed, slow.failure_rate) == (10, 2, 0.2)
    assert slow.p50 == pytest.approx(5.5) and slow.p95 == pytest.approx(9.55)
    quick = rows["b.Quick"]
    assert (quick.runs, quick.failed, quick.p50, quick.p95) == (2, 0, 0.5, 0.5)
    # The percentiles come from the latest results of the window only: here the three latest.
    bounded = {c.job_class: c for c in stats.job_classes(NOW, sample=3)}
    assert bounded["a.Slow"].runs == 10  # counted over the whole window all the same
    assert bounded["a.Slow"].p50 == pytest.approx(1.5)  # the 1 s and 2 s runs (and b.Quick's)


def test_the_page_shows_the_figures(admin_client):
    now = timezone.now()
    result(now - timedelta(minutes=1), ERRORED, seconds=2, job_class="tests.jobs.FailingJob")
    result(now - timedelta(minutes=2), OK, seconds=1)
    JobRequest.objects.create(**fields(queue="slow", created_at=now - timedelta(minutes=5)))
    JobRequest.objects.create(**fields(start_at=now + timedelta(hours=1)))
    JobProcess.objects.create(**fields(queue="slow"))
    JobWorker.objects.create(name="celery@box1", host="box1", pid=10, queues=["default", "slow"])
    JobWorker.objects.create(
        name="celery@gone",
        host="box2",
        pid=11,
        queues=["default"],
        last_seen=now - timedelta(days=1),
    )
    page = admin_client.get(DASHBOARD)
    assert page.status_code == 200
    html = page.content.decode()
    shown = text(page)
    assert re.search(r'id="jobkit-waiting">1<', html) and re.search(r'id="jobkit-delayed">1<', html)
    assert re.search(r'id="jobkit-running">1<', html)
    assert "Errored 1 1" in shown and "Successful 1 1" in shown and "Lost 0 0" in shown
    assert "slow 1 5 min 0 1" in shown  # waiting, oldest waiting, delayed, running
    assert "celery@box1 default, slow" in shown and "celery@gone" not in shown
    assert "FailingJob 1 1 100.0% 2.000 s 2.000 s" in shown
    assert "NoopJob 1 0 0.0% 1.000 s 1.000 s" in shown
    assert '<svg class="jobkit-chart" role="img"' in html
    assert "Jobs finished and failed per hour, last 24 hours</title>" in html
    assert 'data-jobkit-refresh="10"' in html and "django_jobkit/dashboard.js" in html


def test_the_fragment_is_the_content_alone(admin_client):
    result(timezone.now() - timedelta(minutes=1))
    page = admin_client.get(DASHBOARD, {"fragment": "1"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" not in html and "jobkit-dashboard-grid" in html
    assert "Successful 1 1" in text(page)


def test_the_jobs_section_of_the_index_links_to_it(admin_client):
    page = admin_client.get(reverse("admin:app_list", kwargs={"app_label": "django_jobkit"}))
    assert f'href="{DASHBOARD}"' in page.content.decode()
    assert "Job results" in text(page)  # the stock list of the records is still there


def test_anonymous_users_are_sent_to_the_login_page(client):
    page = client.get(DASHBOARD)
    assert page.status_code == 302 and page["Location"].startswith(reverse("admin:login"))


def test_staff_without_every_view_permission_get_403_and_no_link(client):
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    views = Permission.objects.filter(
        content_type__app_label="django_jobkit", codename__startswith="view_job"
    ).exclude(codename="view_joblock")
    user.user_permissions.add(*views.exclude(codename="view_jobworker"))
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403
    index = client.get(reverse("admin:app_list", kwargs={"app_label": "django_jobkit"}))
    assert f'href="{DASHBOARD}"' not in index.content.decode()

    user.user_permissions.add(*views)
    user = User.objects.get(pk=user.pk)  # permissions are cached on the object
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 200


def test_the_number_of_queries_does_not_grow_with_the_rows(
    admin_client, django_assert_max_num_queries
):
    now = timezone.now()
    for i in range(60):
        result(
            now - timedelta(minutes=i * 20),
            ERRORED if i % 7 == 0 else OK,
            seconds=i % 5,
            job_class=f"tests.jobs.Job{i % 6}",
            queue=f"q{i % 4}",
        )
        JobRequest.objects.create(**fields(queue=f"q{i % 5}"))
    for i in range(8):
        JobProcess.objects.create(**fields(queue=f"q{i % 3}"))
        JobWorker.objects.create(name=f"celery@w{i}", host="h", pid=i, queues=["q0"])
    admin_client.get(DASHBOARD)  # sessions and the user warmed, as on any page after the first
    # session, user, then 7: status counts, the chart, requests and processes by queue, live
    # workers, the classes' totals and their durations.
    with django_assert_max_num_queries(9):
        page = admin_client.get(DASHBOARD)
    assert len(page.context["classes"]) == 6 and len(page.context["queues"]) == 5
    with django_assert_max_num_queries(7):
        dashboard.figures(now)
