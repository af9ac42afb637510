"""`make bench`: one table, a PostgreSQL table of N rows through `etl run` into the emulator.

For each load type (catalog, transactional, merge) and each parallelism (1, then the job's
default: the machine's cores, at most 4), in `--repeat` rounds: the raw ceiling, `COPY (SELECT
...) TO STDOUT (FORMAT binary)` of the same table read and dropped, then `etl run --json` as a
whole process into a fresh table. Printed as ONE table, medians over the rounds:

- COPY rows/s: the ceiling; extract+stage rows/s: the run's extract stage (read, conform,
  fingerprint or hash, write Parquet, upload); "of COPY": extract+stage against the ceiling of
  the same rounds (lowest and highest single round in brackets); "of catalog": against the
  catalog run of the same size and parallelism (the cost of fingerprints and hashes);
- rows/CPU s: rows per CPU second the `etl run` process spent while its extract stage ran (all
  its threads: reader, conforming, hashing, Parquet, upload), and "of catalog" of that: on a
  shared, loaded machine the wall-time ratios swing with the neighbours, CPU seconds much less;
- whole process: wall seconds of `etl run` from start to exit, and its CPU seconds (user+system,
  less sensitive to a loaded machine than wall time); peak RSS of that process alone;
- the `--small` row (20 rows by default): the fixed cost of a run whose own work is nothing,
  with where its wall time goes (`bench.fixed_cost`: imports, Prefect API, BigQuery and GCS
  calls, the rest).

The machine's load average is printed with the figures: on a shared machine, read the ratios
(measured in the same rounds), not the seconds.

    python -m bench.postgres_to_bigquery --rows 2000000 [--rows ...] [--load-type catalog ...]
        [--parallelism 1 --parallelism 0] [--small 20] [--repeat 3] [--key all]

`--key all` makes the transactional identity every column (default: primary key + cursor).
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
from typing import Any

import psycopg

from etl_bigquery.devservices import Services
from etl_bigquery.devservices.clients import ensure_bucket
from etl_bigquery.devservices.layout import project_root

SCHEMA = "etl_bench"
DSN = os.environ.get("ETL_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BUCKET = "etl-bench-staging"


def create_table(conn: psycopg.Connection, rows: int) -> str:
    """Ten columns of mixed types (timestamps, numeric, text, boolean, json...); kept for reuse."""
    table = f"rows_{rows}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    exists = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (SCHEMA, table)
    ).fetchone()
    if exists:
        return table
    print(f"creating {SCHEMA}.{table} ({rows:,} rows)...", flush=True)
    conn.execute(
        f"""
        CREATE TABLE {SCHEMA}.{table} (
            id bigint PRIMARY KEY,
            created_at timestamptz NOT NULL,
            updated_at timestamp NOT NULL,
            amount numeric(12,2),
            price double precision,
            quantity integer,
            name text,
            category varchar(20),
            active boolean,
            payload jsonb)
        """
    )
    conn.execute(
        f"""
        INSERT INTO {SCHEMA}.{table}
        SELECT g,
               timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second',
               timestamp '2025-06-01 00:00:00' + g * interval '2 seconds',
               (g % 100000) / 100.0,
               (g % 1000) * 1.25,
               g % 50,
               'customer ' || (g % 10007),
               'cat-' || (g % 17),
               g % 3 = 0,
               jsonb_build_object('id', g, 'tags', jsonb_build_array('a', g % 7), 'ok', g % 2 = 0)
        FROM generate_series(1, {rows}) g
        """
    )
    conn.execute(f"ANALYZE {SCHEMA}.{table}")
    return table


def copy_ceiling(conn: psycopg.Connection, table: str) -> tuple[float, int]:
    """Seconds and bytes to read the whole table with COPY ... TO STDOUT (FORMAT binary)."""
    start = time.perf_counter()
    size = 0
    with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY (SELECT * FROM {SCHEMA}.{table}) TO STDOUT (FORMAT binary)") as copy,
    ):
        for chunk in copy:
            size += len(chunk)
    return time.perf_counter() - start, size


COLUMNS = ["id", "created_at", "updated_at", "amount", "price", "quantity", "name", "category",
           "active", "payload"]  # fmt: skip


def _job_yaml(load_type: str, key: str, parallelism: int = 0) -> str:
    # parallelism 0: the job's default (the machine's cores, at most 4); the line is left out.
    threads = f"parallelism: {parallelism}\n" if parallelism else ""
    if load_type == "catalog":
        return f"load_type: catalog\nprocessing_mode: standard\n{threads}"
    if load_type == "merge":
        return f"load_type: merge\ncursor_column: updated_at\nprocessing_mode: standard\n{threads}"
    keys = f"key_columns: [{', '.join(COLUMNS)}]\n" if key == "all" else ""
    return (
        "load_type: transactional\ncursor_column: updated_at\nbackfill_start: all\n"
        f"processing_mode: standard\n{keys}{threads}"
    )


def write_files(
    folder: Path,
    table: str,
    services: Services,
    load_type: str = "catalog",
    key: str = "default",
    parallelism: int = 0,
) -> tuple[Path, Path]:
    connections = folder / "connections.yaml"
    connections.write_text(
        "kind: sql\nname: bench-postgres\ntype: postgresql\nhost: 127.0.0.1\nport: 5432\n"
        "database: test\nusername: postgres\n---\n"
        "kind: bigquery-destination\nname: bench-bigquery\nproject: local\n"
        f"staging_uri: gs://{BUCKET}/loads\napi_endpoint: {services.layout.bigquery_endpoint}\n"
        f"storage_endpoint: {services.layout.gcs_endpoint}\n"
    )
    job = folder / "job.yaml"
    job.write_text(
        f"name: bench-{table.replace('_', '-')}-{load_type[:5]}-{key}-p{parallelism}\n"
        "connection: bench-postgres\n"
        f"source:\n  schema: {SCHEMA}\n  table: {table}\n"
        "destination:\n  block: bench-bigquery\n  dataset: bench\n"
        f"  table: bq_{table}_{load_type[:5]}_{key}_p{parallelism}\n"
        + _job_yaml(load_type, key, parallelism)
    )
    return connections, job


def etl(*args: str) -> tuple[str, float]:
    """Run `etl ARGS`; returns its stdout and the peak RSS (MB) of that process alone."""
    stdout, peak_mb, _ = etl_usage(*args)
    return stdout, peak_mb


def etl_usage(*args: str) -> tuple[str, float, float]:
    """Run `etl ARGS`; its stdout, peak RSS (MB) and CPU seconds (user + system)."""
    command = [str(Path(sys.executable).parent / "etl"), *args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=project_root())
        _, status, usage = os.wait4(process.pid, 0)  # this child's own resource usage
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.stderr.write(stdout + stderr)
        raise SystemExit(f"`etl {' '.join(args)}` failed")
    return stdout, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def _one_run(rows: int, job: Path) -> dict[str, float]:
    """One whole `etl run` process, timed by `bench.fixed_cost` (which also gives the CPU
    seconds the process spent while the extract stage ran)."""
    from bench import fixed_cost

    timed = fixed_cost.measure(job, project_root())
    report = timed["report"]
    if report["status"] != "completed" or report["rows_loaded"] != rows:
        raise SystemExit(f"the benchmark run did not load {rows} rows: {report}")
    stages = report["stages"]
    return {
        "extract": stages["extract"]["seconds"],
        "extract_cpu": timed["extract_cpu"],
        "load": stages["load"]["seconds"],
        "flow": report["duration_seconds"],
        "process": timed["wall"],
        "cpu": timed["cpu"],
        "peak_rss_mb": timed["peak_rss_mb"],
        "staged_mb": report["bytes_processed"] / 1e6,
        "read_units": report.get("read_units", 1),
    }


def _fresh_table(services: Services, job: Path) -> None:
    """A transactional or merge job's first run loads everything: each round starts from a new
    table."""
    from etl_bigquery.devservices.clients import bigquery_client

    table = next(
        line.split(":", 1)[1].strip()
        for line in job.read_text().splitlines()
        if line.startswith("  table: bq_")
    )
    client = bigquery_client(services.layout)
    client.delete_table(f"local.bench.{table}", not_found_ok=True)
    client.close()
    etl("job", "apply", str(job))


def measure(
    rows: int,
    services: Services,
    repeat: int,
    load_type: str = "catalog",
    key: str = "default",
    parallelism: int = 0,
) -> dict[str, Any]:
    """Medians over `repeat` rounds, each a COPY read then a flow run, so both see the same
    moment of a shared, noisy machine."""
    with tempfile.TemporaryDirectory() as folder:
        with psycopg.connect(DSN, autocommit=True) as conn:
            table = create_table(conn, rows)
        connections, job = write_files(Path(folder), table, services, load_type, key, parallelism)
        etl("connection", "apply", str(connections))
        if load_type == "catalog":
            etl("job", "apply", str(job))  # the others apply it on a new table each round
        copies, runs = [], []
        for _ in range(repeat):
            if load_type != "catalog":
                _fresh_table(services, job)
            with psycopg.connect(DSN, autocommit=True) as conn:
                copies.append(copy_ceiling(conn, table)[0])
            runs.append(_one_run(rows, job))
    copy = statistics.median(copies)
    extract = statistics.median(r["extract"] for r in runs)
    return {
        "rows": rows,
        "load_type": load_type if key == "default" else f"{load_type} (key: {key})",
        "parallelism": str(parallelism) if parallelism else "default",
        "read_units": runs[0]["read_units"],
        "repeat": repeat,
        "copy_rows_per_s": rows / copy,
        "extract_stage_rows_per_s": rows / extract,
        "extract_cpu_rows_per_s": rows / statistics.median(r["extract_cpu"] for r in runs),
        "ratio_to_copy": copy / extract,
        "ratio_min": min(c / r["extract"] for c, r in zip(copies, runs, strict=True)),
        "ratio_max": max(c / r["extract"] for c, r in zip(copies, runs, strict=True)),
        "load_rows_per_s": rows / statistics.median(r["load"] for r in runs),
        "end_to_end_rows_per_s": rows / statistics.median(r["flow"] for r in runs),
        "flow_seconds": statistics.median(r["flow"] for r in runs),
        "process_seconds": statistics.median(r["process"] for r in runs),
        "process_cpu_seconds": statistics.median(r["cpu"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "staged_mb": runs[0]["staged_mb"],
    }


def measure_small(rows: int, services: Services, repeat: int) -> dict[str, Any]:
    """The fixed cost: a catalog job of `rows` rows, default settings, timed by `bench.fixed_cost`
    (medians of the split; the highest peak RSS)."""
    from bench import fixed_cost

    with tempfile.TemporaryDirectory() as folder:
        with psycopg.connect(DSN, autocommit=True) as conn:
            table = create_table(conn, rows)
        connections, job = write_files(Path(folder), table, services)
        etl("connection", "apply", str(connections))
        etl("job", "apply", str(job))
        runs = [fixed_cost.measure(job, project_root()) for _ in range(repeat)]
    for run in runs:
        if run["rows_loaded"] != rows:
            raise SystemExit(f"the {rows}-row run loaded {run['rows_loaded']} rows")
    split = {k: statistics.median(r["split"][k] for r in runs) for k in runs[0]["split"]}
    return {
        "rows": rows,
        "repeat": repeat,
        "process_seconds": statistics.median(r["wall"] for r in runs),
        "process_cpu_seconds": statistics.median(r["cpu"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "split": split,
        "calls": runs[0]["calls"],
        "stages": runs[0]["stages"],
    }


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def print_table(results: list[dict[str, Any]], small: dict[str, Any] | None, load: str) -> None:
    catalog = {(r["rows"], r["parallelism"]): r for r in results if r["load_type"] == "catalog"}
    print(f"\nmake bench: PostgreSQL -> BigQuery emulator ({os.cpu_count()} cores; load average "
          f"1/5/15 min {load})")  # fmt: skip
    header = (
        f"{'rows':>10} {'load type':<14} {'parallel':>8} {'units':>5} {'COPY rows/s':>12} "
        f"{'extract+stage':>13} {'of COPY (min-max)':>18} {'of catalog':>10} "
        f"{'rows/CPU s':>10} {'of catalog':>10} {'process s':>9} {'CPU s':>6} {'peak RSS':>9}"
    )
    print(header)
    for r in results:
        base = catalog.get((r["rows"], r["parallelism"]))
        of_catalog = (
            f"{r['extract_stage_rows_per_s'] / base['extract_stage_rows_per_s']:>10.0%}"
            if base
            else f"{'':>10}"
        )
        of_catalog_cpu = (
            f"{r['extract_cpu_rows_per_s'] / base['extract_cpu_rows_per_s']:>10.0%}"
            if base
            else f"{'':>10}"
        )
        print(
            f"{r['rows']:>10,} {r['load_type']:<14} {r['parallelism']:>8} {r['read_units']:>5} "
            f"{r['copy_rows_per_s']:>12,.0f} {r['extract_stage_rows_per_s']:>13,.0f} "
            f"{r['ratio_to_copy']:>7.0%} ({r['ratio_min']:.0%}-{r['ratio_max']:.0%}) "
            f"{of_catalog} {r['extract_cpu_rows_per_s']:>10,.0f} {of_catalog_cpu} "
            f"{r['process_seconds']:>9.1f} {r['process_cpu_seconds']:>6.1f} "
            f"{r['peak_rss_mb']:>6,.0f} MB"
        )
    if small:
        print(
            f"{small['rows']:>10,} {'catalog':<14} {'default':>8} {1:>5} {'':>12} {'':>13} "
            f"{'':>18} {'':>10} {'':>10} {'':>10} {small['process_seconds']:>9.1f} "
            f"{small['process_cpu_seconds']:>6.1f} {small['peak_rss_mb']:>6,.0f} MB"
        )
        split, calls = small["split"], small["calls"]
        print(
            f"{'':>10} the {small['rows']}-row run's wall time: imports {split['imports']:.2f} s, "
            f"Prefect API {split['prefect_api']:.2f} s ({calls['prefect']} calls), BigQuery API "
            f"{split['bigquery_api']:.2f} s ({calls['bigquery']}), GCS {split['gcs_api']:.2f} s "
            f"({calls['gcs']}), interpreter start {split['startup']:.2f} s, rest "
            f"{split['rest']:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="table sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (medians)")
    parser.add_argument(
        "--load-type", action="append", choices=["catalog", "transactional", "merge"],
        help="repeatable; default: catalog, transactional and merge",
    )  # fmt: skip
    parser.add_argument(
        "--key", choices=["default", "all"], default="default", help="transactional identity"
    )
    parser.add_argument(
        "--parallelism", type=int, action="append",
        help="the job's parallelism (repeatable; 0: the default); default: 1 and 0",
    )  # fmt: skip
    parser.add_argument(
        "--small", type=int, default=20, help="rows of the fixed-cost job (0: not measured)"
    )
    args = parser.parse_args()
    sizes = args.rows or [2_000_000]
    threads = args.parallelism or [1, 0]
    load_types = args.load_type or ["catalog", "transactional", "merge"]
    services = Services()
    services.up(echo=lambda line: print(f"  {line}"))
    os.environ.update(services.environment())
    ensure_bucket(services.layout, BUCKET)
    subprocess.run(
        [str(Path(sys.executable).parent / "prefect"), "block", "register",
         "-m", "etl_bigquery.blocks"],
        check=True, capture_output=True, cwd=project_root(),
    )  # fmt: skip
    load_before = _load()
    small = measure_small(args.small, services, args.repeat) if args.small else None
    results = [
        measure(rows, services, args.repeat, load_type, args.key, parallelism)
        for rows in sizes
        for parallelism in threads
        for load_type in ["catalog", *[t for t in load_types if t != "catalog"]]
        if load_type in load_types or load_type == "catalog"
    ]
    print_table(results, small, f"{load_before} at start, {_load()} at end")
    print("\n" + json.dumps({"small": small, "sizes": results}, indent=2))


if __name__ == "__main__":
    main()
