"""`etl connection apply|test|list`."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.output import fail, table, user_errors

app = typer.Typer(help="Connections (Prefect blocks): create or update, test, list.",
                  no_args_is_help=True)  # fmt: skip


@app.command()
def apply(file: Path = typer.Argument(..., help="YAML file with one or more connections.")) -> None:
    """Create or update the connections described in FILE (secrets may be ${ENV_VARS})."""
    from blocks.documents import apply_document
    from etl.jobs.files import read_yaml_documents

    with user_errors():
        documents = read_yaml_documents(file)
        for index, document in enumerate(documents, start=1):
            where = f"{file} (document {index})" if len(documents) > 1 else str(file)
            applied = apply_document(document, where)
            verb = "created" if applied.created else "updated"
            typer.echo(f"{verb} {applied.kind} connection '{applied.name}'")


@app.command()
def test(name: str = typer.Argument(..., help="Connection name.")) -> None:
    """Connect, run SELECT 1 and list tables with row counts; warn when the login could write.
    Changes nothing."""
    from blocks import health
    from blocks.bigquery import BigQueryDestination
    from blocks.registry import find_connection, load_block

    with user_errors():
        block = find_connection(name)
        if block is not None:
            outcome = health.check_sql_connection(block)
        else:
            destination = load_block(BigQueryDestination, name)
            if destination is None:
                fail(
                    f"Connection '{name}' does not exist; "
                    "`etl connection list` shows the existing ones."
                )
            outcome = health.check_destination(destination)  # type: ignore[arg-type]
        health.record(name, outcome)
    typer.echo(f"{outcome.status}: {outcome.message}")
    if outcome.warning:
        typer.echo(f"warning: {outcome.warning}")
    if outcome.tables:
        rows = [
            (t.schema, t.name, "" if t.row_count is None else f"{t.row_count:,}")
            for t in outcome.tables
        ]
        typer.echo(table(rows, ["schema", "table", "rows"]))
    if outcome.status != "success":
        raise typer.Exit(1)


@app.command(name="list")
def list_connections() -> None:
    """Every connection and destination, with its last test."""
    from prefect.client.orchestration import get_client

    from blocks import health
    from blocks.bigquery import BigQueryDestination
    from blocks.registry import CONNECTION_TYPES

    rows = []
    with get_client(sync_client=True) as client:
        for block_type in (*CONNECTION_TYPES, BigQueryDestination):
            documents = client.read_block_documents_by_type(
                block_type.get_block_type_slug(), include_secrets=False
            )
            for document in documents:
                if document.is_anonymous:
                    continue
                data = document.data
                target = data.get("database") or data.get("project") or ""
                if data.get("host"):
                    target = f"{data['host']}:{data.get('port') or ''}/{target}"
                status = health.last_status(document.name or "")
                rows.append(
                    (
                        document.name,
                        block_type.get_block_type_slug().removeprefix("etl-"),
                        data.get("type", "bigquery"),
                        target,
                        status.get("status", "unknown"),
                        status.get("tested_at", ""),
                    )
                )
    if not rows:
        typer.echo("No connections yet; create one with `etl connection apply FILE.yaml`.")
        return
    typer.echo(table(sorted(rows), ["name", "kind", "type", "target", "last test", "tested at"]))
