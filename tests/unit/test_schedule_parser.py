"""`Schedule.from_cron`: standard cron in, occurrences out, in the schedule's time zone."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab
from django.test import override_settings

from django_jobkit import Job, Schedule
from django_jobkit.exceptions import InvalidSchedule
from django_jobkit.scheduling.entries import ScheduledJob
from django_jobkit.scheduling.schedule import occurrence_of

PARIS = ZoneInfo("Europe/Paris")


def upcoming(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    return list(schedule.upcoming(start, count))


@pytest.mark.parametrize(
    ("special", "fields"),
    [
        ("@yearly", ("0", "0", "1", "1", "*")),
        ("@annually", ("0", "0", "1", "1", "*")),
        ("@monthly", ("0", "0", "1", "*", "*")),
        ("@weekly", ("0", "0", "*", "*", "0")),
        ("@daily", ("0", "0", "*", "*", "*")),
        ("@midnight", ("0", "0", "*", "*", "*")),
        ("@hourly", ("0", "*", "*", "*", "*")),
        ("@HOURLY", ("0", "*", "*", "*", "*")),
    ],
)
def test_specials(special, fields):
    assert Schedule.from_cron(special, "UTC").fields == fields


def test_step_on_day_of_month_gives_odd_days():
    schedule = Schedule.from_cron("0 0 */2 * *", "UTC")
    assert schedule.fields[2] == ",".join(str(d) for d in range(1, 32, 2))
    days = [d.day for d in upcoming(schedule, datetime(2025, 1, 1, tzinfo=UTC), 17)]
    assert days == [3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 1, 3]


def test_lists_ranges_steps():
    schedule = Schedule.from_cron("0,30 8-18/2 * * *", "UTC")
    assert schedule.fields[:2] == ("0,30", "8,10,12,14,16,18")
    times = [d.strftime("%H:%M") for d in upcoming(schedule, datetime(2025, 1, 1, tzinfo=UTC), 4)]
    assert times == ["08:00", "08:30", "10:00", "10:30"]


def test_month_and_day_names_in_any_case_and_sunday_as_7():
    schedule = Schedule.from_cron("0 9 * JAN-mar Mon-Fri", "UTC")
    assert schedule.fields == ("0", "9", "*", "1-3", "1-5")
    assert Schedule.from_cron("0 9 * * 7", "UTC").fields[4] == "0"
    assert Schedule.from_cron("0 9 * * sun,sat", "UTC").fields[4] == "0,6"
    assert Schedule.from_cron("0 9 * * 0-7", "UTC").fields[4] == "*"
    runs = upcoming(schedule, datetime(2025, 3, 28, 12, tzinfo=UTC), 3)
    assert [d.date().isoformat() for d in runs] == ["2025-03-31", "2026-01-01", "2026-01-02"]


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    schedule = Schedule.from_cron("0 0 13 * fri", "UTC")
    runs = upcoming(schedule, datetime(2025, 6, 1, tzinfo=UTC), 6)
    # Fridays and 13ths (cron's "either"), not only Friday the 13th.
    assert [d.date().isoformat() for d in runs] == [
        "2025-06-06",
        "2025-06-13",  # a Friday and the 13th: once
        "2025-06-20",
        "2025-06-27",
        "2025-07-04",
        "2025-07-11",
    ]
    assert schedule.crontabs() == [
        {
            "minute": "0",
            "hour": "0",
            "month_of_year": "*",
            "day_of_month": "13",
            "day_of_week": "*",
        },
        {"minute": "0", "hour": "0", "month_of_year": "*", "day_of_month": "*", "day_of_week": "5"},
    ]
    # One day field restricted: one crontab, the other field "*".
    assert len(Schedule.from_cron("0 0 * * fri", "UTC").crontabs()) == 1


@pytest.mark.parametrize(
    "expression",
    [
        "0 9 * * 1-5",
        "*/15 * * * *",
        "0 0 */2 * *",
        "30 4 1,15 * *",
        "0 12 * jan-jun/2 *",
        "0 0 13 * fri",
        "5 0 * 8 sun",
        "@monthly",
    ],
)
def test_celery_crontab_fires_exactly_the_occurrences_croniter_computes(expression):
    """Beat fires the synced crontab fields: they must mean what the expression means."""
    schedule = Schedule.from_cron(expression, "Europe/Paris")
    start = datetime(2025, 3, 1, tzinfo=PARIS)
    expected = upcoming(schedule, start, 40)
    crontabs = [crontab(**fields) for fields in schedule.crontabs()]

    def celery_next(after: datetime) -> datetime:
        candidates = []
        for c in crontabs:
            begin, ends_in, _now = c.remaining_delta(after, tz=PARIS)
            candidates.append((begin + ends_in).astimezone(PARIS))
        return min(candidates)

    fired, moment = [], start
    for _ in range(40):
        moment = celery_next(moment)
        fired.append(moment)
    assert fired == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 9 * *", "has 4 fields"),
        ("0 0 9 * * *", "has 6 fields"),
        ("60 * * * *", "out of range"),
        ("0 24 * * *", "out of range"),
        ("0 0 0 * *", "out of range"),
        ("0 0 * 13 *", "out of range"),
        ("*/0 * * * *", "step"),
        ("0 0 L * *", "'l' is not a valid day of month"),
        ("0 0 15W * *", "'15w' is not a valid day of month"),
        ("0 0 * * 1#2", "'1#2' is not a valid day of week"),
        ("0 0 ? * *", "'?' is not a valid day of month"),
        ("H * * * *", "'h' is not a valid minute"),
        ("jan * * * *", "'jan' is not a valid minute"),
        ("0 0 * mon *", "'mon' is not a valid month"),
        ("0 0 * * jan", "'jan' is not a valid day of week"),
        ("0 0 1,,2 * *", "'' is not a valid day of month"),
        ("@reboot", "unknown special"),
        ("", "has 0 fields"),
    ],
)
def test_invalid_expressions_name_the_expression(expression, reason):
    with pytest.raises(InvalidSchedule) as excinfo:
        Schedule.from_cron(expression)
    assert repr(expression) in str(excinfo.value)
    assert reason in str(excinfo.value)


def test_invalid_type_and_zone():
    with pytest.raises(InvalidSchedule, match="has type int"):
        Schedule.from_cron(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule, match="unknown time zone 'Mars/Olympus'"):
        Schedule.from_cron("0 9 * * *", "Mars/Olympus")


def test_an_invalid_schedule_in_a_class_body_names_the_class_and_the_expression():
    with pytest.raises(InvalidSchedule) as excinfo:

        class NightlyReportJob(Job):
            schedule = Schedule.from_cron("0 25 * * *")

    message = str(excinfo.value)
    assert message.startswith(f"{__name__}.")
    assert "NightlyReportJob.schedule: invalid cron expression '0 25 * * *'" in message


def test_an_invalid_schedule_fails_the_import_of_its_jobs_module(tmp_path):
    source = tmp_path / "broken_jobs.py"
    source.write_text(
        "from django_jobkit import Job, Schedule\n\n\n"
        "class CleanupJob(Job):\n"
        '    schedule = Schedule.from_cron("0 9 * * fri#2")\n\n'
        "    def run(self):\n"
        "        pass\n"
    )
    spec = importlib.util.spec_from_file_location("broken_jobs", source)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(
        InvalidSchedule, match=r"broken_jobs\.CleanupJob\.schedule: .*'0 9 \* \* fri#2'"
    ):
        spec.loader.exec_module(module)
    assert "broken_jobs" not in sys.modules


def test_zone_defaults_to_time_zone_read_when_used():
    schedule = Schedule.from_cron("0 9 * * *")
    with override_settings(TIME_ZONE="Asia/Tokyo"):
        assert schedule.zone_name == "Asia/Tokyo"
        run = schedule.next_after(datetime(2024, 12, 31, 12, tzinfo=UTC))
        assert run.isoformat() == "2025-01-01T09:00:00+09:00"
    assert Schedule.from_cron("0 9 * * *", ZoneInfo("Europe/Paris")).zone_name == "Europe/Paris"


def test_a_daily_time_stays_at_its_local_hour_across_a_dst_change():
    schedule = Schedule.from_cron("0 9 * * *", "Europe/Paris")
    runs = upcoming(schedule, datetime(2025, 3, 29, 12, tzinfo=PARIS), 2)
    assert [r.isoformat() for r in runs] == [
        "2025-03-30T09:00:00+02:00",  # summer time from 02:00 that morning
        "2025-03-31T09:00:00+02:00",
    ]
    day_before = datetime(2025, 3, 29, 9, tzinfo=PARIS)
    assert runs[0].astimezone(UTC) - day_before.astimezone(UTC) == timedelta(hours=23)


def test_a_time_skipped_by_spring_forward_runs_once_right_after_the_gap():
    schedule = Schedule.from_cron("30 2 * * *", "Europe/Paris")
    runs = upcoming(schedule, datetime(2025, 3, 29, 12, tzinfo=PARIS), 3)
    assert [r.isoformat() for r in runs] == [
        "2025-03-30T03:00:00+02:00",  # 02:30 does not exist that night
        "2025-03-31T02:30:00+02:00",
        "2025-04-01T02:30:00+02:00",
    ]


def test_a_time_repeated_by_fall_back_runs_once():
    schedule = Schedule.from_cron("30 2 * * *", "Europe/Paris")
    runs = upcoming(schedule, datetime(2025, 10, 25, 12, tzinfo=PARIS), 2)
    assert [r.isoformat() for r in runs] == [
        "2025-10-26T02:30:00+02:00",  # the first 02:30; the second one (+01:00) is the same run
        "2025-10-27T02:30:00+01:00",
    ]
    second = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=PARIS)
    assert schedule.latest_at_or_before(second + timedelta(minutes=5)) == runs[0]


def test_an_hourly_schedule_follows_real_time_when_clocks_go_back():
    schedule = Schedule.from_cron("0 * * * *", "Europe/Paris")
    runs = upcoming(schedule, datetime(2025, 10, 26, 0, 30, tzinfo=PARIS), 4)
    assert [r.isoformat() for r in runs] == [
        "2025-10-26T01:00:00+02:00",
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T03:00:00+01:00",
    ]


def test_latest_at_or_before_and_occurrences_between():
    schedule = Schedule.from_cron("*/10 * * * *", "UTC")
    at = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    assert schedule.latest_at_or_before(at) == at
    assert schedule.latest_at_or_before(at + timedelta(minutes=9, seconds=59)) == at
    assert schedule.next_after(at) == at + timedelta(minutes=10)
    missed = schedule.occurrences_between(at, at + timedelta(hours=1), limit=3)
    assert [m.strftime("%H:%M") for m in missed] == ["09:40", "09:50", "10:00"]
    assert schedule.occurrences_between(at, at + timedelta(minutes=9), limit=3) == []


def test_occurrence_keys():
    schedule = Schedule.from_cron("0 9 * * *", "Europe/Paris")
    occurrence = datetime(2025, 6, 2, 9, tzinfo=PARIS)
    plain = ScheduledJob(name="a.B", job_name="a.B", schedule=schedule)
    keyed = ScheduledJob(name="a.B[eu]", job_name="a.B", schedule=schedule, key="eu")
    epoch = int(occurrence.timestamp())
    assert plain.occurrence_key(occurrence) == f"scheduled:{epoch}"
    assert keyed.occurrence_key(occurrence) == f"eu:scheduled:{epoch}"
    assert occurrence_of(keyed.occurrence_key(occurrence)) == occurrence
    assert occurrence_of("user-4") is None
    assert occurrence_of("notscheduled:12") is None
