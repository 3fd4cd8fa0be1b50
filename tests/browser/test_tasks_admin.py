"""In a real browser, with a real worker: a task of Django's tasks framework shows in the admin
like any job, under its function's name, and an operator's Retry there continues its result:
`get_result` follows it to SUCCESSFUL."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_jobkit._compat.tasks import require
from tests import tasks
from tests.browser.pages import wait_for_text
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

Status = require().TaskResultStatus


def test_a_failed_task_is_found_and_retried_in_the_admin(
    admin_browser, live_server, start_worker_process, fresh_queue, tmp_path: Path
):
    from selenium.webdriver.common.by import By

    queue = fresh_queue()
    start_worker_process([queue])
    fix = tmp_path / "fixed"
    result = tasks.fails_until_file.using(queue_name=queue).enqueue(str(fix))
    wait_for(
        lambda: tasks.fails_until_file.get_result(result.id).status == Status.FAILED,
        30,
        "the task to fail",
    )

    admin_browser.get(f"{live_server.url}/admin/django_jobkit/jobresult/?q={result.id}")
    rows = admin_browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1
    # Its function's name, as a job class's is shown: short, the whole path on hover.
    name = rows[0].find_element(By.CSS_SELECTOR, "span[title='tests.tasks.fails_until_file']")
    assert name.text == "fails_until_file"
    rows[0].find_element(By.CSS_SELECTOR, "th a").click()
    wait_for_text(admin_browser, "#content", "FileNotFoundError")

    fix.write_text("the operator fixed it")
    submit = "#jobkit-retry-form input[type=submit]"
    wait_for(lambda: admin_browser.find_elements(By.CSS_SELECTOR, submit), 20, "the button")
    admin_browser.find_element(By.CSS_SELECTOR, submit).click()
    wait_for_text(admin_browser, "ul.messagelist", "Retried 1 job result:")

    def succeeded() -> bool:
        return tasks.fails_until_file.get_result(result.id).status == Status.SUCCESSFUL

    wait_for(succeeded, 30, "the retried task to succeed")
    done = tasks.fails_until_file.get_result(result.id)
    assert done.return_value == "fixed"
    assert done.attempts == 2
    assert [e.exception_class_path for e in done.errors] == ["builtins.FileNotFoundError"]
