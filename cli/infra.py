"""`etl infra plan|apply|destroy`: Terraform for the cloud side, run in infra/terraform.

Thin on purpose: every check and path rule is in `etl.infra_inputs`; this module only turns a
prepared run into a python-terraform call and passes Terraform's exit code through.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from python_terraform import IsFlagged, Terraform

from etl.infra_inputs import InfraInputError, TerraformRun, prepare_terraform_run

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


def terraform_options(run: TerraformRun) -> dict[str, object]:
    """python-terraform keyword options for `run`: the same command line as `run.argv()`."""
    options: dict[str, object] = {"input": False, "var_file": [str(p) for p in run.var_files]}
    if run.auto_approve:
        # Not python-terraform's apply()/destroy() helpers: they add -auto-approve=false and
        # -force, which current Terraform releases reject.
        options["auto-approve"] = IsFlagged
    return options


def _run(command: str, var_files: list[Path] | None, auto_approve: bool = False) -> None:
    try:
        run = prepare_terraform_run(command, var_files or [], auto_approve=auto_approve)
    except InfraInputError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc

    if run.scheduled_jobs:
        typer.echo(f"{len(run.scheduled_jobs)} scheduled job(s) from the generated jobs file.")
    # python-terraform logs "error: None" at WARNING for every non-zero exit; Terraform has
    # already printed the real error to the terminal.
    logging.getLogger("python_terraform").setLevel(logging.ERROR)
    terraform = Terraform(working_dir=str(run.working_dir), terraform_bin_path=run.binary)
    # capture_output=False: Terraform's own output and the approval prompt go to the terminal.
    return_code, _, _ = terraform.cmd(run.command, capture_output=False, **terraform_options(run))
    raise typer.Exit(return_code)


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
    from cli.job import _project
    from etl.errors import ConfigurationError
    from etl.infra_inputs import scheduled_jobs_from_prefect_yaml, write_scheduled_jobs_file
    from flows.deployments import deployment_id

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
