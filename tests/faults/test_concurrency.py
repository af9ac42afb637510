"""Concurrency: two triggers of one job at the same moment, and two jobs into one table."""

from __future__ import annotations

import re

import pytest

from tests.faults import harness
from tests.faults.harness import EXIT_SKIPPED, assert_exact, record

pytestmark = pytest.mark.services


def test_two_triggers_of_one_job_at_once(small_table, make_job, bq, pg_dsn):
    """Two `etl run` processes started together: one runs and the other ends Skipped (exit
    code 3), or both complete; either way every row is in BigQuery once."""
    source = small_table(5_000, per_value=100)
    job = make_job(source)
    first, second = (harness.start(job.command()) for _ in range(2))
    outcomes = [harness.finish(first), harness.finish(second)]
    comparison = job.compare(pg_dsn, bq)
    codes = sorted(o.returncode for o in outcomes)
    record(
        "two triggers of one job at once",
        runs=2,
        comparison=comparison,
        user_saw=" / ".join(o.user_saw() for o in outcomes),
        exit_codes=codes,
    )
    assert codes in ([0, 0], [0, EXIT_SKIPPED]), [o.user_saw() for o in outcomes]
    assert_exact(comparison, "after two simultaneous runs")


def test_a_second_job_into_the_same_table_is_refused(small_table, make_job, bq, pg_dsn):
    """A table belongs to one job: a second job naming it is refused, in one sentence that names
    the owner, by `etl job apply` and by `etl run`, and the table is left as it was."""
    source = small_table(500, per_value=10)
    owner = make_job(source)
    assert owner.run().status == "completed"
    intruder = make_job(source, apply=False)
    applied = intruder.apply()
    ran = intruder.run()
    comparison = owner.compare(pg_dsn, bq)
    refusal = (applied.stderr or applied.stdout).strip()
    record(
        "two jobs into one table",
        runs=2,
        comparison=comparison,
        user_saw=f"apply: {refusal} | run: {ran.user_saw()}",
    )
    assert applied.returncode != 0, applied.stdout
    for message in (refusal, (ran.report or {}).get("error") or ""):
        assert owner.name in message, message
        assert re.fullmatch(r"(Error: )?[^\n]+\.", message), f"not one sentence: {message!r}"
    assert ran.status == "failed", ran.user_saw()
    assert_exact(comparison, "the table of the first job after a second job was refused")
