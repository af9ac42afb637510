"""BigQuery answers 500, 503 or a rate limit (429, or 403 rateLimitExceeded as BigQuery mostly
does), through `bq_proxy` in front of the emulator: on the state read (queries), on the lookup
or polling of load jobs (GET jobs/ID) and on the submission of the load job (POST jobs), and a
submission whose answer is lost after BigQuery accepted it. The run retries (the Google client
retries first, then the flow after 5/10/20 s) or fails; the re-run converges.
"""

from __future__ import annotations

import pytest

from tests.faults.harness import assert_exact, converge, record

pytestmark = pytest.mark.services

STATE_READ = r"^POST /bigquery/v2/projects/[^/]+/queries$"
JOB_LOOKUP = r"^GET /bigquery/v2/projects/[^/]+/jobs/[^/]+$"
SUBMIT = r"^POST /bigquery/v2/projects/[^/]+/jobs$"
POINTS = {"state read": STATE_READ, "job lookup/polling": JOB_LOOKUP, "job submission": SUBMIT}
ERRORS = ["500", "503", "429", "403-rate-limit"]


def _scenario(small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn, faults, name):
    """Load once cleanly, add rows (some at the last cursor value), arm `faults` [(pattern,
    options)], run, then re-run until a run completes and compare."""
    source = small_table(300, per_value=10)
    job = make_job(source, block=proxied_destination)
    first = job.run()
    assert first.status == "completed", first.report or first.stderr[-2000:]
    source.add(new_values=5, at_last=6)
    rules = [bq_proxy.fail(pattern, **options) for pattern, options in faults]
    faulted = job.run()
    final, reruns = converge(job, faulted)  # faults not met yet stay armed for the re-runs
    fired = [rule.fired for rule in rules]
    bq_proxy.clear()
    comparison = job.compare(pg_dsn, bq)
    record(
        name,
        runs=2 + reruns,
        comparison=comparison,
        user_saw=faulted.user_saw(),
        final=final,
        injected=fired,
        faulted_status=faulted.status,
    )
    assert all(fired), f"a fault never fired: {fired} ({bq_proxy.log[-20:]})"
    assert_exact(comparison, name, final)
    return faulted


def test_bigquery_503_on_the_state_read_429_and_a_lost_answer_on_submission(
    small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn
):
    """One run meets three faults: a 503 on the state read, a 429 on its first submission, and
    a 500 on the second one after BigQuery created the job (the client's retry meets the job it
    created itself)."""
    faulted = _scenario(
        small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn,
        [(STATE_READ, {"status": 503}), (SUBMIT, {"status": 429}),
         (SUBMIT, {"status": 500, "forward_first": True})],
        "BigQuery 503 on the state read, 429 then a lost answer (500) on job submission",
    )  # fmt: skip
    assert faulted.status == "completed", faulted.report


@pytest.mark.faults
@pytest.mark.parametrize("error", ERRORS)
@pytest.mark.parametrize("point", list(POINTS))
def test_bigquery_errors_at_each_point(
    point, error, small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn
):
    _scenario(
        small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn,
        [(POINTS[point], {"status": error, "times": 2})],
        f"BigQuery {error} x2 on {point}",
    )  # fmt: skip


@pytest.mark.faults
@pytest.mark.parametrize("error", ["503", "403-rate-limit"])
def test_a_bigquery_outage_longer_than_the_client_retries(
    error, small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn
):
    """Every state read fails for 45 s: past the client's own quick retries, into the flow's
    (5, 10, 20 s) or to a failed run; either way the next run converges."""
    _scenario(
        small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn,
        [(STATE_READ, {"status": error, "for_seconds": 45})],
        f"BigQuery {error} outage of 45 s on the state read",
    )  # fmt: skip


@pytest.mark.faults
@pytest.mark.parametrize("error", ["500", "503"])
def test_lost_answers_on_every_bigquery_write(
    error, small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn
):
    """Both the state read and the submission take effect but answer an error."""
    _scenario(
        small_table, make_job, proxied_destination, bq_proxy, bq, pg_dsn,
        [(SUBMIT, {"status": error, "forward_first": True, "times": 2}),
         (STATE_READ, {"status": error, "forward_first": True})],
        f"BigQuery {error} after accepting the load job twice and a query (answers lost)",
    )  # fmt: skip
