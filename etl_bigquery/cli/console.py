"""`etl console [--port P]`: the web console (ui_extension) on its own port, next to the
Prefect server it reads."""

from __future__ import annotations

from pathlib import Path

import typer

from etl_bigquery.cli.output import fail

DEFAULT_PORT = 4300


def console(
    port: int = typer.Option(DEFAULT_PORT, help="Port of the console."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    prefect_yaml: Path | None = typer.Option(
        None,
        "--prefect-yaml",
        help="prefect.yaml the job actions write (default: the one here or in a folder above).",
    ),
) -> None:
    """Serve the web console: run KPIs, scheduled jobs, run charts and cards with stage bars,
    connection health and the job wizard. It reads the Prefect API at PREFECT_API_URL (the local
    server of `etl services up` by default) and acts through the same functions as `etl job` and
    `etl connection`."""
    import uvicorn

    from etl_bigquery.cli.job import find_prefect_yaml
    from etl_bigquery.ui_extension.app import create_app

    project = prefect_yaml or find_prefect_yaml(Path.cwd())
    if project is None:
        fail(
            "no prefect.yaml in this folder or above; run from the project or pass --prefect-yaml."
        )
    typer.echo(f"ETL console: http://{host}:{port}  (jobs write {project})")
    uvicorn.run(create_app(project.resolve()), host=host, port=port, log_level="warning")
