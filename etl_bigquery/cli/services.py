"""`etl services up|down|status`: the local emulators and Prefect server."""

from __future__ import annotations

import dataclasses

import typer

from etl_bigquery.cli.output import fail, table
from etl_bigquery.devservices import Services, ServicesError
from etl_bigquery.devservices.layout import Layout

app = typer.Typer(
    help="Local services: BigQuery and GCS emulators, Prefect server with its UI.",
    no_args_is_help=True,
)


@app.command()
def up(
    only: list[str] = typer.Option(
        None,
        "--only",
        help="Start only these (gcs, bigquery, prefect; or firestore, Google's Firestore "
        "emulator, never started otherwise: it needs Java 17 and the Google Cloud CLI).",
    ),
    prefect_port: int = typer.Option(None, help="Prefect server and UI port (default 4200)."),
    bigquery_port: int = typer.Option(None, help="BigQuery emulator REST port (default 9050)."),
    bigquery_grpc_port: int = typer.Option(None, help="BigQuery Storage API port (default 9060)."),
    gcs_port: int = typer.Option(None, help="Cloud Storage emulator port (default 4443)."),
    firestore_port: int = typer.Option(None, help="Firestore emulator port (default 8086)."),
) -> None:
    """Start the local services (idempotent: running ones are left alone). Ports given here are
    remembered in the state folder for later commands."""
    layout = Layout.default()
    changes = {
        "prefect": prefect_port,
        "bigquery": bigquery_port,
        "bigquery_grpc": bigquery_grpc_port,
        "gcs": gcs_port,
        "firestore": firestore_port,
    }
    ports = dataclasses.replace(layout.ports, **{k: v for k, v in changes.items() if v})
    services = Services(dataclasses.replace(layout, ports=ports))
    try:
        services.up(only=only or None, echo=typer.echo)
    except ServicesError as error:
        fail(str(error))
    if only and "firestore" in only:
        typer.echo(
            f"Firestore connections reach the emulator with endpoint_url: "
            f"{services.layout.firestore_endpoint}"
        )
    typer.echo(f"Prefect UI: {services.layout.prefect_api_url.removesuffix('/api')}")


@app.command()
def down() -> None:
    """Stop the local services."""
    Services().down(echo=typer.echo)


@app.command()
def status() -> None:
    """Show each service, its address and whether it answers; exit 1 if any is down (an
    optional one, the Firestore emulator, only when it was started)."""
    statuses = Services().status()
    # An optional service never started is shown as such, and does not fail the command.
    expected = [s for s in statuses if not s.optional or s.pid or s.healthy]
    rows = [
        (s.name, s.url, s.pid or "", "healthy" if s.healthy else "down", s.log) for s in expected
    ] + [(s.name, s.url, "", "not started (optional)", "") for s in statuses if s not in expected]
    typer.echo(table(rows, ["service", "url", "pid", "state", "log"]))
    if not all(s.healthy for s in expected):
        raise typer.Exit(1)


@app.command()
def env() -> None:
    """Print shell exports that point `prefect` commands at the local server:
    eval "$(etl services env)"."""
    for key, value in Services().environment().items():
        typer.echo(f"export {key}={value}")


@app.command()
def bucket(name: str = typer.Argument(..., help="Bucket name, without gs://.")) -> None:
    """Create a bucket in the local Cloud Storage emulator (Terraform does it in the cloud), e.g.
    the one a destination's staging_uri names."""
    from etl_bigquery.devservices.clients import ensure_bucket

    layout = Layout.default()
    name = name.removeprefix("gs://").strip("/")
    try:
        ensure_bucket(layout, name)
    except ValueError as error:  # the client's own check of the name
        fail(f"{name!r} is not a bucket name: {str(error).rstrip('.')}.")
    except Exception:  # connection refused, timeouts: the emulator is not answering
        fail(f"The local GCS emulator does not answer at {layout.gcs_endpoint}; start it with "
             "`etl services up`.")  # fmt: skip
    typer.echo(f"gs://{name} exists in the local GCS emulator.")
