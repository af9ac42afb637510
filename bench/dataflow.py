"""`make bench-dataflow`: one PostgreSQL table through standard mode and through the Dataflow
subflow on Beam's DirectRunner with 1 and 2 workers, in the same run.

Each configuration is a fresh `etl run --json` process (a catalog job into its own table); the
process tree is sampled every 0.2 s, so the peak RSS of the flow's process and of every Beam worker
process it starts is reported. Prints rows/s of the extract stage and end to end, the speed-up
against standard mode and against one worker, and what a Dataflow run of 100M rows would need
(units and workers) from the measured rate of one worker.

    python -m bench.dataflow --rows 1000000 [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import psycopg

from bench.postgres_to_bigquery import BUCKET, DSN, SCHEMA, create_table
from etl_bigquery.devservices import Services
from etl_bigquery.devservices.clients import ensure_bucket
from etl_bigquery.devservices.layout import project_root

ROWS_PER_UNIT = 250_000
CONFIGS = {
    "standard": "processing_mode: standard\n",
    "beam, 1 worker": "processing_mode: dataflow\ndataflow:\n  direct_workers: 1\n"
    f"  rows_per_unit: {ROWS_PER_UNIT}\n",
    "beam, 2 workers": "processing_mode: dataflow\ndataflow:\n  direct_workers: 2\n"
    f"  rows_per_unit: {ROWS_PER_UNIT}\n",
}


def _files(folder: Path, table: str, services: Services) -> tuple[Path, dict[str, Path]]:
    connections = folder / "connections.yaml"
    connections.write_text(
        "kind: sql\nname: bench-postgres\ntype: postgresql\nhost: 127.0.0.1\nport: 5432\n"
        "database: test\nusername: postgres\n---\n"
        "kind: bigquery-destination\nname: bench-bigquery\nproject: local\n"
        f"staging_uri: gs://{BUCKET}/loads\napi_endpoint: {services.layout.bigquery_endpoint}\n"
        f"storage_endpoint: {services.layout.gcs_endpoint}\n"
    )
    jobs = {}
    for index, (label, mode) in enumerate(CONFIGS.items()):
        job = folder / f"job{index}.yaml"
        job.write_text(
            f"name: bench-df-{table.replace('_', '-')}-{index}\nconnection: bench-postgres\n"
            f"source:\n  schema: {SCHEMA}\n  table: {table}\n"
            "destination:\n  block: bench-bigquery\n  dataset: bench\n"
            f"  table: bq_{table}_df{index}\nload_type: catalog\n" + mode
        )
        jobs[label] = job
    return connections, jobs


def _etl(*args: str) -> str:
    command = [str(Path(sys.executable).parent / "etl"), *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=project_root(), check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"`etl {' '.join(args)}` failed")
    return done.stdout


def _run_sampled(job: Path) -> tuple[dict, dict[str, float], float]:
    """`etl run --json JOB` with its process tree sampled: (report, peak MB per process, wall)."""
    command = [str(Path(sys.executable).parent / "etl"), "run", str(job), "--json"]
    peaks: dict[int, tuple[str, float]] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=project_root())
        stop = threading.Event()

        def sample() -> None:
            root = psutil.Process(process.pid)
            while not stop.is_set():
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
                for proc in tree:
                    try:
                        rss = proc.memory_info().rss / 1e6
                        name = "flow (etl run)" if proc.pid == process.pid else _label(proc)
                    except psutil.Error:
                        continue
                    if rss > peaks.get(proc.pid, ("", 0.0))[1]:
                        peaks[proc.pid] = (name, rss)
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        process.wait()
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.stderr.write(stdout + stderr)
        raise SystemExit(f"the benchmark run of {job.name} failed")
    named: dict[str, float] = {}
    for pid, (name, rss) in sorted(peaks.items()):
        named[f"{name} [{pid}]"] = round(rss, 1)
    return json.loads(stdout), named, wall


def _label(proc: psutil.Process) -> str:
    line = " ".join(proc.cmdline())
    if proc.name() in ("sh", "bash", "dash"):
        return "shell"  # Beam starts each worker process through a shell
    if "sdk_worker_main" in line or "apache_beam" in line:
        return "beam worker"
    return proc.name()


def measure(rows: int, services: Services, repeat: int) -> list[dict]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        table = create_table(conn, rows)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        connections, jobs = _files(Path(folder), table, services)
        _etl("connection", "apply", str(connections))
        for label, job in jobs.items():
            _etl("job", "apply", str(job))
            rounds = []
            for _ in range(repeat):
                report, peaks, wall = _run_sampled(job)
                if report["status"] != "completed" or report["rows_loaded"] != rows:
                    raise SystemExit(f"{label}: did not load {rows} rows: {report}")
                rounds.append((report, peaks, wall))
            extract = statistics.median(r["stages"]["extract"]["seconds"] for r, _, _ in rounds)
            flow = statistics.median(r["duration_seconds"] for r, _, _ in rounds)
            peaks = rounds[-1][1]
            results.append(
                {
                    "config": label,
                    "rows": rows,
                    "processing_mode": rounds[-1][0]["processing_mode"],
                    "extract_seconds": extract,
                    "extract_rows_per_s": rows / extract,
                    "end_to_end_rows_per_s": rows / flow,
                    "flow_seconds": flow,
                    "files_staged": rounds[-1][0]["files_staged"],
                    "peak_rss_mb": peaks,
                }
            )
    return results


def dataflow_estimate(results: list[dict], target_rows: int = 100_000_000) -> dict[str, object]:
    """What 100M rows would need on Dataflow, from the measured rate of ONE DirectRunner worker
    (a worker process on one core of this machine; an n1-standard-2 has two such vCPUs)."""
    one = next(r for r in results if r["config"] == "beam, 1 worker")
    per_worker = one["extract_rows_per_s"]
    units = math.ceil(target_rows / ROWS_PER_UNIT)
    out: dict[str, object] = {
        "rows": target_rows,
        "units": units,
        "rows_per_unit": ROWS_PER_UNIT,
        "rows_per_s_per_worker_measured": round(per_worker),
        "hours_on_one_worker": round(target_rows / per_worker / 3600, 2),
    }
    for minutes in (60, 30, 15):
        out[f"workers_for_{minutes}_min"] = math.ceil(target_rows / (per_worker * minutes * 60))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds per configuration")
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
    results = measure(args.rows, services, args.repeat)
    standard = next(r for r in results if r["config"] == "standard")
    one = next(r for r in results if r["config"] == "beam, 1 worker")
    print(
        f"\n{'config':<16} {'extract s':>9} {'extract rows/s':>15} {'end-to-end rows/s':>18} "
        f"{'vs standard':>11} {'vs 1 worker':>11}  peak RSS per process (MB)"
    )
    for r in results:
        peaks = ", ".join(f"{k.split(' [')[0]} {v:,.0f}" for k, v in r["peak_rss_mb"].items())
        print(
            f"{r['config']:<16} {r['extract_seconds']:>9.1f} {r['extract_rows_per_s']:>15,.0f} "
            f"{r['end_to_end_rows_per_s']:>18,.0f} "
            f"{standard['extract_seconds'] / r['extract_seconds']:>10.2f}x "
            f"{one['extract_seconds'] / r['extract_seconds']:>10.2f}x  {peaks}"
        )
    estimate = dataflow_estimate(results)
    print("\n100M rows on Dataflow (from one worker's measured rate):", json.dumps(estimate))
    print("\n" + json.dumps({"results": results, "dataflow_100m": estimate}, indent=2))


if __name__ == "__main__":
    main()
