"""File sources from a local folder, end to end into the BigQuery emulator: new, changed (their
rows replaced) and unchanged files (transactional), atomic reloads (catalog), an awkward CSV
corpus, bad records kept in `__rejected` with file, record number and reason, and the
max_rejected limit."""

from __future__ import annotations

import gzip
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.helpers import apply, job_spec, run


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


@pytest.fixture()
def local_connection(services, folder: Path) -> str:
    from etl_bigquery.blocks.files import FileConnection

    name = f"files-{uuid.uuid4().hex[:8]}"
    FileConnection(type="local", bucket=str(folder)).save(name, overwrite=True)
    return name


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    # A different last-modified even within the file system's time resolution.
    stamp = time.time() + (hash(text) % 1000) / 1000
    os.utime(path, (stamp, stamp))


def _rows(bq, dataset: str, table: str, order: str = "_etl_source_file, _etl_source_row"):
    sql = f"SELECT * FROM `local.{dataset}.{table}` ORDER BY {order}"
    return [dict(r.items()) for r in bq.query_and_wait(sql)]


def test_transactional_loads_new_and_changed_files_only(
    bq, dataset, destination, local_connection, folder
):
    _write(folder / "exports" / "a.csv", "id,amount,day\n1,10,2026-01-01\n2,20,2026-01-02\n")
    _write(folder / "other.txt", "not matched\n")
    job = job_spec(
        local_connection, destination, dataset, table="orders",
        source={"prefix": "exports/", "glob": "*.csv", "format": "csv"},
        load_type="transactional",
    )  # fmt: skip
    apply(job)
    first = run(job)
    assert first["status"] == "completed" and first["rows_loaded"] == 2, first
    rows = _rows(bq, dataset, "orders")
    assert [r["id"] for r in rows] == [1, 2]  # detected INT64 from the sample
    assert rows[0]["day"].isoformat() == "2026-01-01"  # detected DATE
    assert rows[0]["_etl_source_file"].endswith("/exports/a.csv")
    assert rows[0]["_etl_source_row"] == 2  # the header is record 1

    _write(folder / "exports" / "b.csv", "id,amount,day\n3,30,2026-01-03\n")
    second = run(job)
    assert second["rows_loaded"] == 1, second
    from etl_bigquery.flows.artifacts import artifact_key
    from tests.integration.test_flow_behaviour import _artifacts

    extract = _artifacts(second["flow_run_id"])[artifact_key(job.name, "extract")]
    data = extract.data if isinstance(extract.data, list) else json.loads(extract.data)
    figures = {row["figure"]: str(row["value"]) for row in data}
    assert figures["source files read"] == "1", figures
    assert sorted(r["id"] for r in _rows(bq, dataset, "orders")) == [1, 2, 3]

    # The newest file is empty (an export of no rows): columns come from the others, 0 rows.
    _write(folder / "exports" / "z.csv", "")
    nothing = run(job)
    assert nothing["status"] == "completed" and nothing["rows_loaded"] == 0, nothing
    assert nothing["state_name"] == "Completed"

    _write(folder / "exports" / "a.csv", "id,amount,day\n1,11,2026-01-01\n2,21,2026-01-02\n")
    changed = run(job)
    assert changed["rows_loaded"] == 2, changed
    rows = _rows(bq, dataset, "orders")  # the changed file's rows replaced its earlier ones
    assert sorted((r["id"], r["amount"]) for r in rows) == [(1, 11), (2, 21), (3, 30)]
    assert (
        len({r["_etl_source_version"] for r in rows if r["_etl_source_file"].endswith("a.csv")})
        == 1
    )


def test_catalog_reloads_everything_when_one_file_changed(
    bq, dataset, destination, local_connection, folder
):
    _write(folder / "p1.jsonl", '{"sku": "a", "price": 1.5, "tags": ["x"]}\n{"sku": "b"}\n')
    _write(folder / "p2.json", '[{"sku": "c", "price": 2, "tags": []}]')
    jsonl = job_spec(
        local_connection, destination, dataset, table="products",
        source={"glob": "*.jsonl", "format": "jsonl"},
    )  # fmt: skip
    apply(jsonl)
    assert run(jsonl)["rows_loaded"] == 2
    assert run(jsonl)["rows_loaded"] == 0  # nothing changed: nothing replaced
    _write(folder / "p3.jsonl", '{"sku": "d", "price": 3.25, "tags": null}\n')
    report = run(jsonl)
    assert report["rows_loaded"] == 3, report  # every file again, in one WRITE_TRUNCATE
    rows = _rows(bq, dataset, "products", "sku")
    assert [r["sku"] for r in rows] == ["a", "b", "d"]
    assert rows[0]["price"] == 1.5 and rows[0]["tags"] == ["x"]

    array = job_spec(
        local_connection, destination, dataset, table="products_array",
        source={"glob": "*.json", "format": "json"},
    )  # fmt: skip
    apply(array)
    assert run(array)["rows_loaded"] == 1


CORPUS = {
    # UTF-8 with a byte-order mark, a quoted value spanning lines, quoted delimiters
    "bom.csv": ('\ufeffid;name;note\n1;Zoë;"two\nlines"\n2;"a;b";NULL\n', "utf-8"),
    # a ragged row (too few fields) and one with too many, between good rows
    "ragged.csv": ("id;name;note\n3;c;x\n4;d\n5;e;y;extra\n6;f;z\n", "utf-8"),
    # bytes that are not UTF-8 in a file declared UTF-8
    "badbytes.csv": ("id;name;note\n7;g;ok\n", "utf-8"),
    # a value that does not fit its column (text in an INT64 column)
    "badvalue.csv": ("id;name;note\nseven;h;bad id\n8;i;\\N\n", "utf-8"),
}


def test_awkward_csv_corpus_partial_with_rejected_rows(
    bq, dataset, destination, local_connection, folder
):
    for name, (text, encoding) in CORPUS.items():
        _write(folder / "corpus" / name, text, encoding)
    bad = folder / "corpus" / "badbytes.csv"
    bad.write_bytes(bad.read_bytes() + b"9;\xff\xfe;broken\n")
    with gzip.open(folder / "corpus" / "zipped.csv.gz", "wt", encoding="utf-8") as out:
        out.write("id;name;note\n10;gz;\n")
    job = job_spec(
        local_connection, destination, dataset, table="corpus",
        source={"prefix": "corpus/", "glob": "*.csv*", "format": "csv",
                "csv": {"delimiter": ";", "null_markers": ["", "NULL", "\\N"]}},
        column_types={"id": "INT64"}, load_type="transactional",
    )  # fmt: skip
    apply(job)
    report = run(job)
    assert report["state_name"] == "Partial", report
    assert report["rows_rejected"] == 4, report  # 2 ragged, 1 not UTF-8, 1 not an integer
    rows = _rows(bq, dataset, "corpus", "id")
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == [1, 2, 3, 6, 7, 8, 10]
    assert by_id[1]["name"] == "Zoë" and by_id[1]["note"] == "two\nlines"
    assert by_id[2]["name"] == "a;b" and by_id[2]["note"] is None  # NULL marker
    assert by_id[8]["note"] is None and by_id[10]["note"] is None  # \N and empty
    assert by_id[6]["_etl_source_row"] == 5  # the record number in its file
    sql = f"SELECT reason, record FROM `local.{dataset}.corpus__rejected` ORDER BY record"
    rejected = [dict(r.items()) for r in bq.query_and_wait(sql)]
    reasons = " | ".join(r["reason"] for r in rejected)
    assert "expected 3 fields, found 2" in reasons and "found 4" in reasons
    assert "not utf-8 text" in reasons.lower() and "is not a valid INT64" in reasons
    assert all("_etl_source_file" in r["record"] for r in rejected)
    assert any('"_etl_source_row": 3' in r["record"] for r in rejected)  # ragged.csv line 3

    again = run(job)  # nothing changed: nothing read, nothing kept twice
    assert again["rows_loaded"] == 0 and again["rows_rejected"] == 0, again


def test_latin1_and_headerless(bq, dataset, destination, local_connection, folder):
    _write(folder / "latin.csv", "skip me\nid,ville\n1,Montréal\n2,Zürich\n", "latin-1")
    _write(folder / "nohead.csv", "1|x\n2|y\n")
    latin = job_spec(
        local_connection, destination, dataset, table="latin",
        source={"glob": "latin.csv", "format": "csv",
                "csv": {"encoding": "latin-1", "skip_rows": 1}},
    )  # fmt: skip
    apply(latin)
    assert run(latin)["rows_loaded"] == 2
    assert [r["ville"] for r in _rows(bq, dataset, "latin", "id")] == ["Montréal", "Zürich"]
    plain = job_spec(
        local_connection, destination, dataset, table="nohead",
        source={"glob": "nohead.csv", "format": "csv", "csv": {"delimiter": "|", "header": False}},
    )  # fmt: skip
    apply(plain)
    assert run(plain)["rows_loaded"] == 2
    assert [r["column_2"] for r in _rows(bq, dataset, "nohead", "column_1")] == ["x", "y"]


def test_too_many_bad_rows_fail_the_run_and_load_nothing(
    bq, dataset, destination, local_connection, folder
):
    _write(folder / "good.csv", "id,n\n1,1\n2,2\n3,3\n4,4\n")
    job = job_spec(
        local_connection, destination, dataset, table="limited",
        source={"glob": "*.csv", "format": "csv"}, max_rejected="10%",
    )  # fmt: skip
    apply(job)
    _write(folder / "worse.csv", "id,n\n5,5\nx\ny\nz\n")  # 3 ragged rows of 8
    report = run(job)
    assert report["status"] == "failed" and report["error_type"] == "extraction", report
    assert "more than max_rejected (10% of the rows read)" in report["error"]
    assert _rows(bq, dataset, "limited") == []


def test_cli_applies_tests_lists_and_detects_file_connections(services, tmp_path: Path):
    """`etl connection apply|test|files|detect` (in-process: the same typer app as `etl`)."""
    import json

    from typer.testing import CliRunner

    from etl_bigquery.cli.main import app

    def etl(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["connection", *args])
        return result.exit_code, result.output

    folder = tmp_path / "exports"
    _write(folder / "2026" / "a.csv", "id;name;born\n1;Zoë;2026-01-01\n2;b;2026-01-02\n")
    _write(folder / "2026" / "b.jsonl", '{"id": 1, "tags": ["a"]}\n')
    _write(folder / "old.csv", "x\n1\n", "latin-1")
    name = f"cli-files-{uuid.uuid4().hex[:6]}"
    document = tmp_path / "connections.yaml"
    document.write_text(f"kind: files\nname: {name}\ntype: local\nbucket: {folder}\n")
    code, out = etl("apply", str(document))
    assert code == 0 and "created files connection" in out, out

    code, out = etl("test", name)
    assert code == 0 and "Connection successful. Found 3 files." in out, out
    assert "2026/a.csv" in out and "last modified" in out

    code, out = etl("list", "--json")
    listed = {row["name"]: row for row in json.loads(out)}
    assert listed[name]["kind"] == "file-connection", listed[name]
    assert listed[name]["target"] == f"{folder}/", listed[name]  # the folder the jobs read

    code, out = etl("files", name, "--prefix", "2026/", "--glob", "*.csv", "--json")
    assert [f["name"] for f in json.loads(out)] == ["2026/a.csv"], out
    code, out = etl("files", name, "--glob", "**/*.csv")
    assert "2026/a.csv" in out and "old.csv" in out and "(2 files)" in out, out

    code, out = etl("detect", name, "2026/a.csv", "--json")
    detected = json.loads(out)
    assert detected["source"]["format"] == "csv" and detected["source"]["csv"]["delimiter"] == ";"
    assert {c["name"]: c["bq_type"] for c in detected["columns"]} == {
        "id": "INT64", "name": "STRING", "born": "DATE"
    }  # fmt: skip
    code, out = etl("detect", name, "2026/b.jsonl")
    assert code == 0 and "format: jsonl" in out and "JSON" in out, out
    code, out = etl("detect", name, "nope.csv")
    assert code != 0 and "does not exist" in out, out

    twin = tmp_path / "twin.yaml"
    twin.write_text(f"kind: files\nname: {name}-twin\ntype: local\nbucket: {folder}\n")
    code, out = etl("apply", str(twin))
    assert code != 0 and f"already exists as '{name}'" in out, out
