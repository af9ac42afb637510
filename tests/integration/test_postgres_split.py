"""`split` of the reader protocol on PostgreSQL: the units of a read, read one by one, give back
exactly the rows of the whole read (no row lost, none twice), by cursor ranges and by hash
buckets of the key (the Dataflow path's units)."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from etl_bigquery.engine.jobs.model import TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import (
    CursorBound,
    CursorRange,
    HashBucket,
    ReadColumn,
    ReadPlan,
)
from etl_bigquery.engine.sources.postgres import PostgresReader, PostgresSettings


@pytest.fixture()
def reader(pg_admin, pg_schema):
    pg_admin.execute(
        f'CREATE TABLE "{pg_schema}".events (id bigint PRIMARY KEY, at timestamptz, note text)'
    )
    pg_admin.execute(
        f"""INSERT INTO "{pg_schema}".events
            SELECT g, timestamptz '2026-01-01 00:00:00+00' + (g / 7) * interval '1 minute',
                   CASE WHEN g % 11 = 0 THEN NULL ELSE 'n' || g END
            FROM generate_series(1, 2000) g"""
    )
    with PostgresReader(PostgresSettings("127.0.0.1", 5432, "test", "postgres", None)) as opened:
        yield opened, pg_schema


def _rows(reader: PostgresReader, plan: ReadPlan) -> collections.Counter:
    found: collections.Counter = collections.Counter()
    for batch in reader.read(plan):
        found.update(zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)),
                         strict=True))  # fmt: skip
    return found


def _plan(schema: str, bound: dt.datetime | None) -> ReadPlan:
    columns = [
        ReadColumn("id", "bigint", BqType.INT64),
        ReadColumn("at", "timestamptz", BqType.TIMESTAMP),
        ReadColumn("note", "text", BqType.STRING),
    ]
    lower = CursorBound(columns[1], bound) if bound is not None else None
    return ReadPlan(TableSource(schema=schema, table="events"), columns, lower)


@pytest.mark.parametrize("units", [2, 5])
def test_cursor_ranges_cover_the_increment_exactly_once(reader, units):
    opened, schema = reader
    plan = _plan(schema, dt.datetime(2026, 1, 1, 1, tzinfo=dt.UTC))
    parts = opened.split(plan, units)
    assert len(parts) > 1 and all(isinstance(p.unit, CursorRange) for p in parts)
    union: collections.Counter = collections.Counter()
    for part in parts:
        union.update(_rows(opened, part))
    assert union == _rows(opened, plan)
    assert max(union.values()) == 1


def test_hash_buckets_of_the_key_cover_the_table_exactly_once(reader):
    opened, schema = reader
    plan = _plan(schema, None)
    parts = opened.split(plan, 4, key_columns=["id"])
    assert [p.unit.bucket for p in parts] == [0, 1, 2, 3]
    assert all(isinstance(p.unit, HashBucket) for p in parts)
    sizes = [sum(_rows(opened, part).values()) for part in parts]
    assert sum(sizes) == 2000 and min(sizes) > 0
    union: collections.Counter = collections.Counter()
    for part in parts:
        union.update(_rows(opened, part))
    assert union == _rows(opened, plan)


def test_one_unit_is_the_plan_itself(reader):
    opened, schema = reader
    plan = _plan(schema, None)
    assert opened.split(plan, 1) == [plan]
