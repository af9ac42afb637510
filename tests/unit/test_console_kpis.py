"""The console's figures over runs, without a server (ui_extension.runs)."""

from __future__ import annotations

import datetime as dt

from etl_bigquery.ui_extension.charts import bubble_chart, radius
from etl_bigquery.ui_extension.runs import (
    RunView,
    ScheduledJob,
    compute_kpis,
    filter_runs,
    order_scheduled,
    stage_bar,
    success_band,
)

NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)


def _run(state: str, name: str, rows: int | None = 0, seconds: float | None = 10.0, job="a",
         connection="shop", hours_ago: float = 1) -> RunView:  # fmt: skip
    return RunView(
        id=f"{job}-{state}-{name}-{rows}-{seconds}-{hours_ago}", job=job, state_type=state,
        state_name=name, start_time=NOW - dt.timedelta(hours=hours_ago),
        duration_seconds=seconds, connection=connection, rows_loaded=rows,
    )  # fmt: skip


def test_kpis_count_partial_as_successful_and_skipped_as_neither():
    runs = [
        _run("COMPLETED", "Completed", rows=100, seconds=10),
        _run("COMPLETED", "Partial", rows=50, seconds=20),
        _run("COMPLETED", "Skipped", rows=None, seconds=0.5),
        _run("FAILED", "Failed", rows=0, seconds=3),
        _run("CRASHED", "Crashed", rows=None, seconds=None),
        _run("RUNNING", "Running", rows=None, seconds=4),
    ]
    kpis = compute_kpis(runs)
    assert (kpis.total, kpis.successful, kpis.failed) == (6, 2, 2)
    assert kpis.success_rate == 33.3 and kpis.band == "red"
    assert kpis.rows_migrated == 150  # rows of successful runs only
    assert kpis.avg_duration_seconds == 15.0  # over successful runs


def test_kpis_of_no_runs_are_empty_not_zero_percent():
    kpis = compute_kpis([])
    assert (kpis.total, kpis.success_rate, kpis.avg_duration_seconds) == (0, None, None)
    assert kpis.band == "none"


def test_success_bands_follow_the_spec():
    assert [success_band(r) for r in (100, 95.0, 94.9, 80.0, 79.9, 0)] == [
        "green", "green", "yellow", "yellow", "red", "red",
    ]  # fmt: skip


def test_stage_bar_marks_the_failed_stage_and_what_was_not_reached():
    bar = stage_bar({"init": "COMPLETED", "validate": "COMPLETED"}, "failed", "validation")
    assert bar == {"init": "completed", "validate": "failed", "extract": "not-reached",
                   "load": "not-reached"}  # fmt: skip
    crashed = stage_bar({"init": "COMPLETED", "validate": "COMPLETED"}, "failed", None)
    assert crashed["extract"] == "failed"
    live = stage_bar({"init": "COMPLETED", "validate": "RUNNING"}, "running", None)
    assert live == {"init": "completed", "validate": "running", "extract": "not-reached",
                    "load": "not-reached"}  # fmt: skip


def test_filters_by_job_status_and_connection():
    runs = [_run("COMPLETED", "Completed", job="orders"),
            _run("FAILED", "Failed", job="orders", connection="crm"),
            _run("COMPLETED", "Completed", job="products")]  # fmt: skip
    assert len(filter_runs(runs, query="ORD")) == 2
    assert [r.job for r in filter_runs(runs, status="failed")] == ["orders"]
    assert [r.status for r in filter_runs(runs, connection="crm")] == ["failed"]


def test_scheduled_jobs_enabled_by_next_run_then_paused_by_name():
    jobs = [
        ScheduledJob("zeta", "Daily", None, "Paused", "1"),
        ScheduledJob("late", "Daily", "2026-11-23T09:00+01:00", "Enabled", "2"),
        ScheduledJob("early", "Daily", "2026-11-23T09:00+02:00", "Enabled", "3"),
        ScheduledJob("manual", "Manual", None, "Enabled", "4"),
        ScheduledJob("Alpha", "Daily", None, "Paused", "5"),
    ]
    assert [j.name for j in order_scheduled(jobs)] == ["early", "late", "manual", "Alpha", "zeta"]


def test_bubble_chart_draws_one_bubble_per_recent_run_hollow_without_rows():
    runs = [_run("COMPLETED", "Completed", rows=10, seconds=5, hours_ago=2),
            _run("FAILED", "Failed", rows=0, seconds=60, hours_ago=3),
            _run("COMPLETED", "Completed", rows=10, seconds=5, hours_ago=24 * 6)]  # fmt: skip
    svg = str(bubble_chart(runs, NOW))
    assert svg.count('<circle class="bubble') == 2  # the 6-day-old run is outside the window
    assert svg.count(" hollow") == 1
    assert radius(5, 5, 60) == 4.0 and radius(60, 5, 60) == 14.0
