"""The jobs list's filters and health mark, the runs filter over several statuses, and the
progress lines, without a server (pure functions over plain values)."""

from __future__ import annotations

import datetime as dt
import re

from etl_bigquery.service.jobs import JobStatus, filter_jobs
from etl_bigquery.service.progress import Watcher
from etl_bigquery.ui_extension.runs import RunView, active_jobs, filter_runs


def _job(name: str, *, state="Enabled", kind="daily", last=None, connection="shop") -> JobStatus:
    return JobStatus(
        name=name, source=f"{connection}: main.t", destination="bq: ds.t", load_type="catalog",
        schedule=kind, timezone="UTC", next_run=None, state=state, last_status=last,
        connection=connection, schedule_kind=kind,
    )  # fmt: skip


def test_health_marks_and_filters():
    jobs = [
        _job("ok", last="Completed"),
        _job("broken", last="Failed"),
        _job("crashed", last="Crashed", kind="hourly"),
        _job("held", state="Paused", last="Completed"),
        _job("by-hand", kind="manual", connection="crm"),
    ]
    assert {j.name: j.health for j in jobs} == {
        "ok": "scheduled", "broken": "failed", "crashed": "failed", "held": "paused",
        "by-hand": "manual",
    }  # fmt: skip
    names = lambda **f: [j.name for j in filter_jobs(jobs, **f)]  # noqa: E731
    assert names(status="failed") == ["broken", "crashed"]
    assert names(status="never") == ["by-hand"]
    assert names(status="paused") == ["held"]
    assert names(connection="crm") == ["by-hand"]
    assert names(connection="bq") == [j.name for j in jobs]  # the destination block too
    assert names(schedule="manual") == ["by-hand"]
    assert names(schedule="hourly") == ["crashed"]
    assert names(schedule="scheduled") == ["ok", "broken", "crashed", "held"]
    assert names(health="failed", schedule="daily") == ["broken"]
    assert _job("x").to_dict()["health"] == "scheduled"


def _run(state: str, name: str, job: str = "a") -> RunView:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    return RunView(id=f"{job}-{name}", job=job, state_type=state, state_name=name,
                   start_time=now, duration_seconds=1.0)  # fmt: skip


def test_several_statuses_and_active_jobs():
    runs = [_run("COMPLETED", "Completed"), _run("FAILED", "Failed"),
            _run("COMPLETED", "Skipped"), _run("RUNNING", "Running", job="b")]  # fmt: skip
    assert [r.status for r in filter_runs(runs, status=["completed", "failed"])] == [
        "completed", "failed"
    ]  # fmt: skip
    assert len(filter_runs(runs, status=[])) == 4 and len(filter_runs(runs, status="")) == 4
    assert active_jobs(runs) == {"b"}


def test_progress_lines_say_each_change_once_with_rows_per_second():
    lines: list[str] = []
    watcher = Watcher(lines.append)
    task = lambda name, state, at: {"name": name, "state": {"name": state},  # noqa: E731
                                    "expected_start_time": at}  # fmt: skip
    watcher.update([task("init-1a", "Completed", "1"), task("extract-2b", "Running", "2")], [])
    watcher.update([task("init-1a", "Completed", "1"), task("extract-2b", "Running", "2")],
                   [{"description": "Extracting: 1,000 rows read of about 5,000"}])  # fmt: skip
    assert lines == ["  init: Completed", "  extract: Running",
                     "  extract: 1,000 rows read of about 5,000"]  # fmt: skip
    watcher.rows = (watcher.rows[0] - 2, watcher.rows[1])  # two seconds ago
    watcher.update([], [{"description": "Extracting: 3,000 rows read of about 5,000"}])
    assert lines[-1].startswith("  extract: 3,000 rows read of about 5,000, ")
    assert re.fullmatch(r"  extract: 3,000 rows read of about 5,000, [\d,]+ rows/s", lines[-1])


def test_the_cursor_recommended_is_an_updated_timestamp_then_a_created_one():
    from etl_bigquery.ui_extension.wizard import cursor_choice

    columns = [("id", "INT64"), ("name", "STRING"), ("created_at", "TIMESTAMP"),
               ("updated_at", "TIMESTAMP"), ("day", "DATE"), ("payload", "JSON")]  # fmt: skip
    ranked = sorted((choice[0], name) for name, bq_type in columns
                    if (choice := cursor_choice(name, bq_type, nullable=False)))  # fmt: skip
    assert [name for _, name in ranked] == ["updated_at", "created_at", "day", "id"]
    assert cursor_choice("updated_at", "TIMESTAMP", False)[1].startswith("recommended")
    assert "nullable" in cursor_choice("modified", "DATETIME", True)[1]
    assert cursor_choice("name", "STRING") is None
