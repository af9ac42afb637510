"""`make bench-verify`: `etl verify` of a PostgreSQL table of N rows (default 2,000,000) against
its BigQuery copy in the emulator: seconds and peak RSS of `--mode counts` and `--mode full`,
each in a fresh `etl verify --json` process (its peak RSS is the verify's alone).

    python -m bench.verify --rows 2000000 [--isolated]

The table and its catalog load are those of `bench.postgres_to_bigquery` (ten columns of mixed
types, kept for reuse); the load runs once when the BigQuery table does not hold N rows yet.
`--isolated` starts services of its own on free ports in a temporary folder (and stops them),
for a machine whose default services belong to someone else.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.postgres_to_bigquery import BUCKET, DSN, create_table, write_files
from etl_bigquery.devservices import Services
from etl_bigquery.devservices.clients import bigquery_client, ensure_bucket
from etl_bigquery.devservices.layout import Layout, Ports, project_root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def etl(*args: str, ok: tuple[int, ...] = (0,)) -> tuple[str, float, float]:
    """`etl ARGS`: stdout, seconds, and the peak RSS (MB) of that process alone."""
    command = [str(Path(sys.executable).parent / "etl"), *args]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=project_root())
        _, status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code not in ok:
        sys.stderr.write(stdout[-3000:] + stderr[-3000:])
        raise SystemExit(f"`etl {' '.join(args)}` failed with exit code {code}")
    return stdout, time.perf_counter() - started, usage.ru_maxrss / 1024


def _loaded_rows(services: Services, job: Path) -> int:
    table = next(
        line.split(":", 1)[1].strip()
        for line in job.read_text().splitlines()
        if line.startswith("  table: bq_")
    )
    client = bigquery_client(services.layout)
    try:
        rows = client.query_and_wait(f"SELECT COUNT(*) AS n FROM `local.bench.{table}`")
        return int(next(iter(rows))["n"])
    except Exception:  # not created or not loaded yet
        return 0
    finally:
        client.close()


def measure(rows: int, services: Services) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as folder:
        with psycopg.connect(DSN, autocommit=True) as conn:
            table = create_table(conn, rows)
        connections, job = write_files(Path(folder), table, services)
        etl("connection", "apply", str(connections))
        etl("job", "apply", str(job))
        if _loaded_rows(services, job) != rows:
            print(f"loading {rows:,} rows (once)...", flush=True)
            etl("run", str(job), "--json")
        results = []
        for mode in ("counts", "full"):
            stdout, seconds, peak = etl("verify", str(job), "--mode", mode, "--json", ok=(0, 1))
            found = json.loads(stdout)
            results.append(
                {
                    "rows": rows,
                    "mode": mode,
                    "equal": found["equal"],
                    "source_rows": found["source_rows"],
                    "bigquery_rows": found["bigquery_rows"],
                    "ranges": found["ranges"],
                    "passes": found["passes"],
                    "verify_seconds": found["seconds"],
                    "process_seconds": round(seconds, 1),
                    "rows_per_s": round(rows / found["seconds"]) if found["seconds"] else None,
                    "peak_rss_mb": round(peak),
                }
            )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--isolated", action="store_true", help="services of its own")
    args = parser.parse_args()
    state = None
    if args.isolated:
        state = tempfile.mkdtemp(prefix="etl-bench-verify-")
        ports = Ports(
            prefect=_free_port(), bigquery=_free_port(), bigquery_grpc=_free_port(),
            gcs=_free_port(), firestore=_free_port(),
        )  # fmt: skip
        services = Services(Layout(state_dir=Path(state), ports=ports))
    else:
        services = Services()
    services.up(echo=lambda line: print(f"  {line}"))
    try:
        os.environ.update(services.environment())
        ensure_bucket(services.layout, BUCKET)
        subprocess.run(
            [str(Path(sys.executable).parent / "prefect"), "block", "register",
             "-m", "etl_bigquery.blocks"],
            check=True, capture_output=True, cwd=project_root(),
        )  # fmt: skip
        results = measure(args.rows, services)
    finally:
        if state is not None:
            services.down(echo=lambda _line: None)
    print(f"\n{'rows':>10} {'mode':>7} {'equal':>6} {'seconds':>8} {'rows/s':>9} {'peak RSS':>9}")
    for r in results:
        print(
            f"{r['rows']:>10,} {r['mode']:>7} {r['equal']!s:>6} {r['verify_seconds']:>8.1f} "
            f"{r['rows_per_s'] or 0:>9,} {r['peak_rss_mb']:>7,}MB"
        )
    print("\n" + json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
