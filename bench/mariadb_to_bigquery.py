"""`make bench-mariadb`: a MariaDB table of N rows (the same ten mixed columns as the PostgreSQL
benchmark) through `etl run --json` into the BigQuery emulator, beside its raw ceiling.

The ceiling is the fastest raw read of the same table from Python found here: ConnectorX's Arrow
stream of `SELECT * FROM table`, batches dropped (faster than PyMySQL, and than
`mysql --quick > /dev/null`). Medians of `--repeat` interleaved rounds (ceiling, then the flow).

    python -m bench.mariadb_to_bigquery --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import connectorx
import pymysql

from bench.postgres_to_bigquery import BUCKET, _one_run, etl
from etl_bigquery.devservices import Services
from etl_bigquery.devservices.clients import ensure_bucket
from etl_bigquery.devservices.layout import project_root

DATABASE = "etl_bench"
HOST = os.environ.get("ETL_BENCH_MARIADB_HOST", "127.0.0.1")
PORT = int(os.environ.get("ETL_BENCH_MARIADB_PORT", "3306"))


def create_table(rows: int) -> str:
    """Ten columns of mixed types (timestamps, decimal, text, boolean, json...); kept for reuse."""
    table = f"rows_{rows}"
    conn = pymysql.connect(host=HOST, port=PORT, user="root", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            cursor.execute(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s",
                (DATABASE, table),
            )
            if cursor.fetchone():
                return table
            print(f"creating {DATABASE}.{table} ({rows:,} rows)...", flush=True)
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute(
                f"""CREATE TABLE {DATABASE}.{table} (
                    id bigint PRIMARY KEY, created_at timestamp(6) NOT NULL DEFAULT
                    '2025-01-01 00:00:00', updated_at datetime(6) NOT NULL, amount decimal(12,2),
                    price double, quantity int, name text, category varchar(20),
                    active tinyint(1), payload json)"""
            )
            cursor.execute(
                f"""INSERT INTO {DATABASE}.{table}
                SELECT seq, TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq SECOND,
                       TIMESTAMP'2025-06-01 00:00:00' + INTERVAL 2 * seq SECOND,
                       (seq % 100000) / 100.0, (seq % 1000) * 1.25, seq % 50,
                       CONCAT('customer ', seq % 10007), CONCAT('cat-', seq % 17), seq % 3 = 0,
                       JSON_OBJECT('id', seq, 'tags', JSON_ARRAY('a', seq % 7), 'ok', seq % 2 = 0)
                FROM {DATABASE}.seq_1_to_{rows}"""
            )
            cursor.execute(f"ANALYZE TABLE {DATABASE}.{table}")
    finally:
        conn.close()
    return table


def raw_ceiling(table: str) -> float:
    """Seconds to stream the whole table as Arrow batches and drop them."""
    started = time.perf_counter()
    stream = connectorx.read_sql(
        f"mysql://root@{HOST}:{PORT}/{DATABASE}", f"SELECT * FROM {table}",
        return_type="arrow_stream", batch_size=50_000,
    )  # fmt: skip
    for _ in stream:
        pass
    return time.perf_counter() - started


def write_files(folder: Path, table: str, services: Services) -> tuple[Path, Path]:
    connections = folder / "connections.yaml"
    connections.write_text(
        f"kind: sql\nname: bench-mariadb\ntype: mariadb\nhost: {HOST}\nport: {PORT}\n"
        f"database: {DATABASE}\nusername: root\n---\n"
        "kind: bigquery-destination\nname: bench-bigquery\nproject: local\n"
        f"staging_uri: gs://{BUCKET}/loads\napi_endpoint: {services.layout.bigquery_endpoint}\n"
        f"storage_endpoint: {services.layout.gcs_endpoint}\n"
    )
    job = folder / "job.yaml"
    job.write_text(
        f"name: bench-mariadb-{table.replace('_', '-')}\nconnection: bench-mariadb\n"
        f"source:\n  table: {table}\n"
        f"destination:\n  block: bench-bigquery\n  dataset: bench\n  table: bq_maria_{table}\n"
        "load_type: catalog\nprocessing_mode: standard\n"
    )
    return connections, job


def measure(rows: int, services: Services, repeat: int) -> dict[str, float]:
    table = create_table(rows)
    with tempfile.TemporaryDirectory() as folder:
        connections, job = write_files(Path(folder), table, services)
        etl("connection", "apply", str(connections))
        etl("job", "apply", str(job))
        ceilings, runs = [], []
        for _ in range(repeat):
            ceilings.append(raw_ceiling(table))
            runs.append(_one_run(rows, job))
    ceiling = statistics.median(ceilings)
    extract = statistics.median(r["extract"] for r in runs)
    return {
        "rows": rows,
        "repeat": repeat,
        "raw_rows_per_s": rows / ceiling,
        "extract_stage_rows_per_s": rows / extract,
        "ratio_to_raw": ceiling / extract,
        "load_rows_per_s": rows / statistics.median(r["load"] for r in runs),
        "end_to_end_rows_per_s": rows / statistics.median(r["flow"] for r in runs),
        "flow_seconds": statistics.median(r["flow"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="table sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (medians)")
    args = parser.parse_args()
    services = Services()
    services.up(echo=lambda line: print(f"  {line}"))
    os.environ.update(services.environment())
    ensure_bucket(services.layout, BUCKET)
    subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "block", "register",
         "-m", "etl_bigquery.blocks"],
        check=True, capture_output=True, cwd=project_root(),
    )  # fmt: skip
    results = [measure(rows, services, args.repeat) for rows in args.rows or [1_000_000]]
    print(
        f"\n{'rows':>10} {'raw rows/s':>11} {'extract+stage':>14} {'ratio':>6} "
        f"{'load rows/s':>12} {'end-to-end':>11} {'peak RSS':>9}"
    )
    for r in results:
        print(
            f"{r['rows']:>10,} {r['raw_rows_per_s']:>11,.0f}"
            f" {r['extract_stage_rows_per_s']:>14,.0f} {r['ratio_to_raw']:>6.0%}"
            f" {r['load_rows_per_s']:>12,.0f}"
            f" {r['end_to_end_rows_per_s']:>11,.0f} {r['peak_rss_mb']:>7,.0f}MB"
        )
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
