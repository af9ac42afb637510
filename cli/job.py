"""`etl job apply`: validate a job and create its destination table."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import typer

from cli.output import table, user_errors

app = typer.Typer(help="Jobs: validate and create their destination tables.", no_args_is_help=True)


@app.command()
def apply(file: Path = typer.Argument(..., help="Job YAML file.")) -> None:
    """Validate the job against its source and BigQuery, then create the destination table.
    Nothing is left behind when anything fails."""
    from blocks.registry import load_connection, load_destination
    from etl.jobs.files import load_job_file
    from etl.pipeline.apply import apply_job
    from etl.pipeline.context import RunContext
    from etl.plan import low_confidence_warnings

    with user_errors():
        job = load_job_file(file)
        connection = load_connection(job.connection)
        destination = load_destination(job.destination.block)
        reader = connection.open_reader()
        ctx = RunContext(
            job,
            f"apply-{uuid.uuid4()}",
            dt.datetime.now(dt.UTC),
            reader,
            destination.clients(),
            destination.settings(),
        )
        try:
            applied = apply_job(ctx)
        finally:
            ctx.close()
    rows = [
        (p.source.name, p.source.source_type, p.name, p.bq_type.value,
         "override" if p.overridden else p.proposal.confidence.value)
        for p in applied.plans
    ]  # fmt: skip
    typer.echo(
        table(rows, ["source column", "source type", "BigQuery column", "type", "confidence"])
    )
    for warning in low_confidence_warnings(applied.plans):
        typer.echo(f"warning: {warning}")
    state = "created" if applied.table_created else "exists and is compatible"
    typer.echo(f"Job '{job.name}' is valid; table {applied.ref} {state}.")
