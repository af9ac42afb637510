"""`make bench` merge line: a 1% increment merged into a 2,000,000-row merge table.

A PostgreSQL copy of the benchmark table (ten mixed columns, `bench.postgres_to_bigquery`) is
loaded once by a `load_type: merge` job (cursor `updated_at`, a DATETIME: the table is
partitioned by day on it, about 46 days of rows, and clustered on `id`). Then, per round, 1% of
the rows change: half of them updates of recent keys (their cursor moves forward), half new keys,
and `etl run --json` merges them. Printed: seconds per stage, rows inserted and updated,
partitions the MERGE touched, and bytes.

Bytes: the emulator reports 0 for every job, so the report says "not reported by the emulator";
the bench adds what BigQuery's on-demand pricing would bill for the MERGE, from the rows of the
partitions it touched and BigQuery's documented size of each type ("estimate"), beside what a
MERGE without a partition filter would bill (the whole table) — the figure the partition filter
exists for.

    python -m bench.merge --rows 2000000 [--share 0.01] [--repeat 1]
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

import psycopg

from bench.postgres_to_bigquery import BUCKET, DSN, SCHEMA, create_table, etl
from etl_bigquery.devservices import Services
from etl_bigquery.devservices.clients import bigquery_client, ensure_bucket
from etl_bigquery.devservices.layout import project_root

# BigQuery's logical size of a value, per its documented data type sizes.
_ROW_BYTES_SQL = """
  8 + 8 + 8 + 16 + 8 + 8 + (2 + LENGTH(name)) + (2 + LENGTH(category)) + 1
  + (2 + LENGTH(TO_JSON_STRING(payload)))
  + 8 + (2 + LENGTH(_etl_run_id)) + (2 + 32) + (2 + 32) + 8
"""


def _copy_table(conn: psycopg.Connection, rows: int) -> str:
    """A fresh copy of the benchmark table, which the rounds change."""
    base = create_table(conn, rows)
    table = f"merge_{rows}"
    conn.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{table}")
    conn.execute(f"CREATE TABLE {SCHEMA}.{table} (LIKE {SCHEMA}.{base} INCLUDING ALL)")
    conn.execute(f"INSERT INTO {SCHEMA}.{table} SELECT * FROM {SCHEMA}.{base}")
    conn.execute(f"ANALYZE {SCHEMA}.{table}")
    return table


def _change(conn: psycopg.Connection, table: str, count: int, spread: bool) -> None:
    """`count` rows change: half updates (cursor forward) of the most recent keys, or with
    `spread` of keys all over the table (their old rows sit in every partition), half new keys."""
    updates, inserts = count // 2, count - count // 2
    qualified = f"{SCHEMA}.{table}"
    top, last = conn.execute(f"SELECT max(id), max(updated_at) FROM {qualified}").fetchone()
    which = f"id %% {max(top // updates, 1)} = 0" if spread else f"id > {top - updates}"
    conn.execute(
        f"""UPDATE {qualified} SET name = name || ' (changed)', amount = amount + 1,
                   updated_at = %s::timestamp + interval '1 second'
            WHERE {which}""",
        (last,),
    )
    conn.execute(
        f"""INSERT INTO {qualified}
            SELECT id + %s, created_at, %s::timestamp + interval '2 seconds', amount, price,
                   quantity, 'new ' || (id + %s), category, active, payload
            FROM {qualified} WHERE id BETWEEN 1 AND %s""",
        (top, last, top, inserts),
    )


def _write_files(folder: Path, table: str, services: Services) -> tuple[Path, Path]:
    connections = folder / "connections.yaml"
    connections.write_text(
        "kind: sql\nname: bench-postgres\ntype: postgresql\nhost: 127.0.0.1\nport: 5432\n"
        "database: test\nusername: postgres\n---\n"
        "kind: bigquery-destination\nname: bench-bigquery\nproject: local\n"
        f"staging_uri: gs://{BUCKET}/loads\napi_endpoint: {services.layout.bigquery_endpoint}\n"
        f"storage_endpoint: {services.layout.gcs_endpoint}\n"
    )
    job = folder / "merge.yaml"
    job.write_text(
        f"name: bench-{table.replace('_', '-')}\nconnection: bench-postgres\n"
        f"source:\n  schema: {SCHEMA}\n  table: {table}\n"
        f"destination:\n  block: bench-bigquery\n  dataset: bench\n  table: bq_{table}\n"
        "load_type: merge\ncursor_column: updated_at\nprocessing_mode: standard\n"
    )
    return connections, job


def _run(job: Path) -> dict[str, object]:
    started = time.perf_counter()
    stdout, peak = etl("run", str(job), "--json")
    report = json.loads(stdout)
    if report["status"] != "completed":
        raise SystemExit(f"the benchmark run failed: {report}")
    report["_process_seconds"] = time.perf_counter() - started
    report["_peak_rss_mb"] = peak
    return report


def _billed_estimate(services: Services, table: str, job_id: str) -> dict[str, int]:
    """On-demand bytes BigQuery would bill for the MERGE (q' + t': the columns read in the
    partitions scanned, plus the size of the partitions rewritten) and for an unfiltered one."""
    client = bigquery_client(services.layout)
    try:
        statement = client.get_job(job_id).query
        conditions = statement.split("WHEN MATCHED")[0].split("\nON ", 1)[1].split("\n   AND ")
        # [keys equal, partition filter, key range]: the filter is the one between.
        touched = conditions[1] if len(conditions) > 2 else "TRUE"
        ref = f"`local.bench.bq_{table}`"
        row = next(iter(client.query_and_wait(
            f"SELECT SUM(IF({touched}, {_ROW_BYTES_SQL}, 0)) AS part, "
            f"SUM({_ROW_BYTES_SQL}) AS whole FROM {ref} AS T"
        )))  # fmt: skip
    finally:
        client.close()
    # Read once (q') and rewritten (t'): twice the partitions' size; the staging table's bytes
    # are small beside them and left out.
    return {"merge": 2 * int(row["part"] or 0), "unfiltered": 2 * int(row["whole"] or 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--share", type=float, default=0.01, help="rows changed per round")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (medians)")
    parser.add_argument(
        "--spread", action="store_true", help="update keys all over the table, not recent ones"
    )
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
    with tempfile.TemporaryDirectory() as folder, psycopg.connect(DSN, autocommit=True) as conn:
        table = _copy_table(conn, args.rows)
        connections, job = _write_files(Path(folder), table, services)
        etl("connection", "apply", str(connections))
        client = bigquery_client(services.layout)
        client.delete_table(f"local.bench.bq_{table}", not_found_ok=True)
        client.close()
        etl("job", "apply", str(job), "--no-deploy")
        print(f"initial merge of {args.rows:,} rows...", flush=True)
        initial = _run(job)
        rounds = []
        for _ in range(args.repeat):
            _change(conn, table, int(args.rows * args.share), args.spread)
            report = _run(job)
            report["_bytes"] = _billed_estimate(services, table, str(report["load_job_id"]))
            rounds.append(report)
    median = lambda key: statistics.median(r["stages"][key]["seconds"] for r in rounds)  # noqa: E731
    last = rounds[-1]
    merge = last["merge"]
    line = {
        "rows": args.rows,
        "increment": f"{args.share:.0%}: {merge['rows updated']:,} updated "
        f"({'keys all over the table' if args.spread else 'recent keys'}) + "
        f"{merge['rows inserted']:,} inserted",
        "initial_merge_seconds": initial["duration_seconds"],
        "validate_seconds": median("validate"),
        "extract_seconds": median("extract"),
        "load_seconds (staging + plan + MERGE)": median("load"),
        "end_to_end_seconds": statistics.median(r["duration_seconds"] for r in rounds),
        "partitions_touched": merge["partitions touched"],
        "bytes_processed_reported": merge["bytes processed"],
        "bytes_billed_estimate_merge": last["_bytes"]["merge"],
        "bytes_billed_estimate_without_partition_filter": last["_bytes"]["unfiltered"],
        "peak_rss_mb": round(max(r["_peak_rss_mb"] for r in rounds)),
    }
    print(
        f"\nmerge {args.rows:,} rows, {line['increment']}: "
        f"end to end {line['end_to_end_seconds']:.1f} s (extract {line['extract_seconds']:.1f} "
        f"s, load {line['load_seconds (staging + plan + MERGE)']:.1f} s); "
        f"partitions touched: {line['partitions_touched']}; bytes: "
        f"{line['bytes_processed_reported']} "
        f"(estimated on BigQuery: {line['bytes_billed_estimate_merge'] / 1e6:,.1f} MB, "
        f"{line['bytes_billed_estimate_without_partition_filter'] / 1e6:,.1f} MB without the "
        "partition filter)"
    )
    print(json.dumps(line, indent=2, default=str))


if __name__ == "__main__":
    main()
