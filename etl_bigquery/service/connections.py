"""The saved connections and their tests, for `etl connection list|test` and the web console.

Nothing here prints: the command line and the console format the same dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etl_bigquery.engine.errors import ConfigurationError


@dataclass(frozen=True)
class ConnectionRow:
    name: str
    kind: str
    """sql-connection | bigquery-destination"""
    type: str
    target: str
    """host:port/database, a file, or a project; never a secret"""
    health: dict[str, Any] = field(default_factory=dict)
    """The last recorded test: status (success | failed | unknown), tested_at, message,
    warning, last_error."""


def list_connections() -> list[ConnectionRow]:
    """Every named connection and BigQuery destination block, with its last recorded test."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    from etl_bigquery.blocks import health
    from etl_bigquery.blocks.registry import ALL_BLOCK_TYPES

    rows = []
    with get_client(sync_client=True) as client:
        status_of = health.all_statuses(client)
        for block_type in ALL_BLOCK_TYPES:
            try:
                documents = client.read_block_documents_by_type(
                    block_type.get_block_type_slug(), include_secrets=False
                )
            except PrefectHTTPStatusError as error:
                if error.response.status_code != 404:
                    raise
                continue  # the block type is not registered yet, so it has no blocks
            for document in documents:
                if document.is_anonymous:
                    continue
                data = document.data
                target = data.get("database") or data.get("project") or ""
                if data.get("bucket"):  # a file connection: bucket (or folder) and prefix
                    target = f"{data['bucket'].rstrip('/')}/{data.get('prefix') or ''}"
                if data.get("host"):
                    port = f":{data['port']}" if data.get("port") else ""
                    target = f"{data['host']}{port}/{target}"
                rows.append(
                    ConnectionRow(
                        name=document.name or "",
                        kind=block_type.get_block_type_slug().removeprefix("etl-"),
                        type=str(data.get("type", "bigquery")),
                        target=str(target),
                        health=status_of(document.name or ""),
                    )
                )
    return sorted(rows, key=lambda r: r.name)


def test_connection(name: str) -> Any:
    """Test a connection or destination like `etl connection test` and record the outcome;
    returns the `health.CheckOutcome`."""
    from etl_bigquery.blocks import health
    from etl_bigquery.blocks.bigquery import BigQueryDestination
    from etl_bigquery.blocks.registry import find_connection, load_block

    block = find_connection(name)
    if block is not None:
        outcome = health.check_connection(block)
    else:
        destination = load_block(BigQueryDestination, name)
        if destination is None:
            raise ConfigurationError(
                f"Connection '{name}' does not exist; "
                "`etl connection list` shows the existing ones."
            )
        outcome = health.check_destination(destination)  # type: ignore[arg-type]
    health.record(name, outcome)
    return outcome


def destination_names() -> list[str]:
    return [r.name for r in list_connections() if r.kind == "bigquery-destination"]


def source_names() -> list[str]:
    return [r.name for r in list_connections() if r.kind != "bigquery-destination"]


# -- the destination side of a new job ------------------------------------------------------------


def destination_tables(name: str, dataset: str | None = None) -> tuple[str, list[str]]:
    """(dataset, its tables) of a BigQuery destination block; `dataset` defaults to the block's
    default dataset. A dataset that does not exist yet has no tables (jobs create it)."""
    from google.api_core.exceptions import NotFound

    from etl_bigquery.blocks.registry import load_destination

    block = load_destination(name)
    dataset = dataset or block.default_dataset
    clients = block.clients()
    try:
        listed = list(clients.bigquery.list_tables(f"{block.project}.{dataset}"))
    except NotFound:
        listed = []
    finally:
        clients.close()
    return dataset, sorted(t.table_id for t in listed)


@dataclass(frozen=True)
class ColumnFit:
    column: str
    proposed: str
    existing: str | None
    """The table's type, or None when the table lacks the column (it is added as NULLABLE)."""
    fits: bool


def compatibility(
    name: str, dataset: str | None, table: str, proposed: dict[str, str]
) -> tuple[bool, list[ColumnFit]]:
    """Whether the proposed columns (BigQuery name -> type) may load into an existing table,
    column by column, by the same rule `etl job apply` enforces (engine.schema.compat). (False,
    []) when the table does not exist: it will be created."""
    from google.api_core.exceptions import NotFound

    from etl_bigquery.blocks.registry import load_destination
    from etl_bigquery.engine.schema.bqtypes import BqType
    from etl_bigquery.engine.schema.compat import can_load

    block = load_destination(name)
    clients = block.clients()
    try:
        found = clients.bigquery.get_table(
            f"{block.project}.{dataset or block.default_dataset}.{table}"
        )
    except NotFound:
        return False, []
    finally:
        clients.close()
    existing = {f.name.lower(): f for f in found.schema}
    report = []
    for column, bq_type in proposed.items():
        field_ = existing.get(column.lower())
        if field_ is None:
            report.append(ColumnFit(column, bq_type, None, True))
            continue
        try:
            fits = field_.mode != "REPEATED" and can_load(
                BqType.parse(bq_type), BqType.parse(field_.field_type)
            )
        except ValueError:
            fits = False
        report.append(ColumnFit(column, bq_type, field_.field_type, fits))
    return True, report
