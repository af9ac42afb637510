"""Freshness: stale when the last successful load or the newest cursor is older than the job's
`freshness`, with the reason in words; the job field accepts durations only."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from etl_bigquery.engine.freshness import FRESH, STALE, evaluate
from etl_bigquery.engine.jobs.model import JobSpec

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
TWO_HOURS = dt.timedelta(hours=2)


def _check(**kwargs):
    return evaluate("orders", TWO_HOURS, "2h", now=NOW, **kwargs)


def test_a_recent_load_with_a_recent_cursor_is_fresh():
    found = _check(last_success=NOW - dt.timedelta(minutes=30), newest_cursor=NOW.date())
    assert found.status == FRESH and found.reason == "within freshness 2h"


def test_an_old_load_or_an_old_cursor_is_stale_and_says_which():
    old_load = _check(last_success=NOW - dt.timedelta(hours=5), newest_cursor=None)
    assert old_load.status == STALE
    assert old_load.reason == "last successful load 5h ago (freshness 2h)"
    old_rows = _check(
        last_success=NOW - dt.timedelta(minutes=5),
        newest_cursor=dt.datetime(2026, 12, 6, 8, 0),  # DATETIME: read as UTC
    )
    assert old_rows.status == STALE and "newest cursor value 2026-12-06 08:00:00 is 4h old" in (
        old_rows.reason
    )
    # A numeric cursor has no age: only the load clock counts.
    assert _check(last_success=NOW, newest_cursor=12345).status == FRESH


def test_a_job_that_never_loaded_is_stale_only_once_it_is_older_than_freshness():
    assert _check(last_success=None, newest_cursor=None, created=NOW).status == FRESH
    old = _check(last_success=None, newest_cursor=None, created=NOW - dt.timedelta(days=1))
    assert old.status == STALE and old.reason.startswith("no successful load yet")


def _job(**fields) -> JobSpec:
    return JobSpec.model_validate(
        {"name": "j", "connection": "c", "source": {"table": "t"},
         "destination": {"block": "b"}, **fields}
    )  # fmt: skip


def test_the_job_fields_take_durations_and_modes():
    assert _job(freshness="2h").freshness_limit == TWO_HOURS
    assert _job(freshness=90).freshness_limit == dt.timedelta(seconds=90)
    assert _job().freshness_limit is None and _job().verify == "off"
    assert _job(verify="counts").verify == "counts"
    for bad in ("soon", "0s", True):
        with pytest.raises(ValidationError, match="freshness is a duration"):
            _job(freshness=bad)
    with pytest.raises(ValidationError):
        _job(verify="sometimes")


def test_verify_since_takes_a_cursor_value_or_a_duration_back():
    from decimal import Decimal

    from etl_bigquery.engine.conform import TargetColumn
    from etl_bigquery.engine.errors import ValidationError as Invalid
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.verify.scope import since_value

    def column(kind: BqType) -> TargetColumn:
        return TargetColumn("c", "x", "c", kind)

    assert since_value("2h", column(BqType.TIMESTAMP), NOW) == NOW - TWO_HOURS
    assert since_value("1d", column(BqType.DATE), NOW) == dt.date(2026, 12, 5)
    assert since_value("2026-12-01T00:00:00", column(BqType.TIMESTAMP), NOW) == dt.datetime(
        2026, 12, 1, tzinfo=dt.UTC
    )
    assert since_value("1500", column(BqType.INT64), NOW) == 1500
    assert since_value("1.5", column(BqType.NUMERIC), NOW) == Decimal("1.5")
    with pytest.raises(Invalid, match=r"is neither a value of cursor 'c' \(INT64\)"):
        since_value("yesterday", column(BqType.INT64), NOW)
