"""The staging disk fills up: extraction writes Parquet files into a local folder
(`tempfile.mkdtemp`, so under TMPDIR) before uploading them.

The run's TMPDIR is a 128 KB tmpfs mounted for the test (`mount -t tmpfs -o size=128k`, as
root). Where mounting is not permitted, the child gets `RLIMIT_FSIZE` of 128 KB instead (with
SIGXFSZ ignored, so writes past it fail with EFBIG like a full disk); the result line says which
was used. The run must fail with a message and load nothing; the re-run (with room) converges.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import harness
from tests.faults.harness import assert_exact, converge, record

pytestmark = pytest.mark.services

LIMIT_BYTES = 128 * 1024


@contextlib.contextmanager
def small_disk(folder: Path) -> Iterator[str]:
    """Mount a tmpfs of LIMIT_BYTES on `folder`; yields "tmpfs" or, when that is not
    permitted, "rlimit" (the caller then limits the child's file size)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={LIMIT_BYTES // 1024}k,mode=1777", "tmpfs",
         str(folder)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        yield "rlimit"
        return
    try:
        yield "tmpfs"
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT_BYTES, LIMIT_BYTES))


def test_staging_disk_full_fails_the_run_and_loads_nothing(
    small_table, make_job, bq, pg_dsn, tmp_path
):
    source = small_table(20_000, per_value=100)
    job = make_job(source)
    with small_disk(tmp_path / "tmp") as how:
        env = {"TMPDIR": str(tmp_path / "tmp")}
        options = {"preexec_fn": _limit_file_size} if how == "rlimit" else {}
        full = harness.finish(harness.start(job.command(), env=env, **options))
        leftovers = sorted(p.name for p in (tmp_path / "tmp").iterdir())
    rows_after_failure = harness.bigquery_count(bq, job.table_id)
    final, reruns = converge(job, full)
    comparison = job.compare(pg_dsn, bq)
    record(
        "staging disk full",
        runs=1 + reruns,
        comparison=comparison,
        user_saw=full.user_saw(),
        final=final,
        disk=how,
        leftover_files=leftovers,
    )
    assert full.status == "failed", full.user_saw()
    assert rows_after_failure == 0, f"{rows_after_failure} rows loaded by the failed run"
    assert_exact(comparison, "after the staging disk filled up", final)
