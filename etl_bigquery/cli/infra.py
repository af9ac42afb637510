"""`etl infra plan|apply|destroy`: Terraform for the cloud side, run in infra/terraform.

Thin on purpose: every check and path rule is in `service.infra_inputs`; this module
runs the prepared command line with the `terraform` binary and passes its exit code through.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer

from etl_bigquery.service.infra_inputs import InfraInputError, prepare_terraform_run

app = typer.Typer(
    help="Plan, apply or destroy the cloud infrastructure (Terraform in infra/terraform).",
    no_args_is_help=True,
)

VarFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--var-file",
        help="A .tfvars or .tfvars.json file, relative to the current directory; repeatable. "
        "infra/terraform/scheduled_jobs.auto.tfvars.json is loaded without it.",
    ),
]
AutoApprove = Annotated[
    bool,
    typer.Option("--auto-approve", help="Do not ask for confirmation (for CI)."),
]


def _run(command: str, var_files: list[Path] | None, auto_approve: bool = False) -> None:
    try:
        run = prepare_terraform_run(command, var_files or [], auto_approve=auto_approve)
    except InfraInputError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc

    if run.scheduled_jobs:
        typer.echo(f"{len(run.scheduled_jobs)} scheduled job(s) from the generated jobs file.")
    # Terraform's own output and the approval prompt go straight to the terminal.
    done = subprocess.run(run.argv(), cwd=run.working_dir, check=False)
    raise typer.Exit(done.returncode)


@app.command("scheduled-jobs")
def scheduled_jobs(
    prefect_yaml: Path | None = typer.Option(
        None,
        "--prefect-yaml",
        help="prefect.yaml to read (default: the one in this folder or above).",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        help="Where to write (default: infra/terraform/scheduled_jobs.auto.tfvars.json).",
    ),
) -> None:
    """Generate the Cloud Scheduler input of infra/terraform from prefect.yaml: one entry per
    job with `scheduler: cloud-scheduler`, its deployment id read from the Prefect server. Run it
    after `etl job apply`; never edit the file by hand."""
    from etl_bigquery.cli.job import _project
    from etl_bigquery.engine.errors import ConfigurationError
    from etl_bigquery.service.infra_inputs import (
        scheduled_jobs_from_prefect_yaml,
        write_scheduled_jobs_file,
    )
    from etl_bigquery.service.jobs import deployment_id

    source = _project(prefect_yaml)
    try:
        jobs = scheduled_jobs_from_prefect_yaml(source, deployment_id)
        written = write_scheduled_jobs_file(jobs, output)
    except (InfraInputError, ConfigurationError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from exc
    names = ", ".join(job.name for job in jobs) or "none (Prefect schedules drive every job)"
    typer.echo(f"{written}: {len(jobs)} Cloud Scheduler job(s) from {source}: {names}.")


@app.command()
def plan(var_file: VarFiles = None) -> None:
    """Show what `apply` would change."""
    _run("plan", var_file)


@app.command()
def apply(var_file: VarFiles = None, auto_approve: AutoApprove = False) -> None:
    """Create or update the infrastructure (asks for confirmation unless --auto-approve)."""
    _run("apply", var_file, auto_approve)


@app.command()
def destroy(var_file: VarFiles = None, auto_approve: AutoApprove = False) -> None:
    """Delete the infrastructure (datasets and buckets that hold data are refused by default)."""
    _run("destroy", var_file, auto_approve)


if __name__ == "__main__":
    app()
