"""The dashboard's chart of finished and failed jobs per hour, as inline SVG written here.

Server-rendered so that it needs no script, no CDN and no chart library, and coloured by CSS
classes that `dashboard.css` maps onto the admin's own variables (`--link-fg`,
`--error-fg`, `--body-fg`), so it follows the light and dark themes as the rest of the page.
Each hour is a group with its own `<title>` (the figures on hover and for screen readers);
the whole has a `<title>` and a `<desc>` summing it up.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models.stats import Bucket

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 26, 28
LABEL_EVERY = 3  # hours between the time labels under the axis


def nice_ceiling(value: int) -> int:
    """The top of the y axis: `value` rounded up to 1, 2 or 5 times a power of ten (at least
    1), so that its middle tick is a round number too."""
    if value <= 1:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    raise AssertionError("unreachable: 10 * magnitude exceeds any value of that length")


def hour_label(bucket: Bucket, *, end: bool = False) -> str:
    """The bucket's start (or end) on the current time zone's clock: "14:00"."""
    return f"{timezone.localtime(bucket.end if end else bucket.start):%H:%M}"


def render(buckets: Sequence[Bucket], title: str) -> SafeString:
    """The chart of `buckets` as an `<svg>` element; raises ValueError without buckets."""
    if not buckets:
        raise ValueError("a chart needs at least one bucket")
    top = nice_ceiling(max(b.finished for b in buckets))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(buckets)
    bar = slot * 0.42

    def y(count: int) -> float:
        return TOP + plot_h - plot_h * count / top

    bars = []
    for i, b in enumerate(buckets):
        x = LEFT + i * slot
        bars.append(
            format_html(
                '<g class="jobkit-chart-hour"><title>{} to {}: {} finished, {} failed</title>'
                '<rect class="jobkit-chart-slot" x="{}" y="{}" width="{}" height="{}"/>'
                '<rect class="jobkit-chart-finished" x="{}" y="{}" width="{}" height="{}"/>'
                '<rect class="jobkit-chart-failed" x="{}" y="{}" width="{}" height="{}"/></g>',
                hour_label(b),
                hour_label(b, end=True),
                b.finished,
                b.failed,
                f"{x:.1f}",
                TOP,
                f"{slot:.1f}",
                plot_h,
                f"{x + slot * 0.06:.1f}",
                f"{y(b.finished):.1f}",
                f"{bar:.1f}",
                f"{TOP + plot_h - y(b.finished):.1f}",
                f"{x + slot * 0.52:.1f}",
                f"{y(b.failed):.1f}",
                f"{bar:.1f}",
                f"{TOP + plot_h - y(b.failed):.1f}",
            )
        )
    ticks = format_html_join(
        "",
        '<line class="jobkit-chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="jobkit-chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{y(v):.1f}", f"{y(v):.1f}", LEFT - 6, f"{y(v) + 4:.1f}", v)
            for v in sorted({0, top // 2, top})
        ),
    )
    hours = format_html_join(
        "",
        '<text class="jobkit-chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (f"{LEFT + i * slot:.1f}", HEIGHT - 8, hour_label(b))
            for i, b in enumerate(buckets)
            if i % LABEL_EVERY == 0
        ),
    )
    finished = sum(b.finished for b in buckets)
    failed = sum(b.failed for b in buckets)
    desc = (
        f"{finished} jobs finished and {failed} failed between {hour_label(buckets[0])} and "
        f"{hour_label(buckets[-1], end=True)}, in {len(buckets)} buckets of one hour."
    )
    legend = format_html(
        '<rect class="jobkit-chart-finished" x="{}" y="6" width="10" height="10"/>'
        '<text class="jobkit-chart-label" x="{}" y="15">finished</text>'
        '<rect class="jobkit-chart-failed" x="{}" y="6" width="10" height="10"/>'
        '<text class="jobkit-chart-label" x="{}" y="15">failed</text>'
        '<text class="jobkit-chart-label" x="{}" y="15" text-anchor="end">jobs per hour</text>',
        LEFT,
        LEFT + 14,
        LEFT + 84,
        LEFT + 98,
        WIDTH - RIGHT,
    )
    return format_html(
        '<svg class="jobkit-chart" role="img" viewBox="0 0 {} {}" width="{}" height="{}" '
        'aria-labelledby="jobkit-chart-title jobkit-chart-desc" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="jobkit-chart-title">{}</title><desc id="jobkit-chart-desc">{}</desc>'
        '{}{}<line class="jobkit-chart-axis" x1="{}" x2="{}" y1="{}" y2="{}"/>{}{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        title,
        desc,
        legend,
        ticks,
        LEFT,
        WIDTH - RIGHT,
        TOP + plot_h,
        TOP + plot_h,
        SafeString("".join(bars)),
        hours,
    )
