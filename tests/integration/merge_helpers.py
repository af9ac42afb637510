"""Shared steps of the merge/history tests: job files run through `etl`, and the check that a
BigQuery table equals a source table (`EXCEPT DISTINCT` both ways on the loaded columns, plus
row counts and no key twice, since EXCEPT DISTINCT alone cannot see a duplicate)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["orders"]


def write_job(folder: Path, **fields: Any) -> Path:
    fields.setdefault("name", f"m-{uuid.uuid4().hex[:10]}")
    fields.setdefault("processing_mode", "standard")
    path = folder / f"{fields['name']}.yaml"
    path.write_text(yaml.safe_dump(fields, sort_keys=False))
    return path


def etl_here(*args: str) -> tuple[int, str, str]:
    """The `etl` command as a user runs it, in this process (typer's runner): the same code
    path as the installed command without a new interpreter's start-up for every run."""
    from typer.testing import CliRunner

    from etl_bigquery.cli.main import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def apply_job(path: Path) -> None:
    code, out, err = etl_here("job", "apply", str(path), "--no-deploy")
    assert code == 0, out + err


def run_job(path: Path) -> dict[str, Any]:
    """`etl run FILE --json`; the run must end Completed or Partial."""
    code, out, err = etl_here("run", str(path), "--json")
    assert out.strip(), err[-3000:]
    report = json.loads(out)
    assert report["status"] in ("completed", "partial") and code == 0, report
    return report


def _literal(value: object, bq_type: str) -> str:
    if value is None:
        return f"CAST(NULL AS {bq_type})"
    if bq_type == "STRING":
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    if bq_type == "BOOL":
        return "TRUE" if value else "FALSE"
    if bq_type == "NUMERIC":
        return f"NUMERIC '{Decimal(value)}'"
    if bq_type == "TIMESTAMP":
        assert isinstance(value, dt.datetime)
        text = value.astimezone(dt.UTC).isoformat(sep=" ")
        return f"TIMESTAMP '{text}'"
    if bq_type == "DATETIME":
        return f"DATETIME '{value.isoformat(sep=' ')}'"  # type: ignore[union-attr]
    if bq_type == "DATE":
        return f"DATE '{value}'"
    return str(value)


def assert_table_equals(
    bq: Any,
    table_id: str,
    source: list[tuple[Any, ...]],
    columns: dict[str, str],
    *,
    where: str = "TRUE",
    key: str = "id",
) -> None:
    """`source` rows (values in `columns` order, `columns` = name → BigQuery type) equal the
    rows of `table_id` matching `where`: EXCEPT DISTINCT both ways, same count, unique keys."""
    names = list(columns)
    struct = ", ".join(f"{n} {t}" for n, t in columns.items())
    rows = ", ".join(
        "(" + ", ".join(_literal(v, columns[n]) for n, v in zip(names, row, strict=True)) + ")"
        for row in source
    )
    expected = (
        f"SELECT * FROM UNNEST(ARRAY<STRUCT<{struct}>>[{rows}])"
        if source
        else f"SELECT * FROM UNNEST(ARRAY<STRUCT<{struct}>>[])"
    )
    actual = f"SELECT {', '.join(f'`{n}`' for n in names)} FROM `{table_id}` WHERE {where}"
    missing = list(bq.query_and_wait(f"({expected}) EXCEPT DISTINCT ({actual})"))
    extra = list(bq.query_and_wait(f"({actual}) EXCEPT DISTINCT ({expected})"))
    assert not missing and not extra, {
        "in the source, not in BigQuery": [dict(r) for r in missing][:10],
        "in BigQuery, not in the source": [dict(r) for r in extra][:10],
    }
    counted = next(
        iter(
            bq.query_and_wait(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT `{key}`) AS k FROM `{table_id}` "
                f"WHERE {where}"
            )
        )
    )
    assert counted["n"] == counted["k"] == len(source), (dict(counted), len(source))


COLUMNS = {
    "id": "INT64", "note": "STRING", "amount": "NUMERIC", "paid": "BOOL", "updated_at": "TIMESTAMP",
}  # fmt: skip


@pytest.fixture()
def orders(pg_admin, pg_schema):
    """A PostgreSQL table `orders` of 20 rows on four days (2026-01-01 .. 04, ids with id % 4 = 3
    on the last, the watermark); returns (run SQL with {t} for the table, rows as tuples)."""
    table = f'"{pg_schema}".orders'
    pg_admin.execute(
        f"""CREATE TABLE {table} (id bigint PRIMARY KEY, note text, amount numeric(12,2),
                                  paid boolean, updated_at timestamptz NOT NULL)"""
    )
    pg_admin.execute(
        f"""INSERT INTO {table}
            SELECT g, 'n' || g, g * 1.5, g % 2 = 0,
                   timestamptz '2026-01-01 10:00:00+00' + (g % 4) * interval '1 day'
            FROM generate_series(1, 20) g"""
    )

    def sql(statement: str) -> None:
        pg_admin.execute(statement.replace("{t}", table))

    def rows() -> list[tuple]:
        return pg_admin.execute(
            f"SELECT id, note, amount, paid, updated_at FROM {table} ORDER BY id"
        ).fetchall()

    return sql, rows
