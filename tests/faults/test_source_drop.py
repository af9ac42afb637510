"""The source drops its connection mid-stream: the backend reading the table is terminated from
an admin connection (`pg_terminate_backend`), as a database restart or failover would. The run
retries (a lost connection is transient) or fails cleanly; the re-run converges.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from tests.faults import harness
from tests.faults.harness import assert_exact, converge, record

pytestmark = pytest.mark.services


class SourceKiller(threading.Thread):
    """Terminates every PostgreSQL backend of the product (`application_name` etl-bigquery)
    that has been running a statement reading `table` for at least `after` seconds, up to
    `times` statements."""

    def __init__(self, dsn: str, table: str, *, times: int, after: float = 0.0) -> None:
        super().__init__(name="source-killer", daemon=True)
        self.dsn, self.table, self.times, self.after = dsn, table, times, after
        self.terminated: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set() and len(self.terminated) < self.times:
                rows = conn.execute(
                    "SELECT pid, left(query, 200) FROM pg_stat_activity "
                    "WHERE application_name = 'etl-bigquery' AND state = 'active' "
                    "AND pid <> pg_backend_pid() AND position(%s in query) > 0 "
                    "AND query ILIKE 'COPY%%' AND query NOT ILIKE '%%LIMIT 0%%' "
                    "AND now() - query_start >= make_interval(secs => %s)",
                    (self.table, self.after),
                ).fetchall()
                for pid, query in rows:
                    if conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]:
                        self.terminated.append(query)
                time.sleep(0.01)


def _drop_during_run(job, pg_dsn, *, times: int, after: float):
    killer = SourceKiller(pg_dsn, job.source.name, times=times, after=after)
    process = harness.start(job.command())
    killer.start()
    outcome = harness.finish(process)
    killer.stop.set()
    killer.join()
    return outcome, killer.terminated


def test_source_connection_dropped_mid_stream_small(small_table, make_job, bq, pg_dsn):
    """80k rows read in well under a second: if the read ends before the killer sees it, rows
    are added and the job runs again (at most three tries)."""
    source = small_table(80_000, per_value=100)
    job = make_job(source)
    runs, terminated = 0, []
    while not terminated and runs < 3:
        if runs:
            source.add(new_values=400, at_last=50)
        outcome, terminated = _drop_during_run(job, pg_dsn, times=1, after=0.0)
        runs += 1
    final, reruns = converge(job, outcome)
    runs += reruns
    comparison = job.compare(pg_dsn, bq)
    record(
        "source connection terminated mid-stream (80k rows)",
        runs=runs,
        comparison=comparison,
        user_saw=outcome.user_saw(),
        final=final,
        terminated=len(terminated),
    )
    assert terminated, "the reading statement was never seen (the read ended first)"
    assert_exact(comparison, "after the source dropped its connection", final)


@pytest.mark.faults
@pytest.mark.parametrize("times", [2, 4])
def test_source_connection_dropped_mid_stream_of_a_million_rows(
    times, big_table, make_job, bq, pg_dsn
):
    """`times` reading statements are terminated 1 s into the stream: 2 leaves the flow's
    retries room to finish, 4 outlasts them (four attempts) so the run fails and a re-run
    must converge."""
    job = make_job(big_table)
    outcome, terminated = _drop_during_run(job, pg_dsn, times=times, after=1.0)
    runs = 1
    final, reruns = converge(job, outcome)
    runs += reruns
    comparison = job.compare(pg_dsn, bq)
    record(
        f"source connection terminated mid-stream, {times} times in one run (≥1M rows)",
        runs=runs,
        comparison=comparison,
        user_saw=outcome.user_saw(),
        final=final,
        terminated=len(terminated),
    )
    assert len(terminated) >= 1, "the reading statement was never seen"
    assert_exact(comparison, "after the source dropped its connection", final)
