"""How the admin writes times, durations, uuids and errors, and reads a scheduled job's key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from django_jobkit import timetext
from django_jobkit.admin import display
from django_jobkit.admin.results import outcome
from django_jobkit.models import JobResult
from django_jobkit.scheduling.firings import Firing, firing_of

NOW = datetime(2026, 12, 2, 18, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(0), "now"),
        (timedelta(seconds=-12), "12 s ago"),
        (timedelta(minutes=-3, seconds=-59), "3 min ago"),
        (timedelta(hours=2, minutes=30), "in 2 h"),
        (timedelta(hours=-47), "47 h ago"),
        (timedelta(days=3, hours=5), "in 3 d"),
    ],
)
def test_relative_times_use_the_largest_whole_unit(offset, text):
    assert timetext.relative(NOW + offset, NOW) == text


def test_absolute_times_are_to_the_second_with_the_zone():
    moment = datetime(2026, 7, 1, 12, 0, 5, 999_000, tzinfo=UTC)
    with timezone.override(ZoneInfo("Europe/Paris")):
        assert timetext.absolute(moment) == "2026-07-01 14:00:05 CEST"
    assert timetext.absolute(moment) == "2026-07-01 12:00:05 UTC"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.0042, "0.004 s"), (12.34, "12.3 s"), (125, "2 min 5 s"), (7384, "2 h 3 min")],
)
def test_durations(seconds, text):
    assert timetext.duration(seconds) == text


def test_a_uuid_is_shortened_with_the_whole_one_on_hover():
    value = uuid.UUID("0f8e4c1a-1234-4bcd-9abc-0123456789ab")
    html = str(display.short_uuid(value))
    assert 'title="0f8e4c1a-1234-4bcd-9abc-0123456789ab"' in html
    assert ">0f8e4c1a</span>" in html and "white-space:nowrap" in html


@pytest.mark.parametrize(
    ("error", "name", "summary"),
    [
        ("ConnectionError: refused\nsecond line", "ConnectionError", "refused"),
        ("requests.exceptions.HTTPError: 502", "requests.exceptions.HTTPError", "502"),
        ("its worker child was stopped (SIGTERM)", "", "its worker child was stopped (SIGTERM)"),
        ("ValueError: " + "x" * 100, "ValueError", "x" * 69 + "…"),
        ("", "", ""),
    ],
)
def test_an_error_is_split_into_its_class_and_a_one_line_summary(error, name, summary):
    assert display.error_class(error) == name
    assert display.error_summary(error) == summary


def test_an_error_cell_escapes_the_message():
    html = str(display.error_cell("ValueError: <script>"))
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(
    ("status", "next_attempt", "text"),
    [
        ("ERRORED", uuid.uuid4(), "will retry"),
        ("ERRORED", None, "final"),
        ("LOST", uuid.uuid4(), "will retry"),
        ("LOST", None, "final"),
        ("SUCCESSFUL", None, ""),
        ("CANCELLED", None, ""),
    ],
)
def test_a_failed_attempt_will_retry_only_with_a_next_attempt_recorded(status, next_attempt, text):
    assert outcome(JobResult(status=status, retry_job_request_uuid=next_attempt)) == text


@pytest.mark.parametrize(
    ("key", "firing"),
    [
        ("scheduled:1764662400", Firing("a.B", datetime(2025, 12, 2, 8, 0, tzinfo=UTC))),
        ("eu:scheduled:1764662400", Firing("a.B[eu]", datetime(2025, 12, 2, 8, 0, tzinfo=UTC))),
        ("x:y:scheduled:60", Firing("a.B[x:y]", datetime(1970, 1, 1, 0, 1, tzinfo=UTC))),
        ("", None),
        ("user-5", None),
        ("scheduled:soon", None),
        ("eunscheduled:60", None),
    ],
)
def test_the_occurrence_of_a_scheduled_job_is_read_from_its_concurrency_key(key, firing):
    assert firing_of("a.B", key) == firing


def test_stored_json_is_indented_and_escaped_with_model_references_linked():
    from django_jobkit.admin.json_view import pretty

    html = str(
        pretty(
            {
                "args": ["<b>bold</b>", {"__jobkit__": "model", "model": "auth.user", "pk": 3}],
                "kwargs": {"k": {"__jobkit__": "model", "model": "sessions.session", "pk": "x"}},
            }
        )
    )
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>" not in html
    assert '\n    <a href="/admin/auth/user/3/change/" title="auth.user pk=3">' in html
    assert "/admin/sessions/" not in html  # not registered: shown, not linked
    assert html.count("<a ") == 1


def test_children_summary_lists_each_childs_device_and_resources():
    from django_jobkit.admin.workers import children_summary

    html = children_summary(
        {
            "1": {"pid": 12, "device": "GPU-ab<c>", "resources": [{"key": "stt:en", "hits": 4}]},
            "0": {"pid": 11, "device": None, "resources": []},
        }
    )
    assert str(html) == (
        "#0 pid 11 · no resources loaded<br>#1 pid 12 · GPU GPU-ab&lt;c&gt; · stt:en (4 reuses)"
    )
    assert "jobkit-empty" in children_summary({})
    assert "jobkit-empty" in children_summary(None)


def test_emitted_items_are_listed_as_lines():
    from django_jobkit.admin.progress import output_list

    html = output_list("u-1", ["plain", {"text": "a <cue>"}, {"n": 1}], "/events/")
    assert 'data-jobkit-job="u-1"' in html and 'class="jobkit-output"' in html
    assert "<li>plain</li><li>a &lt;cue&gt;</li><li>{&quot;n&quot;: 1}</li>" in html
    assert '<ol class="jobkit-output"></ol>' in output_list("u-2", None, "/events/")
