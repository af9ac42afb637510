"""`etl verify JOB [--mode counts|full] [--json]`: does BigQuery hold exactly the source's rows?

JOB is a job file or a deployed job's name; `--since` narrows a cursor job's window. Exit code
0: equal; 1: different; 2: could not verify (the sentence says why)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from etl_bigquery.cli.output import EXIT_BAD_INPUT, fail, quiet_call
from etl_bigquery.engine.errors import EtlError

EXIT_DIFFERENT = 1


def verify_command(
    job: str = typer.Argument(..., help="Job YAML file, or the name of a deployed job."),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help="counts: rows per key range (missing, extra, duplicated rows); full: row digests "
        "too (rows whose content differs). Default: the job's verify setting, else full.",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Transactional, merge and history jobs: compare rows from this cursor value, or "
        "this duration back from now ('7d'), instead of the job's backfill start.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object with every difference."
    ),
    prefect_yaml: Path | None = typer.Option(
        None, "--prefect-yaml", help="prefect.yaml holding the job (by name)."
    ),
) -> None:
    """Compare the source and the BigQuery table over the rows the job is responsible for (the
    whole table of a catalog job, the window of a transactional job, the current rows of a merge
    job), by key ranges; bisect differing ranges down to the rows and name them by key. Reads
    only."""
    from etl_bigquery.service.verify import job_for, mode_for, verify

    if mode is not None and mode not in ("counts", "full"):
        fail(f"--mode {mode!r} is not counts or full.", EXIT_BAD_INPUT)
    try:
        spec = job_for(job, prefect_yaml)
        chosen = mode_for(spec, mode)
        result = (
            quiet_call(lambda: verify(spec, chosen, since=since))
            if as_json
            else verify(spec, chosen, since=since)
        )
    except EtlError as error:
        fail(error.message, EXIT_BAD_INPUT)
    typer.echo(json.dumps(result.to_dict(), default=str) if as_json else result.text())
    if not result.equal:
        raise typer.Exit(EXIT_DIFFERENT)
