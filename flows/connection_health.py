"""The `connection-health` flow: test every connection the way `etl connection test` does, record
the outcome (blocks.health), and raise the event `etl.connection.failed` when a connection that
last worked now fails; the automation automations/etl-connection-failed.yaml turns that event
into the same kind of alert as a failed run. Then the freshness of every job that sets
`freshness:` (flows.freshness: etl.job.stale, automation etl-job-stale.yaml). Deployed hourly
(prefect.yaml)."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow, get_run_logger
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.events import emit_event

from etl_bigquery.blocks import health
from etl_bigquery.blocks.bigquery import BigQueryDestination
from etl_bigquery.blocks.registry import ALL_BLOCK_TYPES, load_block
from etl_bigquery.flows.freshness import check_freshness

FAILED_EVENT = "etl.connection.failed"


def _names(block_type: type[Block]) -> list[str]:
    with get_client(sync_client=True) as client:
        documents = client.read_block_documents_by_type(
            block_type.get_block_type_slug(), include_secrets=False
        )
    return sorted(d.name for d in documents if d.name and not d.is_anonymous)


def check_one(name: str, block: Any) -> dict[str, Any]:
    """Test one connection, record the outcome, and raise the event on success → failed."""
    previous = health.last_status(name).get("status")
    if isinstance(block, BigQueryDestination):
        outcome = health.check_destination(block)
    else:  # every source family: a reader's ping and table list
        outcome = health.check_connection(block)
    health.record(name, outcome)
    turned = previous == "success" and outcome.status == "failed"
    if turned:
        emit_event(
            event=FAILED_EVENT,
            resource={
                "prefect.resource.id": f"etl.connection.{name}",
                "prefect.resource.name": name,
            },
            payload={"message": outcome.message, "previous": previous},
        )
    return {"connection": name, "status": outcome.status, "message": outcome.message,
            "alerted": turned}  # fmt: skip


CONCURRENT_CHECKS = 8
"""Connections tested at once: an unreachable host costs its connect timeout (10 s by default),
so one at a time a project with a few dead hosts would spend minutes of each hourly run waiting."""


def _check_block(block_type: type[Block], name: str) -> dict[str, Any] | None:
    block = load_block(block_type, name)
    return None if block is None else check_one(name, block)


@flow(name="connection-health", log_prints=False)
def connection_health() -> list[dict[str, Any]]:
    """Test every connection (SQL sources and BigQuery destinations) and record the results."""
    logger = get_run_logger()
    targets = [(kind, name) for kind in ALL_BLOCK_TYPES for name in _names(kind)]
    with ThreadPoolExecutor(CONCURRENT_CHECKS, thread_name_prefix="health") as pool:
        # Each check in a copy of this context: Prefect's settings (the API it talks to) and
        # the run context live in context variables, which new threads do not inherit.
        futures = [
            pool.submit(contextvars.copy_context().run, _check_block, kind, name)
            for kind, name in targets
        ]
        outcomes = [future.result() for future in futures]
    results = [result for result in outcomes if result is not None]
    for result in results:
        logger.info("%s: %s: %s", result["connection"], result["status"], result["message"])
    try:
        for fresh in check_freshness():
            logger.info("job %s: %s: %s", fresh["job"], fresh["status"], fresh["reason"])
    except Exception as error:  # connection results stand on their own
        logger.warning("Freshness could not be checked: %s", type(error).__name__)
    return results
