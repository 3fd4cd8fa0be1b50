"""In a real browser: the items a running job emits appear one by one on the admin's process
page while it runs; and the media library lists a transcription's cues."""

from __future__ import annotations

from typing import Any

import pytest

from django_jobkit.models import JobProcess, JobResult
from tests.conftest import wait_for
from tests.jobs import EmitStepsJob
from tests.media import make_speech, media_root  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]


def lines(browser: Any) -> list[str]:
    return list(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('.jobkit-output li'))"
            ".map(li => li.textContent);"
        )
    )


def test_emitted_lines_appear_while_the_job_runs(
    admin_browser, live_server, start_worker_process, tmp_path, settings
):
    settings.JOBKIT_EVENTS_POLL_INTERVAL = 0.1
    start_worker_process()
    gate = tmp_path / "gate"
    gate.mkdir()
    request = EmitStepsJob(str(gate), steps=3).run_in_worker()
    assert request is not None
    process = wait_for(lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).first())
    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobprocess/{process.pk}/change/")
    assert lines(admin_browser) == []
    for step in (1, 2):
        (gate / str(step)).touch()
        expected = [f"line {n}" for n in range(1, step + 1)]
        wait_for(lambda e=expected: lines(admin_browser) == e, what=f"line {step} on the page")
    assert JobProcess.objects.filter(pk=process.pk).exists()  # still running: shown live
    (gate / "3").touch()
    result = request.wait(20)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert [item["text"] for item in result.output] == ["line 1", "line 2", "line 3"]
    wait_for(lambda: lines(admin_browser) == ["line 1", "line 2", "line 3"], what="the last line")


@pytest.mark.usefixtures("media_root")
def test_the_media_library_lists_a_transcriptions_cues(
    admin_browser, live_server, start_worker_process, tmp_path, settings
):
    from selenium.webdriver.common.by import By

    settings.JOBKIT_EVENTS_POLL_INTERVAL = 0.1
    start_worker_process(queues=[settings.JOBKIT_GPU_QUEUE])
    media = make_speech("talk.wav", tmp_path)
    admin_browser.get(f"{live_server.url}/media-library/")
    admin_browser.find_element(
        By.CSS_SELECTOR, f"form[action='/media-library/{media.pk}/transcribe/'] button"
    ).click()
    wait_for(lambda: len(lines(admin_browser)) == 2, 60, "both cues on the page")
    first, second = lines(admin_browser)
    assert "weather" in first and "three" in second
    wait_for(lambda: status(admin_browser) == "SUCCESSFUL", 30, "the transcription's end")
    assert len(lines(admin_browser)) == 2  # the final event adds none twice
    admin_browser.save_screenshot(str(tmp_path / "media-library.png"))


def status(browser: Any) -> str | None:
    return browser.execute_script(
        "return document.querySelector('[data-jobkit-job]').getAttribute('data-jobkit-status');"
    )
