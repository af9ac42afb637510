"""`etl automations apply`: the failure alerts in `automations/`, on the Prefect server."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.output import user_errors

app = typer.Typer(help="Failure alerts as code (automations/*.yaml).", no_args_is_help=True)


@app.command()
def apply(
    folder: Path = typer.Option(Path("automations"), help="Folder of automation files."),
    prefect_yaml: Path = typer.Option(
        Path("prefect.yaml"), "--prefect-yaml", help="Jobs whose stuck-run limits to use."
    ),
    webhook: str | None = typer.Option(
        None, help="Create/update the etl-alerts webhook block to POST to this URL."
    ),
) -> None:
    """Create or update the automations (idempotent: re-applying changes nothing)."""
    from flows.automations import apply_automations, ensure_webhook_channel, names

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
