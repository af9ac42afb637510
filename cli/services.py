"""`etl services up|down|status`: the local emulators and Prefect server."""

from __future__ import annotations

import typer

from cli.output import fail, table
from localservices import Services, ServicesError

app = typer.Typer(help="Local services: BigQuery and GCS emulators, Prefect server with its UI.",
                  no_args_is_help=True)  # fmt: skip


@app.command()
def up(
    only: list[str] = typer.Option(
        None, "--only", help="Start only these (gcs, bigquery, prefect)."
    ),
) -> None:
    """Start the local services (idempotent: running ones are left alone)."""
    try:
        Services().up(only=only or None, echo=typer.echo)
    except ServicesError as error:
        fail(str(error))
    typer.echo(f"Prefect UI: {Services().layout.prefect_api_url.removesuffix('/api')}")


@app.command()
def down() -> None:
    """Stop the local services."""
    Services().down(echo=typer.echo)


@app.command()
def status() -> None:
    """Show each service, its address and whether it answers."""
    rows = [
        (s.name, s.url, s.pid or "", "healthy" if s.healthy else "down", s.log)
        for s in Services().status()
    ]
    typer.echo(table(rows, ["service", "url", "pid", "state", "log"]))
    if not all(s.healthy for s in Services().status()):
        raise typer.Exit(1)
