"""The `etl` command. Sub-commands live in their own modules; heavy imports (Prefect, Google
clients) happen inside commands so `etl --help` and `etl services` stay fast."""

from __future__ import annotations

import logging

import typer

from etl_bigquery.cli import automations, connection, console, job, pool, run, services, verify
from etl_bigquery.cli.environment import load_services_env
from etl_bigquery.cli.output import EXIT_FAILED

app = typer.Typer(
    help="Copy databases into BigQuery with Prefect: connections, jobs, runs, local services.",
    no_args_is_help=True,
    # `etl --install-completion` / `--show-completion` (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from etl_bigquery import __version__

        typer.echo(f"etl-bigquery {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Copy databases into BigQuery with Prefect: connections, jobs, runs, local services."""


app.add_typer(services.app, name="services")
app.add_typer(connection.app, name="connection")
app.add_typer(job.app, name="job")
app.add_typer(pool.app, name="pool")
app.add_typer(automations.app, name="automations")
app.command(name="run")(run.run_command)
app.command(name="console")(console.console)
app.command(name="verify")(verify.verify_command)


def _mount_infra() -> None:
    try:
        from etl_bigquery.cli import infra
    except ImportError:  # the infrastructure commands are optional in a trimmed install
        return
    app.add_typer(infra.app, name="infra")


_mount_infra()


def main() -> None:
    load_services_env()
    # At exit Prefect drains its event queue and, on a slow server, warns "Still processing
    # items" on the command's stderr: noise between the user and the one sentence that matters
    # (the events are still sent).
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    import httpx

    try:
        app()
    except (httpx.ConnectError, httpx.ConnectTimeout):
        # Every command but `services` talks to the Prefect API first: its absence is one
        # sentence, not a page of traceback.
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value() or "(PREFECT_API_URL is not set)"
        typer.echo(
            f"Error: The Prefect API at {url} does not answer; start the local services with "
            "`etl services up`, or set PREFECT_API_URL to your Prefect server.",
            err=True,
        )
        raise SystemExit(EXIT_FAILED) from None


if __name__ == "__main__":
    main()
