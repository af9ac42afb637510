"""Merge and history pieces that need no service: the keyed filter's decisions, the partition
filter's text, delete periods, the table clock and the job model's rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from etl_bigquery.engine.bigquery import merge_sql
from etl_bigquery.engine.bigquery.merge_sql import Col, MergeShape, Partitions
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import DeleteCheck, JobSpec
from etl_bigquery.engine.merge.deletes import period_of
from etl_bigquery.engine.merge.hashes import key_digests, row_digests
from etl_bigquery.engine.merge.keyed_filter import KeyedFilter
from etl_bigquery.engine.merge.window import KeyedState, KeyedWindow
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.service.job_files import parse_job

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 5, 10, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _batch(ids: list[int | None], notes: list[str], cursors: list[dt.datetime | None]):
    return pa.RecordBatch.from_arrays(
        [pa.array(ids, pa.int64()), pa.array(notes), pa.array(cursors, TS)],
        names=["id", "note", "updated_at"],
    )


def _window(rows: list[tuple[int, str, dt.datetime, bool]]) -> KeyedWindow:
    """The table's versions: (id, note, cursor, deleted)."""
    batch = _batch([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    keys = key_digests(batch, ["id"])
    order = np.argsort(keys)
    stamps = np.full(len(rows), 1, dtype=np.int64)
    return KeyedWindow(
        keys[order], row_digests(batch, ["id", "note", "updated_at"])[order],
        batch.column("updated_at").take(pa.array(order)), stamps[order],
        np.array([r[3] for r in rows])[order],
    )  # fmt: skip


def test_the_keyed_filter_stages_exactly_the_versions_that_win():
    window = _window([
        (1, "a", T0, False),  # held as is
        (2, "b", T0, False),  # same cursor, other content in the source
        (3, "c", T0, False),  # newer in the source
        (4, "d", T0, False),  # older in the source: the writer moved its cursor back
        (5, "e", T0, True),  # soft-deleted, back in the source
    ])  # fmt: skip
    spec = KeyedFilter("updated_at", ("id",), ("id", "note", "updated_at"), None, window)
    later, earlier = T0 + dt.timedelta(seconds=1), T0 - dt.timedelta(seconds=1)
    source = _batch(
        [1, 2, 3, 4, 5, 6, None, 7],
        ["a", "B", "c", "d", "e", "f", "no key", "no cursor"],
        [T0, T0, later, earlier, T0, earlier, T0, None],
    )
    decision = spec.decide(source)
    assert decision.staged.column("id").to_pylist() == [2, 3, 5, 6]
    assert decision.held == 1 and decision.went_back == 1
    assert decision.went_back_example == {"id": 4}
    assert [r.reason for r in decision.rejected] == [
        "key column 'id' is NULL",
        "cursor column 'updated_at' is NULL",
    ]
    assert decision.staged.schema.names[-2:] == ["_etl_key_hash", "_etl_row_hash"]
    assert all(len(h) == 32 for h in decision.staged.column("_etl_row_hash").to_pylist())


def test_rows_before_the_reads_lower_bound_are_dropped():
    spec = KeyedFilter("updated_at", ("id",), ("id",), T0, KeyedWindow.empty(TS))
    decision = spec.decide(_batch([1, 2], ["a", "b"], [T0 - dt.timedelta(days=1), T0]))
    assert decision.staged.column("id").to_pylist() == [2]


SHAPE = MergeShape(
    target=TableRef("p", "d", "orders"),
    keys=(Col("id", BqType.INT64),),
    cursor=Col("updated_at", BqType.TIMESTAMP),
    loaded=("id", "note", "updated_at"),
    partition=Col("updated_at", BqType.TIMESTAMP),
)


def test_the_partition_filter_is_constant_ranges_of_whole_days_on_the_partitioning_column():
    days = (dt.date(2026, 1, 3), dt.date(2026, 1, 4), dt.date(2026, 1, 9))
    text = merge_sql.partition_filter("T", SHAPE.partition, Partitions(days, null=True))
    assert text == (
        "((T.`updated_at` >= TIMESTAMP '2026-01-03 00:00:00+00' AND "
        "T.`updated_at` < TIMESTAMP '2026-01-05 00:00:00+00') OR "
        "(T.`updated_at` >= TIMESTAMP '2026-01-09 00:00:00+00' AND "
        "T.`updated_at` < TIMESTAMP '2026-01-10 00:00:00+00') OR T.`updated_at` IS NULL)"
    )
    dates = merge_sql.partition_filter("T", Col("d", BqType.DATE), Partitions(days[:2]))
    assert dates == "(T.`d` BETWEEN DATE '2026-01-03' AND DATE '2026-01-04')"


def test_the_merge_updates_only_with_a_later_version_and_writes_typed_nulls():
    text = merge_sql.merge_sql(SHAPE, TableRef("p", "d", "stage"), Partitions((T0.date(),)))
    assert "QUALIFY ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `updated_at` DESC, " in text
    assert "WHEN MATCHED AND ((S.`updated_at` > T.`updated_at`" in text
    assert "_etl_deleted_at = CAST(NULL AS TIMESTAMP)" in text
    assert "= NULL" not in text and "BEGIN TRANSACTION" not in text
    assert "AND ((T.`updated_at` >= TIMESTAMP '2026-01-05 00:00:00+00'" in text.split("WHEN")[0]


def test_delete_checks_have_one_period_per_hour_day_week_or_run():
    now = dt.datetime(2026, 1, 5, 13, 7, tzinfo=UTC)
    assert period_of(DeleteCheck.HOURLY, now) == "hour-2026010513"
    assert period_of(DeleteCheck.DAILY, now) == "day-20260105"
    assert period_of(DeleteCheck.WEEKLY, now) == "week-2026W02"
    assert period_of(DeleteCheck.EVERY_RUN, now) != period_of(
        DeleteCheck.EVERY_RUN, now + dt.timedelta(microseconds=1)
    )


def test_the_table_clock_never_goes_back_even_when_this_machine_is_behind():
    ahead = T0 + dt.timedelta(hours=1)
    state = KeyedState(T0, 10, ahead, 10)
    assert state.next_stamp(T0) == ahead + dt.timedelta(microseconds=1)
    assert state.next_stamp(ahead + dt.timedelta(hours=1)) == ahead + dt.timedelta(hours=1)
    assert KeyedState(None, 0, None, 0).next_stamp(T0) == T0


BASE = {"name": "orders", "connection": "shop", "source": {"table": "orders"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"load_type": "merge"}, "a merge job needs cursor_column"),
        ({"deletes": "soft"}, "deletes apply to merge and history jobs only"),
        ({"load_type": "history", "cursor_column": "u", "partition_column": "c"},
         "partition_column applies to merge jobs only"),
        ({"load_type": "merge", "cursor_column": "u", "max_deleted": "150%"},
         "max_deleted '150%' is more than 100%"),
    ],
)  # fmt: skip
def test_merge_fields_are_refused_with_one_sentence_naming_the_field(change, message):
    with pytest.raises(ConfigurationError) as error:
        parse_job({**BASE, **change}, "job.yaml")
    assert message in str(error.value)


def test_a_merge_job_dumped_with_its_defaults_validates_again():
    job = JobSpec.model_validate({**BASE, "load_type": "merge", "cursor_column": "u"})
    assert JobSpec.model_validate_json(job.model_dump_json(by_alias=True)) == job
    catalog = JobSpec.model_validate(BASE)
    assert JobSpec.model_validate_json(catalog.model_dump_json(by_alias=True)) == catalog
