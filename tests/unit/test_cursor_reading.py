"""The cursor rules without a server: which bound reaches which source (one decision for every
SQL dialect), the sequence rule behind a numeric cursor's lookback, the settled bound's wait, the
rows above a read's upper bound, and the job fields (issue 16, items 3, 4, 9). The same rules
run against PostgreSQL and MariaDB in tests/integration/test_cursor_reading_*.py."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError as ModelError

from etl_bigquery.engine.already_loaded import IncrementFilter
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.conform.batch import keep_rows_at_or_before
from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.fingerprint import Identity
from etl_bigquery.engine.incremental import Lookback, SequenceRule
from etl_bigquery.engine.jobs.model import DEFAULT_SETTLE_SECONDS, JobSpec, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import propose
from etl_bigquery.engine.sources import bigquery_sql, mysql_sql, postgres, sqlite
from etl_bigquery.engine.sources.base import CursorBound, ReadColumn, ReadPlan, UpperBound
from etl_bigquery.engine.sources.cursor_pushdown import Pushdown, cursor_pushdown, text_prefix
from etl_bigquery.engine.sources.settle import OpenTransaction, wait_for_open_transactions

S = BqType
BOUND = dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("dialect", "source_type", "bq_type", "expected"),
    [
        ("postgresql", "timestamp with time zone", S.TIMESTAMP, Pushdown.TYPED),
        ("postgresql", "timestamp without time zone", S.DATETIME, Pushdown.TYPED),
        ("postgresql", "date", S.DATE, Pushdown.TYPED),
        ("postgresql", "timestamptz", S.DATE, Pushdown.TYPED),  # a date bound on a timestamp
        ("postgresql", "bigint", S.INT64, Pushdown.TYPED),
        ("postgresql", "numeric(12,2)", S.NUMERIC, Pushdown.TYPED),
        ("postgresql", "text", S.TIMESTAMP, Pushdown.TEXT_PREFIX),
        ("postgresql", "character varying(40)", S.DATE, Pushdown.TEXT_PREFIX),
        ("postgresql", "text", S.INT64, Pushdown.NONE),  # digits as text: no order to push
        ("postgresql", "uuid", S.TIMESTAMP, Pushdown.NONE),
        ("mysql", "datetime(6)", S.TIMESTAMP, Pushdown.TYPED),
        ("mysql", "int unsigned", S.INT64, Pushdown.TYPED),
        ("mysql", "varchar(40)", S.TIMESTAMP, Pushdown.TEXT_PREFIX),
        ("mysql", "enum('a','b')", S.TIMESTAMP, Pushdown.NONE),
        ("sqlite", "TEXT", S.TIMESTAMP, Pushdown.TEXT_PREFIX),  # rendered with strftime
        ("sqlite", "", S.TIMESTAMP, Pushdown.TEXT_PREFIX),
        ("sqlite", "INTEGER", S.INT64, Pushdown.TYPED),
        ("bigquery", "STRING", S.TIMESTAMP, Pushdown.TEXT_PREFIX),
        ("bigquery", "TIMESTAMP", S.TIMESTAMP, Pushdown.TYPED),
        ("redshift", "character varying(40)", S.TIMESTAMP, Pushdown.NONE),  # no COLLATE "C"
        ("sqlserver", "nvarchar(40)", S.TIMESTAMP, Pushdown.NONE),  # collations reorder text
        ("sqlserver", "timestamp", S.DATETIME, Pushdown.NONE),  # rowversion, not a time
        ("sqlserver", "datetime2", S.DATETIME, Pushdown.TYPED),
        ("oracle", "number(10)", S.INT64, Pushdown.TYPED),
    ],
)
def test_a_bound_is_pushed_down_only_onto_a_column_of_the_cursor_s_own_type(
    dialect, source_type, bq_type, expected
):
    assert cursor_pushdown(ReadColumn("c", source_type, bq_type), dialect) is expected


def test_the_text_prefix_is_the_bound_s_utc_date_minus_one_day():
    assert text_prefix(BOUND) == "2026-10-31"
    east = dt.datetime(2026, 11, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert text_prefix(east) == "2026-10-30"  # 2026-10-31 20:00 UTC
    assert text_prefix(dt.date(2026, 1, 1)) == "2025-12-31"
    assert text_prefix(dt.date.min) == "0001-01-01"


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("2026-11-01T06:00:00-05:00", True),  # 11:00 UTC: what MariaDB compared as 06:00
        ("2026-11-01T23:59:00+14:00", True),  # 09:59 UTC: before the bound, kept by the prefix
        ("2026-11-01T10:00:00-12:00", True),
        ("2026-10-31T23:00:00-12:00", True),  # 2026-11-01 11:00 UTC, local date one day before
        (" 2026-11-01T12:00:00Z", True),  # leading whitespace: the load trims it
        ("2026-10-30T23:59:59Z", False),
    ],
)
def test_the_text_prefix_keeps_every_value_at_or_after_the_bound_whatever_its_offset(text, after):
    """Bytewise, as COLLATE "C", CAST(.. AS BINARY) and BigQuery compare: the prefix keeps a
    superset of the exact rows (the engine keeps the exact ones)."""
    kept = text >= text_prefix(BOUND) or text < "0"
    assert kept is after


def test_each_dialect_renders_the_text_prefix_bytewise():
    text = ReadColumn("ts", "text", S.TIMESTAMP)
    plan = ReadPlan(TableSource(table="t"), [text], CursorBound(text, BOUND))
    assert postgres.build_select(plan).endswith(
        """WHERE ("ts" COLLATE "C" >= '2026-10-31' OR "ts" COLLATE "C" < '0')"""
    )
    assert "WHERE" not in postgres.build_select(plan, "redshift")
    varchar = ReadColumn("ts", "varchar(40)", S.TIMESTAMP)
    plan = ReadPlan(TableSource(table="t"), [varchar], CursorBound(varchar, BOUND))
    assert mysql_sql.build_select(plan, "db").endswith(
        "WHERE (CAST(`ts` AS BINARY) >= '2026-10-31' OR CAST(`ts` AS BINARY) < '0')"
    )
    string = ReadColumn("ts", "STRING", S.TIMESTAMP)
    restriction = bigquery_sql.row_restriction(CursorBound(string, BOUND))
    assert restriction == "(`ts` >= '2026-10-31' OR `ts` < '0')"
    sqlite_text = ReadColumn("ts", "TEXT", S.TIMESTAMP)
    sql = sqlite.build_select(
        ReadPlan(TableSource(table="t"), [sqlite_text], CursorBound(sqlite_text, BOUND))
    )
    assert "strftime('%Y-%m-%d %H:%M:%f', \"ts\") >= " in sql  # SQLite applies the offset


def test_a_source_that_cannot_compare_the_bound_reads_whole():
    digits = ReadColumn("code", "text", S.INT64)
    plan = ReadPlan(TableSource(table="t"), [digits], CursorBound(digits, 7))
    assert "WHERE" not in postgres.build_select(plan)
    assert "WHERE" not in sqlite.build_select(plan)
    assert bigquery_sql.row_restriction(CursorBound(ReadColumn("c", "STRING", S.INT64), 7)) == ""


def test_a_settled_upper_bound_is_rendered_and_nothing_means_no_row():
    ids = ReadColumn("id", "bigint", S.INT64)
    bounded = ReadPlan(
        TableSource(table="t"), [ids], CursorBound(ids, 5), upper_bound=UpperBound(ids, 9)
    )
    assert postgres.build_select(bounded).endswith('WHERE "id" >= 5 AND "id" <= 9')
    assert mysql_sql.build_select(bounded, "db").endswith("WHERE `id` >= 5 AND `id` <= 9")
    nothing = ReadPlan(TableSource(table="t"), [ids], upper_bound=UpperBound(ids, None))
    assert postgres.build_select(nothing).endswith("WHERE FALSE")
    assert mysql_sql.build_select(nothing, "db").endswith("WHERE FALSE")


def test_rows_above_the_upper_bound_are_not_read_this_run():
    batch = pa.RecordBatch.from_pydict({"id": pa.array([3, 5, 7, None], pa.int64())})
    assert keep_rows_at_or_before(batch, "id", 5).column("id").to_pylist() == [3, 5]
    assert keep_rows_at_or_before(batch, "id", None).num_rows == 0
    spec = IncrementFilter(
        "id", Identity(("id",)), 4, None, np.array([], dtype="S16"), np.array([], dtype=np.int64),
        UpperBound(ReadColumn("id", "bigint", S.INT64), 5),
    )  # fmt: skip
    matched = spec.in_window(batch)
    assert matched.batch.column("id").to_pylist() == [5] and len(matched.identities) == 1
    assert not matched.future


# -- the sequence rule --------------------------------------------------------------------------


def _cursor(bq_type: BqType = S.INT64) -> TargetColumn:
    return TargetColumn("id", "bigint", "id", bq_type)


SETTLES = SequenceRule(True, "PostgreSQL reads up to a settled bound", settles=True)
SERIAL = SequenceRule(True, "SQLite lets one transaction write at a time")
CANNOT = SequenceRule(
    False, "MySQL/MariaDB cannot tell which (the login lacks the PROCESS privilege)",
    fix="or grant the login the PROCESS privilege",
)  # fmt: skip


def test_a_numeric_cursor_needs_no_lookback_where_the_source_settles_or_serialises_writers():
    settled = Lookback.for_job(None, _cursor(), SETTLES)
    assert settled.is_zero and settled.settles and "settled bound" in settled.reason
    serial = Lookback.for_job(None, _cursor(), SERIAL)
    assert serial.is_zero and not serial.settles and "one transaction" in serial.reason
    explicit = Lookback.for_job(100, _cursor(), SETTLES)  # a lookback and the settled bound
    assert explicit.amount == 100 and explicit.settles


@pytest.mark.parametrize("rule", [CANNOT, None])
def test_a_numeric_cursor_without_a_lookback_is_refused_where_the_source_cannot_tell(rule):
    with pytest.raises(ValidationError) as refused:
        Lookback.for_job(None, _cursor(), rule)
    sentence = refused.value.message
    assert sentence.startswith("cursor_column 'id' is a number and ")
    assert "set lookback: 0 to accept that such rows are lost" in sentence
    assert sentence.replace("e.g.", "").count(".") == 1 and sentence.endswith(".")  # one sentence
    if rule is CANNOT:
        assert sentence.endswith(", or grant the login the PROCESS privilege.")


def test_an_explicit_lookback_of_zero_is_allowed_and_says_what_it_means():
    zero = Lookback.for_job(0, _cursor(), CANNOT)
    assert zero.is_zero and not zero.settles
    assert "rows committed late below the watermark are not loaded" in zero.reason


def test_time_cursors_keep_their_defaults_with_the_reason():
    assert Lookback.for_job(None, _cursor(S.TIMESTAMP)).reason.startswith("default 10m")
    assert Lookback.for_job(None, _cursor(S.DATE)).is_zero


# -- the settled bound's wait -------------------------------------------------------------------


def test_the_wait_ends_when_every_transaction_open_at_the_start_has_ended():
    """A transaction that started after the bound was taken (another key) is not waited for."""
    listed = [
        [OpenTransaction("1/7", "pid 1", False), OpenTransaction("2/9", "pid 2", True)],
        [OpenTransaction("1/7", "pid 1", True), OpenTransaction("3/1", "pid 3", False)],
        [OpenTransaction("1/8", "pid 1", False), OpenTransaction("3/1", "pid 3", True)],
    ]
    calls = iter(listed)
    opened, still_open = wait_for_open_transactions(lambda: next(calls), 30, poll=0)
    assert opened == 2 and still_open == ()


def test_the_wait_reports_what_is_still_open_at_the_timeout_as_last_seen():
    first = OpenTransaction("1/7", "pid 1", False)
    then = OpenTransaction("1/7", "pid 1", True)  # it wrote while the run waited
    seen = [[first]]
    started = time.monotonic()
    opened, still_open = wait_for_open_transactions(
        lambda: seen.pop() if seen else [then], 0.2, poll=0.01
    )
    assert time.monotonic() - started >= 0.2
    assert opened == 1 and still_open == (then,)


def test_a_timeout_of_zero_looks_once():
    only = OpenTransaction("5/5", "pid 5", False)
    assert wait_for_open_transactions(lambda: [only], 0) == (1, (only,))


# -- job fields and types -----------------------------------------------------------------------


def _job(**fields) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "j",
            "connection": "c",
            "source": {"table": "t"},
            "load_type": "transactional",
            "cursor_column": "id",
            **fields,
        }
    )


def test_settle_timeout_is_a_duration_or_seconds():
    assert _job().settle_seconds == DEFAULT_SETTLE_SECONDS
    assert _job(settle_timeout="2m").settle_seconds == 120
    assert _job(settle_timeout=1).settle_seconds == 1
    assert _job(settle_timeout="0").settle_seconds == 0
    for bad, words in (("soon", "not a duration"), (-1, "cannot be negative")):
        with pytest.raises(ModelError, match=words):
            _job(settle_timeout=bad)
    with pytest.raises(
        ModelError, match="settle_timeout applies to transactional, merge and history jobs only"
    ):
        JobSpec.model_validate(
            {"name": "j", "connection": "c", "source": {"table": "t"}, "settle_timeout": "5s"}
        )


def test_mysql_time_is_proposed_as_text_with_the_overrides_named():
    proposal = propose("mysql", "time(6)")
    assert proposal.bq_type is S.STRING
    assert "column_types TIME keeps times of day" in proposal.warnings[0]
    seconds = mysql_sql.select_expression(ReadColumn("d", "time(6)", S.NUMERIC))
    assert seconds == "CAST(TIME_TO_SEC(`d`) AS DECIMAL(16,6)) AS `d`"
