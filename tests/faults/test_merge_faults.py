"""kill -9 on merge jobs (engine.merge): at every named checkpoint, and at random moments while
another connection keeps changing the source (updates, updates that keep their cursor, deletes,
keys deleted and inserted again, inserts, commits later than their cursor). After the last run
BigQuery must equal the source: row count, checksum of every column, no key lost or duplicated.

The jobs use `deletes: hard` with a key comparison on every run, so the table is the source
table exactly (soft deletes keep rows, which the checksum would count).
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.faults import harness
from tests.faults.harness import (
    KILLED,
    FaultJob,
    assert_exact,
    free_slot,
    record,
    run_until_complete,
)
from tests.faults.test_kills import checkpoint_names

pytestmark = pytest.mark.services


@dataclass
class MergeFaultJob(FaultJob):
    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        spec.pop("backfill_start")
        return spec | {"load_type": "merge", "deletes": "hard", "delete_check": "every_run"}


def _merge_job(source, faults_connection, destination, dataset, tmp_path) -> MergeFaultJob:
    job = MergeFaultJob(
        source=source, connection=faults_connection, block=destination, dataset=dataset,
        folder=tmp_path / "jobs",
    )  # fmt: skip
    applied = job.apply()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return job


class SourceWriter:
    """Changes the source the way an application does while runs are killed: every step one
    of: update (cursor to the clock), update keeping the cursor (the newest row: inside any
    lookback), delete, a deleted key inserted again, an insert, and a late commit (a row stamped
    at its transaction's start, committed a second later)."""

    def __init__(self, dsn: str, table: str, seed: int) -> None:
        self.dsn, self.table = dsn, table
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.steps = 0
        self.deleted: list[int] = []
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> SourceWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                self._step(conn)
                self.steps += 1
                time.sleep(self.rng.uniform(0.02, 0.2))

    def _step(self, conn: psycopg.Connection) -> None:
        t = self.table
        top = conn.execute(f"SELECT max(id) FROM {t}").fetchone()[0] or 0
        some = self.rng.randint(1, max(top, 1))
        kind = self.rng.choice(["update", "same", "delete", "back", "insert", "late"])
        if kind == "update":
            conn.execute(
                f"UPDATE {t} SET note = note || '+', updated_at = clock_timestamp() WHERE id = %s",
                (some,),
            )
        elif kind == "same":
            conn.execute(
                f"UPDATE {t} SET amount = amount + 1 WHERE id = "
                f"(SELECT id FROM {t} ORDER BY updated_at DESC, id DESC LIMIT 1)"
            )
        elif kind == "delete":
            if conn.execute(f"DELETE FROM {t} WHERE id = %s", (some,)).rowcount:
                self.deleted.append(some)
        elif kind == "back" and self.deleted:
            key = self.deleted.pop(self.rng.randrange(len(self.deleted)))
            conn.execute(
                f"INSERT INTO {t} VALUES (%s, 'back', 1.5, 2.5, '{{}}', true, clock_timestamp())",
                (key,),
            )
        elif kind == "insert":
            conn.execute(
                f"INSERT INTO {t} VALUES (%s, 'new', 1, 2, '[1]', false, clock_timestamp())",
                (top + 1,),
            )
        elif kind == "late":
            with conn.transaction():  # now() is the transaction's start: committed later
                conn.execute(
                    f"INSERT INTO {t} VALUES (%s, 'late', 3, 4, 'null', true, now())", (top + 1,)
                )
                time.sleep(self.rng.uniform(0.2, 1.5))


def test_merge_killed_at_each_checkpoint_then_rerun_equals_the_source(
    small_table, faults_connection, destination, dataset, tmp_path, bq, pg_dsn
):
    source = small_table(300, per_value=10)
    job = _merge_job(source, faults_connection, destination, dataset, tmp_path)
    assert run_until_complete(job)[0].completed
    rng = random.Random(int(os.environ.get("FAULTS_SEED", "7")))
    runs, killed, not_reached = 1, [], []
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name in checkpoint_names():
            # Changes of every kind before each killed run, so each checkpoint sees them.
            top = conn.execute(f"SELECT max(id) FROM {source.qualified}").fetchone()[0]
            conn.execute(
                f"UPDATE {source.qualified} SET note = note || '+', updated_at = clock_timestamp()"
                " WHERE id = %s",
                (rng.randint(1, top),),
            )
            conn.execute(f"DELETE FROM {source.qualified} WHERE id = %s", (rng.randint(1, top),))
            source.add(new_values=2, at_last=3)
            crashed = harness.finish(harness.start(job.crash_command(name, "kill")))
            runs += 1
            if crashed.returncode == KILLED:
                killed.append(name)
                free_slot(job.name)
            else:  # a checkpoint merge runs do not pass (the rejected rows' load)
                assert crashed.completed, (name, crashed.user_saw(), crashed.stderr[-3000:])
                not_reached.append(name)
    final, reruns = run_until_complete(job)
    comparison = job.compare(pg_dsn, bq)
    leftovers = [t.table_id for t in bq.list_tables(dataset) if t.table_id.startswith("_etl_")]
    record(
        "merge: kill -9 at each named checkpoint (updates, deletes, inserts between kills)",
        runs=runs + reruns, comparison=comparison,
        user_saw=f"killed runs: nothing; re-run: {final.user_saw()}", final=final,
        killed_at=killed, not_reached=not_reached, staging_tables_left=leftovers,
    )  # fmt: skip
    assert_exact(comparison, "merge after a kill at each checkpoint", final)
    assert leftovers == [], leftovers
    merge_points = {n for n in checkpoint_names() if n.startswith(("merge.", "deletes."))}
    assert merge_points <= set(killed), f"not reached: {not_reached}"


@pytest.mark.faults
def test_merge_killed_at_random_moments_while_the_source_changes(
    small_table, faults_connection, destination, dataset, tmp_path, bq, pg_dsn
):
    """FAULTS_KILLS (20) runs, each SIGKILLed after a random delay (seeded by FAULTS_SEED)
    between half the process start-up and 1.2 times a completed run's duration, while a writer
    changes the source; every fifth kill a run is let finish. Then the writer stops and the job
    runs until one run completes: BigQuery equals the source."""
    seed = int(os.environ.get("FAULTS_SEED", "7"))
    rng = random.Random(seed)
    wanted = int(os.environ.get("FAULTS_KILLS", "20"))
    source = small_table(int(os.environ.get("FAULTS_MERGE_ROWS", "20000")), per_value=10)
    job = _merge_job(source, faults_connection, destination, dataset, tmp_path)
    started = time.monotonic()
    first = harness.finish(harness.start(job.command()))
    wall = time.monotonic() - started
    assert first.completed, first.user_saw()
    flow = min(float((first.report or {}).get("duration_seconds") or wall), wall)
    startup = max(wall - flow, 0.5)
    kills, runs, moments, finished = 0, 1, [], []
    with SourceWriter(pg_dsn, source.qualified, seed) as writer:
        while kills < wanted and runs < 4 * wanted:
            if kills and kills % 5 == 0 and len(finished) < kills // 5:
                outcome, more = run_until_complete(job)
                runs += more
                finished.append(outcome.user_saw())
            delay = rng.uniform(0.5 * startup, startup + 1.2 * flow)
            process = harness.start(job.command())
            runs += 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=delay)
            harness.kill(process)
            outcome = harness.finish(process)
            if outcome.returncode == KILLED:
                kills += 1
                moments.append(round(delay, 2))
                free_slot(job.name)
            else:
                finished.append(outcome.user_saw())
        steps = writer.steps
    final, reruns = run_until_complete(job)
    comparison = job.compare(pg_dsn, bq)
    again = job.run()
    record(
        "merge: kill -9 at random moments while the source is updated, deleted and inserted",
        runs=runs + reruns + 1, comparison=comparison,
        user_saw=f"{kills} killed runs: nothing; re-run: {final.user_saw()}", final=final,
        kills=kills, kill_after_seconds=moments, source_changes=steps,
        ended_before_the_kill=finished, run_after_convergence=again.user_saw(),
    )  # fmt: skip
    assert kills >= wanted, f"only {kills} runs were killed: {finished}"
    assert_exact(comparison, "merge after random kills", final)
    assert again.completed and (again.report or {}).get("rows_loaded") == 0, again.user_saw()
