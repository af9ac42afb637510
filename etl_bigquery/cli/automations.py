"""`etl automations apply`: the failure alerts (shipped with the package, or a folder of your
own), on the Prefect server."""

from __future__ import annotations

from pathlib import Path

import typer

from etl_bigquery.cli.output import user_errors

app = typer.Typer(help="Failure alerts as code (*.yaml automation files).", no_args_is_help=True)


@app.command()
def apply(
    folder: Path | None = typer.Option(
        None, help="Folder of automation files (default: the ones shipped with etl-bigquery)."
    ),
    prefect_yaml: Path = typer.Option(
        Path("prefect.yaml"), "--prefect-yaml", help="Jobs whose stuck-run limits to use."
    ),
    webhook: str | None = typer.Option(
        None, help="Create/update the etl-alerts webhook block to POST to this URL."
    ),
) -> None:
    """Create or update the automations (idempotent: re-applying changes nothing)."""
    from etl_bigquery.service.automations import apply_automations, ensure_webhook_channel, names

    with user_errors():
        if webhook:
            changed = ensure_webhook_channel(webhook)
            typer.echo(f"Notification block etl-alerts {'saved' if changed else 'unchanged'}.")
        outcome = apply_automations(folder, prefect_yaml)
    typer.echo(f"created: {names(outcome.created)}")
    typer.echo(f"updated: {names(outcome.updated)}")
    typer.echo(f"unchanged: {names(outcome.unchanged)}")
    if outcome.removed:
        typer.echo(f"removed: {names(outcome.removed)}")
