"""The dashboard's pure pieces: hour buckets on the local clock, percentiles as PostgreSQL's
`percentile_cont` computes them, the chart's axis and its accessible text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from django_jobkit.admin import chart
from django_jobkit.models.stats import Bucket, hour_boundaries, percentile


def test_boundaries_end_with_the_hour_now_is_in_and_step_one_hour():
    now = datetime(2026, 12, 2, 18, 32, 19, tzinfo=UTC)
    bounds = hour_boundaries(now, hours=24, zone=UTC)
    assert len(bounds) == 25
    assert bounds[-1] == datetime(2026, 12, 2, 19, tzinfo=UTC)
    assert bounds[0] == datetime(2026, 12, 1, 19, tzinfo=UTC)
    assert {b - a for a, b in pairwise(bounds)} == {timedelta(hours=1)}


def test_a_zone_half_an_hour_off_utc_gets_its_own_clock_hours():
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30
    now = datetime(2026, 12, 2, 18, 10, tzinfo=UTC)  # 23:40 there
    bounds = hour_boundaries(now, hours=2, zone=kolkata)
    assert [b.astimezone(kolkata).strftime("%H:%M") for b in bounds] == ["22:00", "23:00", "00:00"]
    assert bounds[-1] == datetime(2026, 12, 2, 18, 30, tzinfo=UTC)


def test_each_bucket_is_one_real_hour_across_the_clocks_going_back():
    berlin = ZoneInfo("Europe/Berlin")  # 2026-10-25 03:00 CEST becomes 02:00 CET
    now = datetime(2026, 10, 25, 3, 30, tzinfo=UTC)  # 04:30 CET
    bounds = hour_boundaries(now, hours=4, zone=berlin)
    local = [b.astimezone(berlin).strftime("%H:%M") for b in bounds]
    assert local == ["02:00", "02:00", "03:00", "04:00", "05:00"]  # 02:00 CEST, then CET
    assert {b - a for a, b in pairwise(bounds)} == {timedelta(hours=1)}


def test_naive_times_and_empty_charts_are_refused_by_name():
    with pytest.raises(ValueError, match="naive"):
        hour_boundaries(datetime(2026, 12, 2, 18))
    with pytest.raises(ValueError, match="hours=0"):
        hour_boundaries(datetime(2026, 12, 2, 18, tzinfo=UTC), hours=0)
    with pytest.raises(ValueError, match="at least one bucket"):
        chart.render([], "nothing")


def test_percentiles_interpolate_between_ranks():
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0.5) == 2.5
    assert percentile(values, 0.95) == pytest.approx(3.85)
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError, match="between 0 and 1"):
        percentile(values, 95)


@pytest.mark.parametrize(("top", "axis"), [(0, 1), (1, 1), (7, 10), (12, 20), (41, 50), (500, 500)])
def test_the_axis_top_is_a_round_number(top, axis):
    assert chart.nice_ceiling(top) == axis


def test_the_chart_names_both_series_every_hour_and_escapes_its_title():
    start = datetime(2026, 12, 2, 16, tzinfo=UTC)
    buckets = [
        Bucket(start, start + timedelta(hours=1), 12, 3),
        Bucket(start + timedelta(hours=1), start + timedelta(hours=2), 5, 0),
    ]
    with timezone.override(UTC):
        svg = str(chart.render(buckets, "Jobs <per hour>"))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert '<title id="jobkit-chart-title">Jobs &lt;per hour&gt;</title>' in svg
    assert "17 jobs finished and 3 failed between 16:00 and 18:00" in svg
    assert "<title>16:00 to 17:00: 12 finished, 3 failed</title>" in svg
    assert svg.count('class="jobkit-chart-finished"') == 3  # two bars and the legend's key
    assert svg.count('class="jobkit-chart-failed"') == 3
    assert ">20</text>" in svg and ">10</text>" in svg  # the y axis: 0, 10, 20
