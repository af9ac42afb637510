"""`etl connection list` shows each connection's last recorded test, read in pages (one request
per 200 connections, not one per connection), on the real Prefect server: the page boundary is
crossed, and a connection never tested reads "unknown"."""

from __future__ import annotations

import uuid

from etl_bigquery.blocks import health
from etl_bigquery.service.connections import list_connections


def test_every_connection_shows_its_own_last_test_across_pages(services, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import VariableCreate

    from etl_bigquery.blocks import SqlConnection

    run = uuid.uuid4().hex[:6]
    names = [f"lh-{run}-{i:03d}" for i in range(3)]
    for name in names:
        SqlConnection(type="sqlite", database=str(tmp_path / f"{name}.db")).save(name)
    outcome = health.CheckOutcome("failed", "no such file")
    health.record(names[0], outcome)
    health.mark_untested(names[1], "host not reachable yet")
    # More recorded tests than one page holds (other connections' records, as a big project has).
    with get_client(sync_client=True) as client:
        for i in range(health._PAGE + 5):
            client.create_variable(
                VariableCreate(
                    name=f"{health.VARIABLE_PREFIX}filler_{run}_{i}", value={"status": "success"}
                )
            )
    rows = {row.name: row.health for row in list_connections() if row.name in names}
    assert rows[names[0]]["status"] == "failed" and rows[names[0]]["message"] == "no such file"
    assert rows[names[1]] == health.last_status(names[1]) and rows[names[1]]["status"] != "unknown"
    assert rows[names[2]] == {"status": "unknown"}
    for name in names:
        assert rows[name] == health.last_status(name), name
