"""In a real browser, with a real worker: an operator filters the results to ERRORED, opens
one, retries it and sees the retry succeed; and cancels a running job from the processes list
and sees its result CANCELLED."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from django_jobkit.models import JobProcess, JobResult
from tests.browser.pages import wait_for_text
from tests.conftest import wait_for
from tests.jobs import FailsUntilFileJob, SlowJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


def reload_until(browser: Any, selector: str, text: str, timeout: float = 30) -> None:
    """Reload the page until `selector` holds `text`, in any case (the admin's lists are not
    live, and a status may be shown as a badge)."""
    from selenium.webdriver.common.by import By

    def shown() -> bool:
        browser.refresh()
        found = browser.find_elements(By.CSS_SELECTOR, selector)
        return any(text.lower() in e.text.lower() for e in found)

    wait_for(shown, timeout, f"{text!r} in {selector}")


def test_a_failed_job_is_retried_from_its_page(
    admin_browser, live_server, start_worker_process, fresh_queue, tmp_path: Path
):
    from selenium.webdriver.common.by import By

    queue = fresh_queue()
    start_worker_process([queue])
    fix = tmp_path / "fixed"
    request = FailsUntilFileJob(str(fix), queue=queue).run_in_worker()
    assert request.wait(timeout=30).status == JobResult.Status.ERRORED

    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobresult/")
    admin_browser.find_element(By.LINK_TEXT, "Errored").click()
    wait_for(lambda: "status__exact=ERRORED" in admin_browser.current_url, 20, "the filter")
    rows = admin_browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    rows[0].find_element(By.CSS_SELECTOR, "th a").click()

    fix.write_text("the operator fixed it")
    submit = "#jobkit-retry-form input[type=submit]"
    wait_for(lambda: admin_browser.find_elements(By.CSS_SELECTOR, submit), 20, "the button")
    admin_browser.find_element(By.CSS_SELECTOR, submit).click()
    message = wait_for_text(admin_browser, "ul.messagelist", "Retried 1 job result:")
    assert "attempt 1" in message

    admin_browser.find_element(By.LINK_TEXT, "all attempts").click()
    reload_until(admin_browser, "#result_list", "Successful")
    attempts = JobResult.objects.filter(root_uuid=request.root_uuid).order_by("retry_attempt")
    assert [(r.retry_attempt, r.status) for r in attempts] == [
        (0, JobResult.Status.ERRORED),
        (1, JobResult.Status.SUCCESSFUL),
    ]
    assert attempts[0].retry_job_request_uuid == attempts[1].job_request_uuid
    assert attempts[1].return_value == "fixed"


def test_a_running_job_is_cancelled_from_the_processes_list(
    admin_browser, live_server, start_worker_process, fresh_queue
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    queue = fresh_queue()
    start_worker_process([queue])
    request = SlowJob(60, queue=queue).run_in_worker()
    wait_for(lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).exists(), 30, "start")

    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobprocess/")
    admin_browser.find_element(By.ID, "action-toggle").click()
    Select(admin_browser.find_element(By.NAME, "action")).select_by_visible_text(
        "Cancel selected job processes"
    )
    admin_browser.find_element(By.NAME, "index").click()
    wait_for_text(admin_browser, "#content", "Cancel the selected job processes?")
    admin_browser.find_element(By.CSS_SELECTOR, "input[type=submit][value^='Yes']").click()
    wait_for_text(admin_browser, "ul.messagelist", "Cancelled 1 of 1 job processes.")

    result = request.wait(timeout=20)
    assert result.status == JobResult.Status.CANCELLED and result.duration < 20
    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobresult/?status__exact=CANCELLED")
    # The list shows a uuid by its first 8 characters (the whole one on hover).
    reload_until(admin_browser, "#result_list", str(request.uuid)[:8])
