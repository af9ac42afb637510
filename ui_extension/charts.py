"""The dashboard's charts as inline SVG, drawn on the server (no chart library, no CDN).

Both charts are plain functions of the runs, so a page renders without JavaScript and a test can
count what was drawn: one <circle class="bubble"> per run in the bubble chart.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from etl_bigquery.ui_extension.runs import RunView, format_duration

COLOURS = {
    "completed": "#15803d",
    "partial": "#c2410c",
    "failed": "#b91c1c",
    "running": "#1d4ed8",
    "skipped": "#6b7280",
    "cancelled": "#6b7280",
    "pending": "#6b7280",
}
MIN_RADIUS, MAX_RADIUS = 4.0, 14.0
WIDTH = 960  # the duration chart spans the page; the bubble chart half of it
BUBBLE_WIDTH = 680
LEFT, RIGHT, TOP, BOTTOM = 150, 24, 20, 40


def _x(when: dt.datetime, start: dt.datetime, end: dt.datetime, width: int = WIDTH) -> float:
    share = (when - start).total_seconds() / max((end - start).total_seconds(), 1)
    return LEFT + share * (width - LEFT - RIGHT)


def _short(name: str, size: int = 18) -> str:  # what fits in LEFT at the label font
    return name if len(name) <= size else name[: size - 1] + "…"


def radius(duration: float | None, low: float, high: float) -> float:
    """Duration scaled linearly from the window's shortest to longest run: 4 to 14 px."""
    if duration is None or high <= low:
        return (MIN_RADIUS + MAX_RADIUS) / 2 if duration is not None else MIN_RADIUS
    share = min(max((duration - low) / (high - low), 0.0), 1.0)
    return MIN_RADIUS + share * (MAX_RADIUS - MIN_RADIUS)


def _day_ticks(start: dt.datetime, end: dt.datetime, height: float, width: int) -> list[str]:
    parts = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    while day < end:
        x = _x(day, start, end, width)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{height - BOTTOM}" class="grid"/>'
            f'<text x="{x:.1f}" y="{height - BOTTOM + 18}" class="tick" text-anchor="middle">'
            f"{day:%b %d}</text>"
        )
        day += dt.timedelta(days=1)
    return parts


def bubble_chart(runs: Sequence[RunView], now: dt.datetime, days: int = 5) -> Markup:
    """x: when the run started; y: the job; size: duration; colour: status; hollow: 0 rows."""
    start = now - dt.timedelta(days=days)
    shown = [r for r in runs if r.start_time and r.start_time >= start]
    if not shown:
        return Markup('<p class="empty">No job runs in the last 5 days.</p>')
    jobs = sorted({r.job for r in shown})
    row = 34
    height = TOP + row * len(jobs) + BOTTOM
    durations = [r.duration_seconds for r in shown if r.duration_seconds is not None]
    low, high = (min(durations), max(durations)) if durations else (0.0, 0.0)
    parts = [
        f'<svg class="chart bubbles" viewBox="0 0 {BUBBLE_WIDTH} {height}" role="img" '
        f'aria-label="Runs of the last {days} days: {len(shown)} runs of {len(jobs)} jobs">',
        *_day_ticks(start, now, height, BUBBLE_WIDTH),
    ]
    for index, job in enumerate(jobs):
        y = TOP + row * index + row / 2
        parts.append(
            f'<line x1="{LEFT}" y1="{y}" x2="{BUBBLE_WIDTH - RIGHT}" y2="{y}" class="lane"/>'
            f'<text x="{LEFT - 10}" y="{y + 4}" class="label" text-anchor="end">'
            f"<title>{escape(job)}</title>{escape(_short(job))}</text>"
        )
    for run in sorted(shown, key=lambda r: -(r.duration_seconds or 0)):  # small ones on top
        assert run.start_time is not None
        x, y = (
            _x(run.start_time, start, now, BUBBLE_WIDTH),
            TOP + row * jobs.index(run.job) + row / 2,
        )
        colour = COLOURS.get(run.status, "#6b7280")
        hollow = not run.rows_loaded
        fill = "#ffffff" if hollow else colour
        rows = "—" if run.rows_loaded is None else f"{run.rows_loaded:,}"
        tip = (
            f"{run.job}\n{run.start_time:%b %d, %H:%M} UTC\n"
            f"Duration: {format_duration(run.duration_seconds)}\nRows: {rows}\n"
            f"Status: {run.state_name}"
        )
        parts.append(
            f'<circle class="bubble status-{run.status}{" hollow" * hollow}" '
            f'data-run="{run.id}" cx="{x:.1f}" cy="{y:.1f}" '
            f'r="{radius(run.duration_seconds, low, high):.1f}" fill="{fill}" '
            f'fill-opacity="{0.35 if hollow else 0.8}" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def duration_chart(runs: Sequence[RunView], now: dt.datetime, days: int = 30) -> Markup:
    """One lane per job: each finished run's duration over the last `days` days, joined by a
    line, on the job's own scale (its longest run is written at the right)."""
    start = now - dt.timedelta(days=days)
    shown = [
        r for r in runs if r.start_time and r.start_time >= start and r.duration_seconds is not None
        and r.status != "running"
    ]  # fmt: skip
    if not shown:
        return Markup('<p class="empty">No finished runs in the last 30 days.</p>')
    jobs = sorted({r.job for r in shown})
    lane = 56
    height = TOP + lane * len(jobs) + BOTTOM
    parts = [
        f'<svg class="chart durations" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="Run durations over the last {days} days, per job">',
    ]
    # Weekly ticks keep 30 days readable.
    tick = start.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    while tick < now:
        x = _x(tick, start, now)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{height - BOTTOM}" class="grid"/>'
        )
        if (now - tick).days % 7 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{height - BOTTOM + 18}" class="tick" '
                f'text-anchor="middle">{tick:%b %d}</text>'
            )
        tick += dt.timedelta(days=1)
    for index, job in enumerate(jobs):
        top = TOP + lane * index
        bottom = top + lane - 10
        mine = sorted((r for r in shown if r.job == job), key=lambda r: r.start_time)  # type: ignore[arg-type, return-value]
        longest = max(r.duration_seconds or 0 for r in mine) or 1
        # A log scale: one long run would flatten the others on a linear one.
        scale = (lane - 18) / math.log1p(longest)
        points = [
            (_x(r.start_time, start, now),  # type: ignore[arg-type]
             bottom - math.log1p(r.duration_seconds or 0) * scale, r)
            for r in mine
        ]  # fmt: skip
        parts.append(
            f'<text x="{LEFT - 10}" y="{top + lane / 2}" class="label" text-anchor="end">'
            f"<title>{escape(job)}</title>{escape(_short(job))}</text>"
            f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" class="lane"/>'
            f'<text x="{WIDTH - RIGHT}" y="{top + 8}" class="tick" text-anchor="end">'
            f"max {format_duration(longest)} (log scale)</text>"
        )
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" class="trend"/>')
        for x, y, run in points:
            tip = (
                f"{run.job} {run.start_time:%b %d %H:%M} UTC: "
                f"{format_duration(run.duration_seconds)}, {run.state_name}"
            )
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                f'fill="{COLOURS.get(run.status, "#6b7280")}"><title>{escape(tip)}</title></circle>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
