"""Google API errors → one sentence of the right stage and retry class (engine.bigquery.clients)."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc

from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.errors import Stage


@pytest.mark.parametrize(
    "error",
    [
        gexc.ServiceUnavailable("down"),
        gexc.InternalServerError("oops"),
        gexc.TooManyRequests("slow down"),
        requests.exceptions.ConnectionError("reset"),
        requests.exceptions.Timeout("slow"),
        ConnectionResetError("reset"),
    ],
)
def test_transient_errors_are_retried(error):
    classified = classify_google_error(error, Stage.LOAD, "submitting the load job")
    assert classified.transient
    assert classified.stage is Stage.LOAD
    assert "submitting the load job" in classified.message


def test_rate_limits_answered_as_403_are_transient_and_other_403s_are_not():
    limited = gexc.Forbidden("limit", errors=[{"reason": "rateLimitExceeded"}])
    assert classify_google_error(limited, Stage.VALIDATION, "x").transient
    denied = gexc.Forbidden("no", errors=[{"reason": "accessDenied"}])
    refused = classify_google_error(denied, Stage.VALIDATION, "reading table t")
    assert not refused.transient and "Access denied" in refused.message


def test_other_errors_say_what_bigquery_refused():
    refused = classify_google_error(gexc.BadRequest("Invalid schema"), Stage.LOAD, "loading")
    assert not refused.transient
    assert refused.message == "BigQuery refused loading: Invalid schema"


def test_a_read_that_meets_its_own_earlier_query_job_is_retried():
    """The client retried a query whose answer was lost and BigQuery answered 409 for its own
    job: reading the state again is safe, so the run retries instead of failing."""
    from etl_bigquery.engine.bigquery.tables import TableRef
    from etl_bigquery.engine.incremental import unreadable

    state = unreadable(gexc.Conflict("Already Exists: Job p:x"), TableRef("p", "d", "t"), "x")
    assert state.transient
    assert "loads nothing" in state.message
