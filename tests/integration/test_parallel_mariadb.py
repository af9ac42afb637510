"""MariaDB reads split into units (`MySqlReader.split`: NTILE ranges of a typed cursor or of an
integer primary key, CRC32 buckets otherwise), against the machine's MariaDB and the BigQuery
emulator: standard mode reads the units at once (`parallelism`) and the Beam path (DirectRunner)
reads them as its units; both load exactly the source's rows, each once."""

from __future__ import annotations

from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import maria_sql
from tests.integration.helpers import apply, job_spec, run
from tests.integration.test_dataflow_subflow import units_artifact

ROWS = 150_000


def _create(admin, database: str) -> dict:
    maria_sql(
        admin, database,
        """CREATE TABLE events (id BIGINT PRIMARY KEY, at DATETIME(6) NOT NULL,
             amount DECIMAL(12,2), note VARCHAR(40), flag BOOLEAN)""",
        f"""INSERT INTO events
            SELECT seq, TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND,
                   (seq MOD 100000) / 100, IF(seq MOD 13 = 0, NULL, CONCAT('note ', seq)),
                   seq MOD 3 = 0
            FROM seq_1_to_{ROWS}""",
        "ANALYZE TABLE events",
    )  # fmt: skip
    (n, total, notes) = maria_sql(
        admin, database, "SELECT COUNT(*), SUM(amount), COUNT(note) FROM events"
    )[0]
    return {"n": n, "total": float(total), "notes": notes}


def _loaded(bq, dataset: str, table: str) -> dict:
    sql = (
        "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, MIN(id) AS lo, MAX(id) AS hi, "
        "SUM(CAST(amount AS FLOAT64)) AS total, COUNT(note) AS notes "
        f"FROM `local.{dataset}.{table}`"
    )
    return dict(next(iter(bq.query_and_wait(sql))).items())


def _expected(source: dict) -> dict:
    return {"n": ROWS, "ids": ROWS, "lo": 1, "hi": ROWS, "notes": source["notes"]}


def test_a_mariadb_catalog_read_in_parallel_key_ranges_loads_the_source_exactly(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    source = _create(maria_admin, maria_db.database)
    job = job_spec(maria_connection, destination, dataset, source={"table": "events"},
                   parallelism=3)  # fmt: skip
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert report["processing_mode"] == "standard"
    assert report["read_units"] == 3, report
    assert report["rows_read"] == report["rows_loaded"] == ROWS
    loaded = _loaded(bq, dataset, "bq_events")
    assert {k: loaded[k] for k in ("n", "ids", "lo", "hi", "notes")} == _expected(source)
    assert abs(loaded["total"] - source["total"]) < 1e-3


def test_the_beam_path_reads_a_mariadb_table_in_units_and_loads_it_exactly(
    maria_admin, maria_db, maria_connection, destination, dataset, bq
):
    source = _create(maria_admin, maria_db.database)
    job = job_spec(
        maria_connection, destination, dataset, source={"table": "events"},
        processing_mode="dataflow", dataflow={"direct_workers": 1, "rows_per_unit": 40_000},
    )  # fmt: skip
    apply(job)
    report = run(job)
    assert report["status"] == "completed", report
    assert report["processing_mode"] == "dataflow", report["processing_reason"]
    assert report["rows_read"] == report["rows_loaded"] == ROWS
    loaded = _loaded(bq, dataset, "bq_events")
    assert {k: loaded[k] for k in ("n", "ids", "lo", "hi", "notes")} == _expected(source)
    assert abs(loaded["total"] - source["total"]) < 1e-3
    # No cursor bound and an integer primary key: NTILE ranges of the key, one per unit.
    units = units_artifact(job.name)
    assert len(units) >= 3
    assert all(str(u["range"]).startswith("id in [") for u in units), units
    assert sum(int(u["rows_read"]) for u in units) == ROWS
