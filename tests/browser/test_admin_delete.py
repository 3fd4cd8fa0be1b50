"""In a real browser: the admin's delete action cancels waiting jobs (a CANCELLED result) and
refuses to delete a live worker's row."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from django_jobkit.models import JobRequest, JobResult, JobWorker
from tests.browser.pages import wait_for_text
from tests.jobs import NoopJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def run_delete_action(browser: Any, url: str) -> None:
    """Tick every row of a changelist, choose the delete action and press Go."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(url)
    browser.find_element(By.ID, "action-toggle").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("delete_selected")
    browser.find_element(By.NAME, "index").click()


def test_the_delete_action_cancels_waiting_requests(admin_browser, live_server):
    from selenium.webdriver.common.by import By

    waiting = [NoopJob(i).run_in_worker(delay=3600) for i in range(2)]
    run_delete_action(admin_browser, f"{live_server.url}/admin/django_jobkit/jobrequest/")

    wait_for_text(admin_browser, "#content", "Cancel the selected job requests?")
    assert JobRequest.objects.count() == 2 and not JobResult.objects.exists()  # not yet
    admin_browser.find_element(By.CSS_SELECTOR, "input[type=submit][value^='Yes']").click()

    wait_for_text(admin_browser, "ul.messagelist", "Cancelled 2 of 2 job requests.")
    assert not JobRequest.objects.exists()
    statuses = JobResult.objects.filter(
        job_request_uuid__in=[r.job_request_uuid for r in waiting if r is not None]
    ).values_list("status", flat=True)
    assert sorted(statuses) == [JobResult.Status.CANCELLED] * 2


def test_a_live_worker_row_cannot_be_deleted(admin_browser, live_server):
    from selenium.webdriver.common.by import By

    JobWorker.objects.create(name="w1@host", host="host", pid=4242, last_seen=timezone.now())
    run_delete_action(admin_browser, f"{live_server.url}/admin/django_jobkit/jobworker/")

    wait_for_text(admin_browser, "#content", "w1@host is alive")
    assert not admin_browser.find_elements(By.CSS_SELECTOR, "input[type=submit]")
    assert JobWorker.objects.filter(name="w1@host").exists()
