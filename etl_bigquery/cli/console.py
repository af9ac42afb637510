"""`etl console [--port P]`: the web console (ui_extension) on its own port, next to the
Prefect server it reads.

On 127.0.0.1 (the default) it needs no credential: one command, for the person at this machine.
Listening on any other address it refuses to start without one: the token in ETL_CONSOLE_TOKEN,
a Prefect Secret block named by --credential-block, or the Prefect server's basic-auth string
(PREFECT_API_AUTH_STRING, which the console needs to read such a server anyway) — and then every
page and call asks for it (ui_extension/security.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from etl_bigquery.cli.output import fail

DEFAULT_PORT = 4300


def _block_secret(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        block: Any = Secret.load(name)  # a Secret (sync context); typed as maybe-a-coroutine
        value = block.get()
    except ValueError:
        fail(f"there is no Prefect Secret block named '{name}'; create it (Blocks page) first.")
    if not isinstance(value, str) or not value:
        fail(f"the Prefect Secret block '{name}' holds no text token; store the token as text.")
    return value


def _prefect_auth_string() -> str | None:
    from prefect.settings import PREFECT_API_AUTH_STRING

    value = PREFECT_API_AUTH_STRING.value()
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def console(
    port: int = typer.Option(DEFAULT_PORT, help="Port of the console."),
    host: str = typer.Option(
        "127.0.0.1",
        help="Address to listen on. Anything but loopback needs a credential (ETL_CONSOLE_TOKEN, "
        "--credential-block or PREFECT_API_AUTH_STRING).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A host name the console answers to (its DNS name, a proxy's host); repeatable. "
        "Requests naming any other host are refused.",
    ),
    credential_block: str | None = typer.Option(
        None,
        "--credential-block",
        help="A Prefect Secret block holding the console's token (instead of ETL_CONSOLE_TOKEN).",
    ),
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
    from etl_bigquery.ui_extension.security import (
        TOKEN_ENV,
        ConsoleSecurity,
        ConsoleSecurityError,
    )

    project = prefect_yaml or find_prefect_yaml(Path.cwd())
    if project is None:
        fail(
            "no prefect.yaml in this folder or above; run from the project or pass --prefect-yaml."
        )
    token = _block_secret(credential_block) if credential_block else os.environ.get(TOKEN_ENV)
    try:
        security = ConsoleSecurity(
            bind=host, port=port, allowed_hosts=tuple(allowed_host), token=token or None,
            prefect_auth=_prefect_auth_string(),
        )  # fmt: skip
    except ConsoleSecurityError as error:
        fail(error.message[0].lower() + error.message[1:])
    sign_in = " (sign-in required)" if security.requires_login else ""
    typer.echo(f"ETL console: http://{host}:{port}{sign_in}  (jobs write {project})")
    app = create_app(project.resolve(), security=security)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
