"""`etl pool ensure`: the work pools jobs run on."""

from __future__ import annotations

from pathlib import Path

import typer

from etl_bigquery.cli.output import user_errors

app = typer.Typer(
    help="Work pools: process (local) and Cloud Run v2 (cloud).", no_args_is_help=True
)


@app.command()
def ensure(
    cloud_run: Path | None = typer.Option(
        None,
        "--cloud-run",
        help="JSON with the Terraform outputs (image_repository, runner_service_account_email, "
        "work_pool_name, region): also create/update the Cloud Run v2 pool.",
    ),
) -> None:
    """Create the local process pool (etl-local) and, with --cloud-run, the Cloud Run v2 pool
    from the base job template in etl_bigquery/resources/cloud_run/. Idempotent."""
    from etl_bigquery.service.pools import PROCESS_POOL, ensure_cloud_run_pool, ensure_process_pool

    with user_errors():
        created = ensure_process_pool()
        typer.echo(f"Work pool {PROCESS_POOL} (process): {'created' if created else 'exists'}.")
        if cloud_run is not None:
            name, changed = ensure_cloud_run_pool(cloud_run)
            typer.echo(f"Work pool {name} (cloud-run-v2): {'saved' if changed else 'unchanged'}.")
