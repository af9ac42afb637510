"""`etl verify` on a local-folder file source: rows are named by file and record number; an
equal table, then rows deleted from BigQuery, duplicated in BigQuery, and a file rewritten in
place (the run that would replace its rows has not happened yet)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.verify_helpers import apply_and_run, job_file, verify


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


def _csv(rows: range, changed: int | None = None) -> str:
    lines = ["id,amount,day"]
    for i in rows:
        amount = 999 if i == changed else i * 10
        lines.append(f"{i},{amount},2026-01-{1 + i % 28:02d}")
    return "\n".join(lines) + "\n"


def _keys(result: dict, kind: str) -> list[tuple[str, int]]:
    return sorted(
        (Path(d["key"]["_etl_source_file"]).name, d["key"]["_etl_source_row"])
        for d in result["differences"]
        if d["kind"] == kind
    )


@pytest.mark.parametrize("load_type", ["catalog", "transactional"])
def test_verify_names_rows_by_file_and_record(
    tmp_path: Path, load_type, folder, local_connection, destination, dataset, bq
):
    (folder / "a.csv").write_text(_csv(range(1, 101)))
    (folder / "b.csv").write_text(_csv(range(101, 201)))
    path = job_file(
        tmp_path, f"vf-{load_type[:5]}-{dataset[-6:]}", connection=local_connection,
        source={"kind": "files", "prefix": "", "glob": "*.csv", "format": "csv"},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
        load_type=load_type,
    )  # fmt: skip
    apply_and_run(path)
    code, equal = verify(path)
    assert code == 0 and equal["equal"], equal
    assert equal["keys"] == ["_etl_source_file", "_etl_source_row"]
    assert equal["source_rows"] == equal["bigquery_rows"] == 200

    table = f"local.{dataset}.orders"
    bq.query_and_wait(f"DELETE FROM `{table}` WHERE id IN (5, 150)")
    bq.query_and_wait(f"INSERT INTO `{table}` SELECT * FROM `{table}` WHERE id = 60")
    (folder / "a.csv").write_text(_csv(range(1, 101), changed=30))  # record 31: id 30

    code, result = verify(path)
    assert code == 1 and not result["equal"]
    assert _keys(result, "missing") == [("a.csv", 6), ("b.csv", 51)]
    assert _keys(result, "duplicate") == [("a.csv", 61)]
    assert _keys(result, "differing") == [("a.csv", 31)]
    assert next(d for d in result["differences"] if d["kind"] == "differing")["columns"] == [
        "amount"
    ]
