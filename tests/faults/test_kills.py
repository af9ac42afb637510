"""kill -9: at every named checkpoint, while a BigQuery load job runs, and at random moments of
runs over a table of a million rows. After each, the job is run again until a run completes and
BigQuery must hold exactly the source rows (count, checksum of every column, no key lost or
duplicated).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid

import pytest

from etl_bigquery.engine import checkpoints
from tests.faults import harness
from tests.faults.harness import KILLED, assert_exact, free_slot, record, run_until_complete

pytestmark = pytest.mark.services


def compare_ids(expected: list[int], kept: list[int]) -> dict[str, int]:
    import numpy as np

    from tests.faults.checksum import multiset_excess

    a, b = np.array(expected, dtype=np.int64), np.array(kept, dtype=np.int64)
    return {
        "expected": len(expected),
        "kept": len(kept),
        "lost": multiset_excess(a, b),
        "duplicated": multiset_excess(b, a),
    }


def checkpoint_names() -> list[str]:
    """Whatever checkpoints `engine.checkpoints` defines now (new ones join automatically)."""
    return sorted(
        value
        for name, value in vars(checkpoints).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    )


def test_killed_at_each_checkpoint_then_rerun_loads_every_row_once(
    small_table, make_job, bq, pg_dsn
):
    """The table has rows that do not fit (invalid JSON in a JSON column), so the run also keeps
    rejected rows and passes the checkpoints of that step; they must be kept exactly once."""
    source = small_table(300, per_value=10, rejects=True)
    job = make_job(source)
    names = checkpoint_names()
    assert names, "etl_bigquery.engine.checkpoints defines no checkpoint"
    runs, killed, not_reached = 0, [], []
    for name in names:
        source.add(new_values=5, at_last=7)  # some rows share the last cursor value
        crashed = harness.finish(harness.start(job.crash_command(name, "kill")))
        runs += 1
        if crashed.returncode == KILLED:
            killed.append(name)
            free_slot(job.name)
        else:  # a checkpoint this run does not pass (merge and delete steps): it ends Partial,
            # since the rows it adds include malformed ones
            assert crashed.completed, (name, crashed.user_saw(), crashed.stderr[-3000:])
            not_reached.append(name)
    source.add(new_values=3, at_last=4)
    final, reruns = run_until_complete(job)
    comparison = job.compare(pg_dsn, bq)
    rejected = compare_ids(source.malformed_ids(), job.rejected_ids(bq))
    record(
        "kill -9 at each named checkpoint (with rejected rows)",
        runs=runs + reruns,
        comparison=comparison,
        user_saw=f"killed runs: nothing; re-run: {final.user_saw()}",
        final=final,
        killed_at=killed,
        not_reached=not_reached,
        rejected_rows=rejected,
    )
    assert_exact(comparison, "after a kill at each checkpoint", final)
    assert rejected["lost"] == 0 and rejected["duplicated"] == 0, rejected
    every_load_passes = {checkpoints.EXTRACT_BATCH_STAGED, checkpoints.LOAD_BEFORE_SUBMIT,
                         checkpoints.LOAD_SUBMITTED, checkpoints.LOAD_DONE}  # fmt: skip
    assert every_load_passes <= set(killed), f"not reached: {not_reached}"


def test_killed_while_the_load_job_runs_then_rerun_waits_for_it(small_table, make_job, bq, pg_dsn):
    """The child stops right after submitting its load job; the test looks up that job in
    BigQuery and kills the child while it is (or, with the fast emulator, may already not be)
    running. The next run must wait for it or build on it, never load the rows again."""
    source = small_table(2000, per_value=20)
    job = make_job(source)
    source.add(new_values=0)
    marker = job.folder / "submitted"
    child = harness.start(job.crash_command(checkpoints.LOAD_SUBMITTED, "hold", marker))
    try:
        assert harness.wait_for(marker.exists, timeout=300), "the run never submitted its load"
        states = [j.state for j in bq.list_jobs(max_results=50) if job.name in j.job_id]
    finally:
        harness.kill(child)
    killed = harness.finish(child)
    assert killed.returncode == KILLED
    free_slot(job.name)
    source.add(new_values=4, at_last=5)
    final, reruns = run_until_complete(job)
    comparison = job.compare(pg_dsn, bq)
    state_at_kill = ",".join(states) or "not listed"
    record(
        "kill -9 while the load job runs",
        runs=1 + reruns,
        comparison=comparison,
        user_saw=f"killed run: nothing; re-run: {final.user_saw()}",
        final=final,
        load_job_state_at_kill=state_at_kill,
    )
    assert_exact(comparison, f"after a kill with the load job {state_at_kill}", final)


def _quick_check(bq, job, source) -> dict[str, int]:
    """Counts only (the full checksum runs at the end): rows, distinct ids, source rows."""
    row = next(
        iter(
            bq.query_and_wait(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM `{job.table_id}`"
            )
        )
    )
    return {"bigquery": int(row["n"]), "distinct_ids": int(row["d"]), "source": source.count()}


@pytest.mark.faults
def test_killed_at_random_moments_of_million_row_runs(big_copy, make_job, bq, pg_dsn):
    """FAULTS_KILLS (20) runs over the ≥1M-row table, each SIGKILLed at a random moment (seeded
    by FAULTS_SEED): the delay is drawn between half the process start-up and 1.1 times the
    duration of the last run that completed (the first from a clean run into a throw-away table;
    durations only spread the kills, they are never asserted), so some runs finish first. The
    first kills hit the initial million-row load; after every fifth kill a run is let finish and
    counted (rows, distinct ids); later kills hit runs that start from a loaded table. Before each
    run rows are added, some sharing the current last cursor value."""
    rng = random.Random(int(os.environ.get("FAULTS_SEED", "7")))
    wanted = int(os.environ.get("FAULTS_KILLS", "20"))
    calibration = make_job(big_copy, dataset_name=f"cal_{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    clean = harness.finish(harness.start(calibration.command()))
    wall = time.monotonic() - started
    bq.delete_dataset(f"local.{calibration.dataset}", delete_contents=True, not_found_ok=True)
    assert clean.status == "completed", clean.report or clean.stderr[-2000:]
    flow = min(float((clean.report or {}).get("duration_seconds") or wall), wall)
    startup = max(wall - flow, 0.5)

    job = make_job(big_copy)
    kills, runs, moments, finished_first, checks = 0, 0, [], [], []
    while kills < wanted and runs < 4 * wanted:
        if kills and kills % 5 == 0 and len(checks) < kills // 5:
            started = time.monotonic()
            settled = harness.finish(harness.start(job.command()))
            runs += 1
            if settled.completed:
                flow = max(time.monotonic() - started - startup, 0.5)
            else:
                free_slot(job.name)
                runs += run_until_complete(job)[1]
            checks.append(_quick_check(bq, job, big_copy))
        big_copy.add(new_values=rng.randint(0, 5), at_last=rng.randint(1, 300))
        delay = rng.uniform(0.5 * startup, startup + 1.1 * flow)
        started = time.monotonic()
        process = harness.start(job.command())
        runs += 1
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            harness.kill(process)
        outcome = harness.finish(process)
        if outcome.returncode == KILLED:
            kills += 1
            moments.append(round(delay, 2))
            free_slot(job.name)
        else:
            finished_first.append(outcome.user_saw())
            if outcome.completed:
                flow = max(time.monotonic() - started - startup, 0.5)
    final, reruns = run_until_complete(job)
    comparison = job.compare(pg_dsn, bq)
    again = job.run()
    record(
        "kill -9 at random moments (≥1M rows, 1000 rows per cursor value)",
        runs=runs + reruns + 1,
        comparison=comparison,
        user_saw=f"{kills} killed runs: nothing; re-run: {final.user_saw()}",
        final=final,
        kills=kills,
        kill_after_seconds=moments,
        startup_seconds=round(startup, 1),
        ended_before_the_kill=finished_first,
        counts_after_every_fifth_kill=checks,
        run_after_convergence=again.user_saw(),
    )
    assert kills >= wanted, f"only {kills} runs were killed: {finished_first}"
    for check in checks:
        assert check["bigquery"] == check["distinct_ids"], f"duplicates: {checks}"
    assert_exact(comparison, "after random kills", final)
    assert again.completed and (again.report or {}).get("rows_loaded") == 0, again.user_saw()
