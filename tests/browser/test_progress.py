"""In a real browser: the processes list's progress bar advances as a real worker's job reports
its steps (released by the test through files), then shows the job's final status."""

from __future__ import annotations

from typing import Any

import pytest

from django_jobkit.models import JobProcess
from tests.conftest import wait_for
from tests.jobs import ProgressStepsJob

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


def bar_of(browser: Any, request_uuid: Any) -> dict[str, Any]:
    """The bar of one job as the page shows it now: value (None: indeterminate) and text."""
    return dict(
        browser.execute_script(
            """
            const el = document.querySelector('[data-jobkit-job="' + arguments[0] + '"]');
            const bar = el.querySelector("progress");
            return {value: bar.hasAttribute("value") ? bar.value : null,
                    text: el.querySelector(".jobkit-progress-text").textContent,
                    status: el.getAttribute("data-jobkit-status")};
            """,
            str(request_uuid),
        )
    )


def show_bar(browser: Any, request_uuid: Any) -> None:
    """Fold the admin's sidebar and scroll the bar into view, for the screenshot."""
    from selenium.webdriver.common.by import By

    toggles = browser.find_elements(By.ID, "toggle-nav-sidebar")
    if toggles and toggles[0].is_displayed():
        toggles[0].click()
    browser.execute_script(
        "document.querySelector('[data-jobkit-job=\"' + arguments[0] + '\"]')"
        '.scrollIntoView({block: "center", inline: "center"});',
        str(request_uuid),
    )


def test_the_bar_advances_with_each_step_and_then_shows_the_end(
    admin_browser, live_server, start_worker_process, tmp_path, settings
):
    settings.JOBKIT_EVENTS_POLL_INTERVAL = 0.1
    start_worker_process()
    gate = tmp_path / "gate"
    gate.mkdir()
    request = ProgressStepsJob(str(gate), steps=4).run_in_worker()
    assert request is not None
    wait_for(lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).exists())

    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobprocess/")
    first = wait_for(lambda: bar_of(admin_browser, request.uuid)["status"], what="first event")
    assert first == "running" and bar_of(admin_browser, request.uuid)["value"] is None

    values = []
    for step in (1, 2, 3):
        (gate / str(step)).touch()
        value = wait_for(
            lambda s=step: (v := bar_of(admin_browser, request.uuid)["value"]) == s / 4 and v,
            what=f"the bar at step {step}",
        )
        values.append(value)
    assert values == sorted(values) and len(set(values)) == 3  # seen to increase, twice
    assert bar_of(admin_browser, request.uuid)["text"] == "75% step 3 of 4"
    show_bar(admin_browser, request.uuid)
    admin_browser.save_screenshot(str(tmp_path / "progress.png"))  # the test's artifact

    (gate / "4").touch()
    wait_for(
        lambda: bar_of(admin_browser, request.uuid)["status"] == "SUCCESSFUL",
        what="the job's end on the page",
    )
    shown = bar_of(admin_browser, request.uuid)
    assert shown["value"] == 1 and shown["text"] == "100% step 4 of 4 SUCCESSFUL"
    assert request.wait(10).status == "SUCCESSFUL"
    admin_browser.save_screenshot(str(tmp_path / "progress-done.png"))
