"""In a real browser: the dashboard is opened from the Jobs section of the admin's index,
shows the counts and the chart, replaces a count in place when a new result is written, and
follows the light and the dark theme; a failed job's page shows its real traceback."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from django_jobkit.admin import dashboard
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
from tests.browser.pages import wait_for_text
from tests.conftest import wait_for
from tests.jobs import FailingJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ERRORED = JobResult.Status.ERRORED


def fields(**values: Any) -> dict[str, Any]:
    request_uuid = uuid.uuid4()
    return {
        "parameters": {"args": [], "kwargs": {}},
        "job_request_uuid": request_uuid,
        "root_uuid": request_uuid,
        **values,
    }


def make_day() -> None:
    """A day of results in a shape an operator would know: steady work, a bad hour."""
    now = timezone.now()
    classes = [
        "example_project.demo.jobs.SendWelcomeEmail",
        "example_project.demo.jobs.Thumbnail",
        "example_project.demo.jobs.TranscribeJob",
    ]
    rows = []
    for hour in range(24):
        for i in range(3 + (hour * 7) % 9):
            failed = (hour == 5 and i < 4) or i == 7
            ended = now - timedelta(hours=hour, minutes=(i * 13) % 60)
            rows.append(
                JobResult(
                    **fields(
                        job_class=classes[i % 3],
                        status=ERRORED if failed else JobResult.Status.SUCCESSFUL,
                        ended_at=ended,
                        started_at=ended - timedelta(seconds=0.2 + (i % 3) * 1.7 + hour % 4),
                        queue="gpu" if i % 3 == 2 else "default",
                    )
                )
            )
    JobResult.objects.bulk_create(rows)
    for i in range(6):
        JobRequest.objects.create(
            **fields(
                job_class=classes[i % 3],
                queue=["default", "gpu"][i % 2],
                created_at=now - timedelta(minutes=2 * i + 1),
            )
        )
    JobRequest.objects.create(**fields(job_class=classes[0], start_at=now + timedelta(hours=2)))
    JobProcess.objects.create(**fields(job_class=classes[2], queue="gpu"))
    JobWorker.objects.create(name="celery@web-1", host="web-1", pid=101, queues=["default"])
    JobWorker.objects.create(name="celery@gpu-1", host="gpu-1", pid=202, queues=["gpu"])


def whole_page(browser: Any, path: Path, height: int | None = None) -> None:
    """A screenshot of the whole page (or its top `height` px) at the window's width, 1,366
    px, not only what the window shows."""
    import base64

    height = height or browser.execute_script("return document.documentElement.scrollHeight;")
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1366, "height": height, "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def errored_last_hour(browser: Any) -> str:
    return str(
        browser.execute_script(
            "const row = [...document.querySelectorAll('#jobkit-statuses tbody tr')]"
            ".find(r => r.textContent.includes('Errored'));"
            "return row ? row.querySelectorAll('td')[0].textContent : '';"
        )
    )


def colours(browser: Any) -> dict[str, str]:
    return dict(
        browser.execute_script(
            "const label = document.querySelector('.jobkit-chart-label');"
            "const bar = document.querySelector('.jobkit-chart-finished');"
            "return {page: getComputedStyle(document.body).backgroundColor,"
            "        text: getComputedStyle(document.body).color,"
            "        label: getComputedStyle(label).fill, bar: getComputedStyle(bar).fill};"
        )
    )


def test_the_dashboard_from_the_index_refreshes_in_place_in_both_themes(
    admin_browser, live_server, tmp_path: Path, monkeypatch
):
    from selenium.webdriver.common.by import By

    monkeypatch.setattr(dashboard, "REFRESH_SECONDS", 1)
    make_day()
    admin_browser.get(f"{live_server.url}/admin/")
    admin_browser.find_element(By.CSS_SELECTOR, ".app-django_jobkit caption a").click()
    wait_for_text(admin_browser, "#jobkit-dashboard-link", "Dashboard")
    admin_browser.find_element(By.CSS_SELECTOR, "#jobkit-dashboard-link th a").click()
    wait_for_text(admin_browser, "#jobkit-now", "waiting requests")

    assert admin_browser.find_element(By.ID, "jobkit-waiting").text == "6"
    assert admin_browser.find_element(By.ID, "jobkit-delayed").text == "1"
    assert admin_browser.find_element(By.ID, "jobkit-running").text == "1"
    assert admin_browser.find_element(By.ID, "jobkit-live-workers").text == "2"
    svg = admin_browser.find_element(By.CSS_SELECTOR, "svg.jobkit-chart")
    assert svg.size["width"] > 600 and svg.size["height"] > 150
    assert len(svg.find_elements(By.CSS_SELECTOR, "g.jobkit-chart-hour")) == 24
    assert "TranscribeJob" in admin_browser.find_element(By.ID, "jobkit-classes").text
    whole_page(admin_browser, tmp_path / "dashboard.png")

    # A new failure shows up without a reload: the marker set on this page survives.
    before = errored_last_hour(admin_browser)
    admin_browser.execute_script("window.jobkitSamePage = true;")
    JobResult.objects.create(**fields(job_class="tests.jobs.FailingJob", status=ERRORED))
    wait_for(
        lambda: errored_last_hour(admin_browser) == str(int(before) + 1),
        30,
        "the refreshed Errored count",
    )
    assert admin_browser.execute_script("return window.jobkitSamePage === true;")

    # The theme: the chart's labels and bars take the admin's colours, light and dark.
    light = colours(admin_browser)
    admin_browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    dark = colours(admin_browser)
    assert light["page"] != dark["page"] and light["label"] != dark["label"]
    assert light["label"] == light["text"] and dark["label"] == dark["text"]
    assert light["bar"] != dark["bar"]  # --link-fg differs between the themes
    whole_page(admin_browser, tmp_path / "dashboard-dark.png")

    # Coming back to a hidden tab refreshes at once: with an hour between refreshes, the new
    # count can only come from the tab's return.
    monkeypatch.setattr(dashboard, "REFRESH_SECONDS", 3600)
    admin_browser.refresh()
    wait_for_text(admin_browser, "#jobkit-now", "waiting requests")
    before = errored_last_hour(admin_browser)
    JobResult.objects.create(**fields(job_class="tests.jobs.FailingJob", status=ERRORED))
    admin_browser.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'));"
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'));"
    )
    wait_for(
        lambda: errored_last_hour(admin_browser) == str(int(before) + 1),
        20,
        "the count refreshed as the tab came back",
    )


@pytest.mark.worker
def test_a_failed_jobs_page_shows_its_traceback(
    admin_browser, live_server, start_worker_process, fresh_queue, tmp_path: Path
):
    queue = fresh_queue()
    start_worker_process([queue])
    request = FailingJob("partner API answered 503").run_in_worker(queue=queue)
    assert request is not None
    failed = request.wait(timeout=30)
    assert failed.status == ERRORED
    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobresult/{failed.pk}/change/")
    shown = wait_for_text(admin_browser, ".field-traceback_pre", "Traceback")
    assert "partner API answered 503" in shown
    # From the page's top to the end of the traceback, with the navigation folded away.
    bottom = admin_browser.execute_script(
        "document.getElementById('toggle-nav-sidebar').click();"
        "const box = document.querySelector('.field-traceback_pre').getBoundingClientRect();"
        "return Math.ceil(box.bottom + window.scrollY) + 12;"
    )
    whole_page(admin_browser, tmp_path / "result.png", bottom)
