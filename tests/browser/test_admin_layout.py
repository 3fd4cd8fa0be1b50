"""In a real browser at 1,366 x 900: the lists fit the window (no sideways scrolling, the
table within its box), uuids shortened on one line with the whole one on hover."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
from tests.browser.pages import wait_for_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def make_results(count: int) -> None:
    now = timezone.now()
    statuses = [JobResult.Status.ERRORED, JobResult.Status.LOST, JobResult.Status.SUCCESSFUL]
    rows = []
    for i in range(count):
        request_uuid = uuid.uuid4()
        status = statuses[i % 3]
        rows.append(
            JobResult(
                job_class="example_project.media.jobs.TranscribeLongRecordingWithSpeakersJob",
                parameters={"args": [{"__jobkit__": "model", "model": "auth.user", "pk": i}]},
                job_request_uuid=request_uuid,
                root_uuid=request_uuid,
                status=status,
                error=(
                    "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='partner."
                    "example.com', port=443): Max retries exceeded with url: /v2/transcripts"
                    if status != JobResult.Status.SUCCESSFUL
                    else ""
                ),
                traceback=(
                    'Traceback (most recent call last):\n  File "jobs.py", line 3, in run\n'
                    "    partner.fetch()\nConnectionError: refused"
                    if status != JobResult.Status.SUCCESSFUL
                    else ""
                ),
                retries=3,
                retry_attempt=i % 4,
                retry_job_request_uuid=uuid.uuid4() if i % 2 else None,
                queue="gpu-transcription-large",
                worker_name="celery@gpu-worker-17.eu-west-1.compute.internal",
                started_at=now - timedelta(seconds=i * 61 + 3.25),
                ended_at=now - timedelta(seconds=i * 61),
            )
        )
    JobResult.objects.bulk_create(rows)


def make_waiting_and_running(count: int) -> None:
    now = timezone.now()
    for i in range(count):
        fields = {
            "job_class": "example_project.media.jobs.TranscribeLongRecordingWithSpeakersJob",
            "parameters": {"args": [i], "kwargs": {}},
            "job_request_uuid": uuid.uuid4(),
            "root_uuid": uuid.uuid4(),
            "queue": "gpu-transcription-large",
            "concurrency_key": f"partner-api-tenant-{i:06d}-transcription",
        }
        JobRequest.objects.create(
            **fields, start_at=now + timedelta(hours=i % 3), sent_at=None if i % 2 else now
        )
        JobProcess.objects.create(
            **{**fields, "job_request_uuid": uuid.uuid4()},
            worker_name="celery@gpu-worker-17.eu-west-1.compute.internal",
            pid=40000 + i,
            progress=0.5,
        )
        JobWorker.objects.create(
            name=f"celery@gpu-worker-{i}.eu-west-1.compute.internal",
            host=f"gpu-worker-{i}.eu-west-1.compute.internal",
            pid=i,
            queues=["default", "gpu-transcription-large", "slow"],
        )


def fits(browser: Any, selector: str = "#result_list") -> tuple[bool, str]:
    """Whether the page and the element `selector` fit the window and the element's box, and
    the widths that say so."""
    page, window, table, box = browser.execute_script(
        "const e = document.documentElement, t = document.querySelector(arguments[0]);"
        "return [e.scrollWidth, e.clientWidth, t.getBoundingClientRect().right,"
        " t.parentElement.getBoundingClientRect().right];",
        selector,
    )
    return page <= window and table <= box + 0.5, f"page {page}/{window}, table {table}/{box}"


def test_the_results_list_fits_1366_pixels_with_uuids_on_one_line(
    admin_browser: Any, live_server: Any, tmp_path: Any
) -> None:
    from selenium.webdriver.common.by import By

    make_results(50)
    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobresult/")
    wait_for_text(admin_browser, "#result_list", "will retry")

    admin_browser.save_screenshot(str(tmp_path / "results-1366.png"))
    assert admin_browser.execute_script("return window.innerWidth;") == 1366
    fit, widths = fits(admin_browser)
    assert fit, widths

    cells = admin_browser.find_elements(By.CSS_SELECTOR, "#result_list .field-request")
    assert len(cells) == 50
    for cell in cells[:5]:
        lines = admin_browser.execute_script(
            "const s = arguments[0].querySelector('.jobkit-uuid');"
            "return [s.getClientRects().length, s.textContent, s.title];",
            cell,
        )
        assert lines[0] == 1 and len(lines[1]) == 8 and len(lines[2]) == 36
        assert cell.find_element(By.TAG_NAME, "a").get_attribute("href").endswith("/change/")

    # The first result's page: its traceback in monospace, line breaks and indentation kept.
    cells[0].find_element(By.TAG_NAME, "a").click()
    wait_for_text(admin_browser, ".field-traceback_pre", "partner.fetch()")
    admin_browser.save_screenshot(str(tmp_path / "result-page-1366.png"))
    font, space, lines = admin_browser.execute_script(
        "const p = document.querySelector('.field-traceback_pre pre'), s = getComputedStyle(p);"
        "return [s.fontFamily, s.whiteSpace, p.innerText.split('\\n')];"
    )
    assert "monospace" in font and space == "pre"
    assert lines[1] == '  File "jobs.py", line 3, in run' and lines[2] == "    partner.fetch()"
    fit, widths = fits(admin_browser, "#content-main")
    assert fit, widths


def test_the_requests_processes_and_workers_lists_fit_1366_pixels(
    admin_browser: Any, live_server: Any, tmp_path: Any
) -> None:
    make_waiting_and_running(50)
    for model, text in [
        ("jobrequest", "delayed until"),
        ("jobprocess", "pid 40000"),
        ("jobworker", "alive"),
    ]:
        admin_browser.get(f"{live_server.url}/admin/django_jobkit/{model}/")
        wait_for_text(admin_browser, "#result_list", text)
        admin_browser.save_screenshot(str(tmp_path / f"{model}-1366.png"))
        fit, widths = fits(admin_browser)
        assert fit, f"{model}: {widths}"
