"""The contract every registered source type keeps, run over `engine.sources.registry.SOURCES`.

A source type registered tomorrow is in every test below at once, and fails until it has a
`live_<type>` fixture (tests/contract/conftest.py) and a line in `ABILITIES`. Behaviours:
- the registry entry resolves: reader class, settings class, type mapper, query dialect;
- the reader implements exactly the ability protocols declared for it here;
- describe: the contract columns, with native types the registry's type mapper maps as expected;
- read: the three rows, through the engine's conformer;
- cursor bound: a read with a lower bound keeps only the rows at or after it, in the source
  where the reader pushes the bound down (PushesDownCursor), else after the engine's filter;
- empty source: no rows and no error (or "does not exist" where a store has no empty
  collections);
- bad value: a value that cannot load is rejected alone, the other rows load;
- each declared ability does what its protocol says on the live source.
Types no server of which can run here (SQL Server, Synapse, Oracle, Snowflake, Db2, Teradata)
run the first two and skip the rest by name. Firestore runs on Google's own emulator; MongoDB
and Cassandra are reached through in-process FAKES (mongomock, mockylla), because no server of
theirs can run on this machine either; see conftest.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pytest

from etl_bigquery.engine.conform import Conformer, RejectedRow, RunStamp, TargetColumn
from etl_bigquery.engine.conform.batch import keep_rows_at_or_after
from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.schema.typemap import TypeProposal
from etl_bigquery.engine.sources.abilities import (
    CanSplit,
    EstimatesRead,
    ListsFiles,
    PushesDownCursor,
    ReadsInStreams,
    RejectsRecords,
    SampledSchema,
    SamplesColumns,
    SerialWriters,
    SettlesCursor,
    SharesSnapshot,
    SplitsFiles,
    TableCatalog,
    TypedArrowOutput,
    WarnsOfWriteAccess,
    abilities_of,
)
from etl_bigquery.engine.sources.base import (
    CursorBound,
    ReadColumn,
    ReadPlan,
    SourceReader,
    UpperBound,
)
from etl_bigquery.engine.sources.query_check import check_query
from etl_bigquery.engine.sources.registry import SOURCES, by_dialect
from tests.contract.live import CURSOR, IDS, NAMES, LiveSource

TYPES = sorted(SOURCES)
NO_SERVER = ("sqlserver", "synapse", "oracle", "snowflake", "db2", "teradata")

_SQL = {PushesDownCursor, TableCatalog}
_TYPED_SQL = {PushesDownCursor, TypedArrowOutput, TableCatalog, WarnsOfWriteAccess}
_DOCUMENTS = {PushesDownCursor, SampledSchema, TableCatalog}
_FILES = {ListsFiles, RejectsRecords, SplitsFiles, EstimatesRead}
_BIGQUERY = {PushesDownCursor, TypedArrowOutput, SamplesColumns, TableCatalog, ReadsInStreams}
_BIGQUERY |= {EstimatesRead}
ABILITIES: dict[str, set[type]] = {
    "postgresql": _TYPED_SQL | {CanSplit, SharesSnapshot, EstimatesRead, SettlesCursor},
    # No hashtextextended: no split; no virtualxid locks: a numeric cursor needs a lookback.
    "redshift": _TYPED_SQL | {EstimatesRead},
    "mysql": _TYPED_SQL | {CanSplit, SettlesCursor},  # settles with the PROCESS privilege
    "mariadb": _TYPED_SQL | {CanSplit, SettlesCursor},
    "sqlite": _SQL | {SerialWriters},
    **{key: _SQL for key in NO_SERVER},  # SQLAlchemy: values put into Arrow by their type
    "bigquery": _BIGQUERY,
    "firestore": _DOCUMENTS,
    "mongodb": _DOCUMENTS,
    "dynamodb": _DOCUMENTS,
    "cassandra": _DOCUMENTS - {SampledSchema},  # declares its columns
    "redis": _DOCUMENTS - {PushesDownCursor},  # cannot compare values: the engine filters
    **{key: _FILES for key in ("gcs", "s3", "azure_blob", "local")},
}


def _live(request: pytest.FixtureRequest, key: str) -> LiveSource:
    if key in NO_SERVER:
        pytest.skip(f"no {key} server can run on this machine")
    try:
        return request.getfixturevalue(f"live_{key}")
    except pytest.FixtureLookupError:
        pytest.fail(
            f"source type '{key}' has no contract fixture: add live_{key} to "
            "tests/contract/conftest.py (a reader opened through the registry on the contract's "
            "rows)"
        )


def _read_columns(
    key: str, reader: SourceReader, source: Any, read_as: dict | None = None
) -> list[ReadColumn]:
    """The described columns, each read as the registry's type mapper proposes (or as
    `read_as` says: the destination table's type)."""
    entry = SOURCES[key]
    return [
        ReadColumn(
            c.name,
            c.source_type,
            (read_as or {}).get(c.name) or entry.propose(c.source_type).bq_type,
        )
        for c in reader.describe(source)
    ]


def _conformed(
    reader: SourceReader, plan: ReadPlan, bound: Any = None
) -> tuple[list[dict[str, Any]], list[RejectedRow], list[pa.Schema]]:
    """Read `plan` through the engine's conformer: (rows, rejected, the read's batch schemas);
    `bound`: keep only rows at or after it, as the engine does after conforming."""
    targets = [TargetColumn(c.name, c.source_type, c.name, c.bq_type) for c in plan.columns]
    conformer = Conformer(targets, RunStamp("contract", dt.datetime.now(dt.UTC)))
    rows: list[dict[str, Any]] = []
    rejected: list[RejectedRow] = []
    schemas = []
    for batch in reader.read(plan):
        schemas.append(batch.schema)
        good, bad = conformer.conform(batch)
        if bound is not None:
            good = keep_rows_at_or_after(good, CURSOR, bound)
        rows += good.to_pylist()
        rejected += bad
    if isinstance(reader, RejectsRecords):
        rejected += reader.take_rejected()
    return rows, rejected, schemas


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return sorted(int(row["id"]) for row in rows)


# -- what needs no server -------------------------------------------------------------------------


@pytest.mark.parametrize("key", TYPES)
def test_the_registry_entry_resolves_its_reader_settings_type_mapper_and_dialect(key: str):
    entry = SOURCES[key]
    assert issubclass(entry.reader_class(), SourceReader)
    assert isinstance(entry.settings_class(), type)
    for type_text in ("integer", "text", "timestamp", "a type no source has"):
        assert isinstance(entry.propose(type_text), TypeProposal)
    assert by_dialect(entry.dialect).type_mapper == entry.type_mapper  # one mapping per dialect
    if entry.query is None:
        with pytest.raises(ValidationError, match="not supported"):
            check_query("SELECT 1 AS x", entry.dialect)
    else:
        assert check_query("SELECT 1 AS x;", entry.dialect) == "SELECT 1 AS x"
        with pytest.raises(ValidationError):
            check_query("DELETE FROM t", entry.dialect)


@pytest.mark.parametrize("key", TYPES)
def test_the_reader_implements_exactly_its_declared_abilities(key: str):
    assert key in ABILITIES, f"declare the abilities of '{key}' in ABILITIES"
    reader_class = SOURCES[key].reader_class()
    assert set(abilities_of(reader_class)) == {a.__name__ for a in ABILITIES[key]}


# -- on a live source -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", TYPES)
def test_describe_gives_the_columns_with_native_types(request, key: str):
    live = _live(request, key)
    described = {c.name: c for c in live.reader.describe(live.items)}
    assert {"id", "name", CURSOR} <= set(described)
    mapped = {n: SOURCES[key].propose(described[n].source_type).bq_type for n in live.types}
    assert mapped == live.types
    assert live.reader.dialect == SOURCES[key].dialect


@pytest.mark.parametrize("key", TYPES)
def test_read_gives_every_row(request, key: str):
    live = _live(request, key)
    plan = ReadPlan(live.items, _read_columns(key, live.reader, live.items))
    live.reader.check_readable(plan)
    rows, rejected, _ = _conformed(live.reader, plan)
    assert rejected == []
    assert sorted((int(r["id"]), r["name"]) for r in rows) == [(i, NAMES[i]) for i in IDS]


@pytest.mark.parametrize("key", TYPES)
def test_a_cursor_bound_keeps_the_rows_at_or_after_it(request, key: str):
    live = _live(request, key)
    if live.cursor_values is None:
        pytest.skip(f"{key} sources have no cursor: a run picks files by their versions")
    columns = _read_columns(key, live.reader, live.items)
    cursor = next(c for c in columns if c.name == CURSOR)
    bound = CursorBound(cursor, live.cursor_values[2])
    plan = ReadPlan(live.items, columns, bound)
    live.reader.check_readable(plan)
    kept, _, _ = _conformed(live.reader, plan, bound=bound.value)
    assert _ids(kept) == [2, 3]  # the bound row itself is kept: the engine de-duplicates it
    read, _, _ = _conformed(live.reader, plan)
    if isinstance(live.reader, PushesDownCursor) and live.reader.applies_bound(bound):
        assert _ids(read) == [2, 3]  # filtered in the source
    else:
        assert _ids(read) == [1, 2, 3]  # read whole, filtered by the engine


@pytest.mark.parametrize("key", TYPES)
def test_an_empty_source_reads_no_rows(request, key: str):
    live = _live(request, key)
    if live.empty_is_missing:
        with pytest.raises(ValidationError, match="does not exist"):
            live.reader.describe(live.empty)
        return
    plan = ReadPlan(live.empty, _read_columns(key, live.reader, live.empty))
    live.reader.check_readable(plan)
    rows, rejected, _ = _conformed(live.reader, plan)
    assert rows == [] and rejected == []


@pytest.mark.parametrize("key", TYPES)
def test_a_value_that_cannot_load_is_rejected_alone(request, key: str):
    live = _live(request, key)
    if live.bad is None:
        pytest.skip(f"{key}: {live.no_bad_value}")
    plan = ReadPlan(live.bad, _read_columns(key, live.reader, live.bad, live.bad_read_as))
    rows, rejected, _ = _conformed(live.reader, plan)
    assert _ids(rows) == [1, 3]
    assert len(rejected) == 1 and rejected[0].reason


@pytest.mark.parametrize("key", TYPES)
def test_each_declared_ability_works_on_the_live_source(request, key: str):
    live = _live(request, key)
    reader = live.reader
    plan = ReadPlan(live.items, _read_columns(key, reader, live.items))
    if isinstance(reader, CanSplit):
        units = reader.split(plan, 3, ["id"])
        assert len(units) > 1
        assert sorted(i for unit in units for i in _ids(_conformed(reader, unit)[0])) == list(IDS)
    if isinstance(reader, ReadsInStreams):  # a small table: BigQuery may give one stream
        units = reader.read_streams(plan, 3)
        assert units
        assert sorted(i for unit in units for i in _ids(_conformed(reader, unit)[0])) == list(IDS)
    if isinstance(reader, SplitsFiles):
        units = reader.file_units(plan, 3)
        assert units
        assert sorted(i for unit in units for i in _ids(_conformed(reader, unit)[0])) == list(IDS)
    if isinstance(reader, TypedArrowOutput):
        expected = reader.arrow_schema(plan)
        _, _, schemas = _conformed(reader, plan)
        assert schemas and all(
            [(f.name, f.type) for f in s] == [(f.name, f.type) for f in expected] for s in schemas
        )
    if isinstance(reader, SamplesColumns):
        sample = reader.sample_columns(live.items, ["name"], 2)
        assert sample.column_names == ["name"] and sample.num_rows == 2
    if isinstance(reader, SampledSchema):
        columns = reader.describe(live.items)
        more = reader.columns_beyond_sample(columns, [("seen_before", "string")])
        assert [c.name for c in more] == [*(c.name for c in columns), "seen_before"]
    if isinstance(reader, TableCatalog):
        assert live.table in {t.name for t in reader.list_tables(live.schema)}
        if live.schema is not None:
            assert live.schema in reader.list_schemas()
    if isinstance(reader, ListsFiles):
        assert [f.name for f in reader.files(live.items)] == ["contract/items/part.parquet"]
    if isinstance(reader, EstimatesRead):
        estimate = reader.estimate_read(plan)
        assert estimate is None or estimate >= 0
    if isinstance(reader, WarnsOfWriteAccess):
        warning = reader.write_access_warning()
        assert warning is None or warning.endswith(".")
    if isinstance(reader, SettlesCursor):
        ids = next(c for c in plan.columns if c.name == "id")
        refusal = reader.settle_refusal(live.items)
        if refusal is not None:  # e.g. a MySQL login without PROCESS: it says what it lacks
            assert refusal.reason and refusal.fix
        else:
            settled = reader.settle(plan, ids, 30.0)
            assert settled.upper == max(IDS)
            assert settled.open_at_start >= len(settled.still_open)
        below = replace(plan, upper_bound=UpperBound(ids, max(IDS) - 1))
        assert _ids(_conformed(reader, below)[0]) == list(IDS)[:-1]  # `<=` in the source
        assert _conformed(reader, replace(plan, upper_bound=UpperBound(ids, None)))[0] == []
    if isinstance(reader, SerialWriters):
        assert reader.commit_order()
