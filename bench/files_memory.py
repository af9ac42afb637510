"""`make bench-files`: peak memory while a large CSV goes through the file reader.

Generates a CSV of `--gigabytes` (default 2) in a temporary folder, then, in a child process,
streams it as extraction does: the file reader (Arrow's streaming CSV reader, text columns,
record numbers), the conformer (typed BigQuery columns, value by value) and the Parquet stager
(rolling 32 MB files into a local folder; the upload to Cloud Storage is left out). Prints rows,
seconds and the child's peak resident memory (ru_maxrss), which must stay far below the file's
size. The predecessor's pandas reader needed 12-15 GB for a 4 GB CSV.

    python -m bench.files_memory --gigabytes 2
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = '{i},customer-{c},{amount:.2f},2026-{m:02d}-{d:02d},"note with, comma {i}",true\n'


def generate(path: Path, gigabytes: float) -> int:
    """One block of 10,000 varied rows written again and again (ids repeat from block to
    block: memory, not uniqueness, is measured)."""
    target = int(gigabytes * 1024**3)
    block = "".join(
        LINE.format(i=k, c=k % 9973, amount=k / 7, m=k % 12 + 1, d=k % 28 + 1)
        for k in range(10_000)
    )
    rows = 0
    with path.open("w", encoding="utf-8", buffering=16 * 1024 * 1024) as out:
        out.write("id,customer,amount,day,note,active\n")
        written = 0
        while written < target:
            out.write(block)
            written += len(block)
            rows += 10_000
    return rows


def child(folder: str) -> None:
    """Read, conform and stage the folder's CSV; print figures as JSON."""
    import datetime as dt

    from etl_bigquery.engine.conform import Conformer, RunStamp, TargetColumn
    from etl_bigquery.engine.jobs.model import FilesSource
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.sources.base import ReadColumn, ReadPlan
    from etl_bigquery.engine.sources.files.reader import FileReader
    from etl_bigquery.engine.sources.files.store import StoreSettings
    from etl_bigquery.engine.staging import ParquetStager

    reader = FileReader(StoreSettings(type="local", bucket=folder))
    source = FilesSource(glob="*.csv", format="csv")
    types = {"id": BqType.INT64, "customer": BqType.STRING, "amount": BqType.NUMERIC,
             "day": BqType.DATE, "note": BqType.STRING, "active": BqType.BOOL,
             "_etl_source_file": BqType.STRING, "_etl_source_version": BqType.STRING,
             "_etl_source_row": BqType.INT64}  # fmt: skip
    columns = [c for c in reader.describe(source)]
    plan = ReadPlan(source, [ReadColumn(c.name, c.source_type, types[c.name]) for c in columns])
    targets = [TargetColumn(c.name, c.source_type, c.name, types[c.name]) for c in columns]
    conformer = Conformer(targets, RunStamp("bench", dt.datetime.now(dt.UTC)))
    staging = Path(folder) / "staged"
    stager = ParquetStager(staging.as_uri(), "run", conformer.schema)
    started = time.monotonic()
    rows = rejected = 0
    for batch in reader.read(plan):
        good, bad = conformer.conform(batch)
        stager.write(good)
        rows += good.num_rows
        rejected += len(bad) + len(reader.take_rejected())
        # Staged files are uploaded and deleted as they close in production; here, deleted.
        for part in staging.glob("run/*.parquet"):
            if stager._path is None or part != stager._path:
                part.unlink(missing_ok=True)
    stager.finish()
    seconds = time.monotonic() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "rejected": rejected, "seconds": round(seconds, 1),
                      "peak_rss_mb": round(peak_kb / 1024)}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    folder = Path(tempfile.mkdtemp(prefix="etl-bench-files-"))
    try:
        started = time.monotonic()
        rows = generate(folder / "big.csv", args.gigabytes)
        size = (folder / "big.csv").stat().st_size
        print(f"generated {size / 1024**3:.2f} GB, {rows:,} rows in "
              f"{time.monotonic() - started:.0f}s: {folder / 'big.csv'}")  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "bench.files_memory", "--child", str(folder)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            print(result.stderr[-3000:])
            raise SystemExit(1)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"read, conformed and staged {figures['rows']:,} rows ({figures['rejected']} "
              f"rejected) in {figures['seconds']}s; peak memory {figures['peak_rss_mb']} MB "
              f"for a {size / 1024**3:.2f} GB file")  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
