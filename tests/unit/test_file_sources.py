"""File sources without services: globs, the job model's files source and max_rejected, the
files type map, the CSV reader's record numbers and rejects on a local folder, the Prefect form."""

from __future__ import annotations

import gzip
import json

import pytest
from pydantic import ValidationError

from etl_bigquery.engine.jobs.model import JobSpec, parse_max_rejected
from etl_bigquery.engine.schema.typemap import propose
from etl_bigquery.engine.sources.files.reader import FileReader
from etl_bigquery.engine.sources.files.store import StoreSettings, glob_regex


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*.csv", "a.csv", True),
        ("*.csv", "sub/a.csv", False),
        ("**/*.csv", "a.csv", True),
        ("**/*.csv", "x/y/a.csv", True),
        ("2026-??/*.csv.gz", "2026-01/o.csv.gz", True),
        ("[!_]*.csv", "_tmp.csv", False),
        ("orders.csv", "orders.csv.bak", False),
    ],
)
def test_globs(pattern: str, name: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(name)) is matches


def _job(**fields: object) -> JobSpec:
    data = {"name": "f", "connection": "c", "destination": {"table": "t"},
            "source": {"glob": "*.csv", "format": "csv"}} | fields  # fmt: skip
    return JobSpec.model_validate(data)


def test_files_source_model() -> None:
    job = _job(load_type="transactional")
    assert job.source.kind == "files" and job.describe_source() == "files *.csv (csv)"
    with pytest.raises(ValidationError, match="do not apply to a files source"):
        _job(load_type="transactional", cursor_column="day")
    with pytest.raises(ValidationError, match=r"needs destination\.table"):
        _job(destination={})
    with pytest.raises(ValidationError, match="not a known text encoding"):
        _job(source={"glob": "*", "format": "csv", "csv": {"encoding": "klingon"}})
    # The Prefect form: a choice (anyOf) between Query, Table and Files.
    schema = JobSpec.model_json_schema()
    members = [m["$ref"].rsplit("/", 1)[-1] for m in schema["properties"]["source"]["anyOf"]]
    assert [schema["$defs"][m]["title"] for m in members] == ["Query", "Table", "Files"]


def test_max_rejected() -> None:
    assert parse_max_rejected(1000).exceeded(1001, 10**6)
    assert not parse_max_rejected("1000").exceeded(1000, 1000)
    assert parse_max_rejected("1%").exceeded(2, 100) and not parse_max_rejected("1%").exceeded(
        1, 100
    )
    assert _job().rejected_limit.count == 1000  # the default
    with pytest.raises(ValidationError, match="neither a count"):
        _job(max_rejected="lots")


def test_files_type_map() -> None:
    assert propose("files", "text").bq_type.value == "STRING"
    assert propose("files", "json object").bq_type.value == "JSON"
    assert propose("files", "timestamp[us, tz=UTC]").bq_type.value == "TIMESTAMP"
    assert propose("files", "decimal128(40, 2)").bq_type.value == "BIGNUMERIC"
    assert propose("files", "uint64").bq_type.value == "NUMERIC"


def test_csv_record_numbers_and_rejects(tmp_path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(
        gzip.compress(b'id,note\n1,"two\nlines"\n2\n3,x\n4,\xff\n5,ok\n')
    )
    reader = FileReader(StoreSettings(type="local", bucket=str(tmp_path)))
    from etl_bigquery.engine.jobs.model import FilesSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan

    source = FilesSource(glob="*.gz", format="csv")
    columns = reader.describe(source)
    assert [c.name for c in columns][:2] == ["id", "note"]
    plan = ReadPlan(source, [ReadColumn(c.name, c.source_type, BqType.STRING) for c in columns])
    rows = [row for batch in reader.read(plan) for row in batch.to_pylist()]
    assert [(r["id"], r["note"], r["_etl_source_row"]) for r in rows] == [
        ("1", "two\nlines", 2), ("3", "x", 4), ("5", "ok", 6)
    ]  # fmt: skip
    bad = reader.take_rejected()
    assert [(b.record["_etl_source_row"], b.reason.split(":")[0]) for b in bad] == [
        (3, "expected 2 fields, found 1"), (5, "column 'note'")
    ]  # fmt: skip
    assert json.dumps(bad[0].record)  # kept as JSON in __rejected


def test_a_file_rewritten_after_planning_stops_the_run(tmp_path) -> None:
    import os

    from etl_bigquery.engine.errors import ExtractionError
    from etl_bigquery.engine.jobs.model import FilesSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan

    path = tmp_path / "a.csv"
    path.write_text("id\n1\n")
    reader = FileReader(StoreSettings(type="local", bucket=str(tmp_path)))
    source = FilesSource(glob="*.csv", format="csv")
    columns = reader.describe(source)
    planned = tuple(reader.files(source))
    path.write_text("id\n1\n2\n3\n")  # rewritten between planning and reading
    os.utime(path, (planned[0].modified.timestamp() + 5,) * 2)
    plan = ReadPlan(
        source, [ReadColumn(c.name, c.source_type, BqType.STRING) for c in columns], files=planned
    )
    with pytest.raises(ExtractionError, match="changed while it was read"):
        list(reader.read(plan))


def _read_all(folder, **source: object) -> tuple[list[dict], list[tuple[int | None, str]]]:
    from etl_bigquery.engine.jobs.model import FilesSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan

    reader = FileReader(StoreSettings(type="local", bucket=str(folder)))
    files_source = FilesSource.model_validate(source)
    columns = reader.describe(files_source)
    plan = ReadPlan(
        files_source, [ReadColumn(c.name, c.source_type, BqType.STRING) for c in columns]
    )
    rows = [row for batch in reader.read(plan) for row in batch.to_pylist()]
    bad = [(b.record["_etl_source_row"], b.reason) for b in reader.take_rejected()]
    return rows, bad


def test_empty_and_header_only_csv_files_give_no_rows_not_a_failure(tmp_path) -> None:
    import os

    (tmp_path / "a.csv").write_bytes(b"id,n\n1,x\n")
    (tmp_path / "b.csv").write_bytes(b"id,n")  # header only, no line end
    (tmp_path / "c.csv").write_bytes(b"id,n\n")
    (tmp_path / "d.csv").write_bytes(b"")  # the newest: an empty marker file
    os.utime(tmp_path / "d.csv", (os.stat(tmp_path / "a.csv").st_mtime + 60,) * 2)
    rows, bad = _read_all(tmp_path, glob="*.csv", format="csv")
    assert [(r["id"], r["n"], r["_etl_source_row"]) for r in rows] == [("1", "x", 2)]
    assert bad == []


def test_csv_record_longer_than_a_block_is_read_and_numbered(tmp_path) -> None:
    from etl_bigquery.engine.sources.files import csv_files

    long = b"y" * (csv_files.BLOCK_BYTES + 10)
    lines = [b"%d,v\n" % i for i in range(1, 2001)]
    lines[2] = b"ragged\n"  # record 4
    lines[1500] = b"1501," + long + b"\n"  # past the first block, over 5 MB in all
    (tmp_path / "a.csv").write_bytes(b"id,v\n" + b"".join(lines))
    rows, bad = _read_all(tmp_path, glob="*.csv", format="csv")
    assert len(rows) == 1999 and all(int(r["id"]) + 1 == r["_etl_source_row"] for r in rows)
    assert [r["v"] for r in rows if r["id"] == "1501"] == [long.decode()]
    assert bad == [(4, "expected 2 fields, found 1")]  # reported once, not once per pass


def test_wrong_delimiter_is_one_sentence(tmp_path) -> None:
    from etl_bigquery.engine.errors import ValidationError as EtlValidationError

    (tmp_path / "a.csv").write_bytes(b"id;name\n1;a\n")
    with pytest.raises(EtlValidationError, match=r"set csv\.delimiter: ';'"):
        _read_all(tmp_path, glob="*.csv", format="csv")


def test_json_byte_order_mark_constants_and_truncated_gzip(tmp_path) -> None:
    from etl_bigquery.engine.errors import ExtractionError

    (tmp_path / "a.jsonl").write_bytes(b'\xef\xbb\xbf{"id": 1}\r\n{"id": NaN}\r\n{"id": 3}\r\n')
    (tmp_path / "b.json").write_bytes(b'\xef\xbb\xbf[{"id": 4}]')
    rows, bad = _read_all(tmp_path, glob="a.jsonl", format="jsonl")
    assert [r["id"] for r in rows] == ["1", "3"]
    assert bad == [(2, "not valid JSON: NaN is not a JSON value")]
    rows, _bad = _read_all(tmp_path, glob="b.json", format="json")
    assert [r["id"] for r in rows] == ["4"]

    lines = b"".join(b'{"id": %d, "pad": "%s"}\n' % (i, b"%x" % (i * 7919)) for i in range(20000))
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(lines)[:-2000])
    with pytest.raises(ExtractionError, match="truncated or corrupt"):
        _read_all(tmp_path, glob="c.jsonl.gz", format="jsonl")


@pytest.mark.parametrize("name", ["orders [1] é.csv", "a*b?.csv", "x].csv", "plain.csv"])
def test_glob_escape_matches_exactly_the_name(name: str) -> None:
    from etl_bigquery.engine.sources.files.store import glob_escape

    pattern = glob_regex(glob_escape(name))
    assert pattern.match(name)
    assert not pattern.match("orders 1 é.csv") and not pattern.match("aXb?.csv")


def test_later_files_columns_by_name_in_any_order_and_case(tmp_path) -> None:
    import os

    from etl_bigquery.engine.errors import ExtractionError

    (tmp_path / "a.csv").write_bytes(b"ID,Name\n1,a\n")  # another tool's header case
    (tmp_path / "b.csv").write_bytes(b"name,id,extra\nb,2,E\n")  # the newest gives columns
    os.utime(tmp_path / "b.csv", (os.stat(tmp_path / "a.csv").st_mtime + 60,) * 2)
    rows, _bad = _read_all(tmp_path, glob="*.csv", format="csv")
    assert sorted((r["id"], r["name"], r["extra"]) for r in rows) == [
        ("1", "a", None), ("2", "b", "E")
    ]  # fmt: skip
    (tmp_path / "c.csv").write_bytes(b"sku;qty\nx;1\n")  # another file the glob matched
    with pytest.raises(ExtractionError, match="none of the job's columns"):
        _read_all(tmp_path, glob="*.csv", format="csv")


def test_a_prefix_naming_a_folder_without_its_slash_says_so(tmp_path) -> None:
    from etl_bigquery.engine.errors import ValidationError as EtlValidationError

    (tmp_path / "daily").mkdir()
    (tmp_path / "daily" / "a.csv").write_bytes(b"id\n1\n")
    with pytest.raises(EtlValidationError, match="write prefix: daily/"):
        _read_all(tmp_path, prefix="daily", glob="*.csv", format="csv")


def test_a_file_deleted_after_listing_is_said_so(tmp_path) -> None:
    from etl_bigquery.engine.errors import ExtractionError
    from etl_bigquery.engine.jobs.model import FilesSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan

    (tmp_path / "a.csv").write_text("id\n1\n")
    (tmp_path / "b.csv").write_text("id\n2\n")
    reader = FileReader(StoreSettings(type="local", bucket=str(tmp_path)))
    source = FilesSource(glob="*.csv", format="csv")
    columns = [ReadColumn(c.name, c.source_type, BqType.STRING) for c in reader.describe(source)]
    plan = ReadPlan(source, columns, files=tuple(reader.files(source)))
    (tmp_path / "b.csv").unlink()
    with pytest.raises(ExtractionError, match="was deleted after this run listed it") as caught:
        list(reader.read(plan))
    assert not caught.value.transient


def test_parquet_files_whose_column_types_and_case_differ(tmp_path) -> None:
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"ID": pa.array([1], pa.int64())}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": ["x"], "v": [1.5]}), tmp_path / "b.parquet")
    os.utime(tmp_path / "b.parquet", (os.stat(tmp_path / "a.parquet").st_mtime + 60,) * 2)
    rows, _bad = _read_all(tmp_path, glob="*.parquet", format="parquet")
    # Each file keeps its own types; the conformer checks every value against the table's.
    assert sorted((str(r["id"]), r["v"]) for r in rows) == [("1", None), ("x", 1.5)]


def test_a_local_folder_is_saved_absolute(tmp_path, monkeypatch) -> None:
    from etl_bigquery.blocks.files import FileConnection

    monkeypatch.chdir(tmp_path)
    # File addresses are the table's record of what it holds: they must not depend on the
    # working directory of the process that runs the job.
    assert FileConnection(type="local", bucket="drop").bucket == str(tmp_path / "drop")
    assert FileConnection(bucket="file://drop").bucket == str(tmp_path / "drop")
    assert FileConnection(type="gcs", bucket="gs://b/p").bucket == "b"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_file_of_only_bad_records_hands_them_over_as_it_reads(tmp_path, monkeypatch, fmt) -> None:
    from etl_bigquery.engine.jobs.model import FilesSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan
    from etl_bigquery.engine.sources.files import csv_files, formats

    monkeypatch.setattr(csv_files, "BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(formats, "JSON_BATCH_ROWS", 1000)
    good = b"id,v\n1,2\n" if fmt == "csv" else b'{"id": 1, "v": 2}\n'
    # (Ragged CSV rows are not covered: Arrow's reader skips them without returning a batch.)
    bad = b"1,\xff\n" * 30000 if fmt == "csv" else b"[1]\n" * 30000
    (tmp_path / "a.txt").write_bytes(good)
    (tmp_path / "b.txt").write_bytes(good.split(b"\n")[0] + b"\n" + bad)
    reader = FileReader(StoreSettings(type="local", bucket=str(tmp_path)))
    source = FilesSource(glob="a.txt", format=fmt)
    columns = [ReadColumn(c.name, c.source_type, BqType.STRING) for c in reader.describe(source)]
    plan = ReadPlan(FilesSource(glob="b.txt", format=fmt), columns)
    batches = reader.read(plan)
    next(batches)
    # The extraction takes rejected records after each batch and stops at max_rejected: the
    # reader must not read the whole file of bad records before its first batch.
    first = len(reader.take_rejected())
    assert 0 < first < 30000
    rest = sum(len(reader.take_rejected()) for _ in batches) + len(reader.take_rejected())
    assert first + rest == 30000


def test_a_file_connection_is_no_table_catalog(tmp_path) -> None:
    """The file reader lists files (ListsFiles), not tables: discovery says so in one sentence
    instead of answering with an empty list."""
    from etl_bigquery.blocks.files import FileConnection
    from etl_bigquery.engine.errors import ValidationError as EtlValidationError
    from etl_bigquery.engine.sources.abilities import ListsFiles, TableCatalog
    from etl_bigquery.service import discovery

    block = FileConnection(type="local", bucket=str(tmp_path))
    with block.open_reader() as reader:
        assert isinstance(reader, ListsFiles) and not isinstance(reader, TableCatalog)
    with pytest.raises(EtlValidationError, match="holds files, not tables"):
        discovery.list_tables(block)
