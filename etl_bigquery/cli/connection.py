"""`etl connection apply|test|list|schemas|tables|columns|preview|delete`."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from etl_bigquery.cli.output import quiet_call, table, user_errors

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.base import TableInfo

app = typer.Typer(
    help="Connections (Prefect blocks): create or update, test, list, discover, delete.",
    no_args_is_help=True,
)


@app.command()
def apply(
    file: Path = typer.Argument(..., help="YAML file with one or more connections."),
    save_untested: bool = typer.Option(
        False,
        "--save-untested",
        help="Save a connection whose test fails (e.g. not reachable from here yet), marked "
        "untested in `etl connection list`.",
    ),
) -> None:
    """Test, then save, the connections described in FILE (secrets may be ${ENV_VARS}). A new
    connection, or an edit of its host, port, database, credentials or bucket, is saved only when
    its test passes; the others in FILE are still applied. Exit 1 when one was not saved."""
    from etl_bigquery.service.connection_documents import apply_document
    from etl_bigquery.service.job_files import read_yaml_documents

    refused = 0
    with user_errors():
        documents = read_yaml_documents(file)
        for index, document in enumerate(documents, start=1):
            where = f"{file} (document {index})" if len(documents) > 1 else str(file)
            applied = quiet_call(
                partial(apply_document, document, where, save_untested=save_untested)
            )
            refused += _report_applied(applied)
    if refused:
        raise typer.Exit(1)


def _report_applied(applied: Any) -> int:
    """Print what happened to one connection; 1 when it was not saved."""
    what = f"{applied.kind} connection '{applied.name}'"
    if not applied.changed:
        typer.echo(f"unchanged {what}")
        return 0
    if not applied.saved:
        verb = "created" if applied.created else "changed"
        typer.echo(
            f"Error: {what} not {verb}: its test {applied.test_status}: {applied.test_message} "
            "Fix the settings, or pass --save-untested to save it anyway.",
            err=True,
        )
        return 1
    verb = "created" if applied.created else "updated"
    if applied.untested:
        tested = f"saved untested (its test {applied.test_status}: {applied.test_message})"
    elif applied.tested:
        tested = f"tested: {applied.test_message}"
    else:
        tested = "no re-test needed: only timeouts or sampling changed"
    typer.echo(f"{verb} {what}; {tested}")
    if not applied.created:
        count = len(applied.jobs_using)
        jobs = f" ({', '.join(applied.jobs_using)})" if count else ""
        typer.echo(
            f"{count} job{'s' * (count != 1)} use{'s' * (count == 1)} this connection{jobs}; "
            "their next runs use the new settings."
        )
    return 0


_ESTIMATED = "~ estimated from the source's statistics (counting would be expensive)"


def _row_count(info: TableInfo, unknown: str) -> str:
    if info.row_count is None:
        return unknown
    return ("~" if info.estimated else "") + f"{info.row_count:,}"


@app.command()
def test(name: str = typer.Argument(..., help="Connection name.")) -> None:
    """Connect, run SELECT 1 and list tables with row counts; warn when the login could write.
    Changes nothing."""
    from etl_bigquery.service.connections import test_connection

    with user_errors():
        outcome = test_connection(name)
    typer.echo(f"{outcome.status}: {outcome.message}")
    if outcome.warning:
        typer.echo(f"warning: {outcome.warning}")
    if outcome.tables:
        rows = [(t.schema, t.name, _row_count(t, "")) for t in outcome.tables]
        typer.echo(table(rows, ["schema", "table", "rows"]))
        if any(t.estimated for t in outcome.tables):
            typer.echo(_ESTIMATED)
    if getattr(outcome, "files", None):  # file connections: up to 100 objects
        rows = [(f["name"], f"{f['size']:,}", f["modified"]) for f in outcome.files]
        typer.echo(table(rows, ["file", "bytes", "last modified (UTC)"]))
    if outcome.status != "success":
        raise typer.Exit(1)


@app.command(name="list")
def list_connections(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Every connection and destination, with its last test."""
    from dataclasses import asdict

    from etl_bigquery.service.connections import list_connections

    with user_errors():
        found = list_connections()
    if as_json:
        _print_json([asdict(c) for c in found])
        return
    rows = [
        (c.name, c.kind, c.type, c.target, c.health.get("status", "unknown"),
         c.health.get("tested_at", ""))
        for c in found
    ]  # fmt: skip
    if not rows:
        typer.echo("No connections yet; create one with `etl connection apply FILE.yaml`.")
        return
    typer.echo(table(sorted(rows), ["name", "kind", "type", "target", "last test", "tested at"]))


# -- discovery (service.discovery does the work; the web console calls the same functions) ------

_JSON = typer.Option(False, "--json", help="Print one JSON document instead of a table.")
_SCHEMA = typer.Option(None, "--schema", "-s", help="Schema (default: the connection's default).")
_QUERY = typer.Option(
    None, "--query", "-q", help="A read-only SELECT instead of TABLE (checked as a job's query is)."
)
_TABLE = typer.Argument(None, metavar="[TABLE]", help="Table or view name (or --query).")
_WIDTH = 40  # preview values are shortened to this many characters on the terminal


def _print_json(data: object) -> None:
    import json

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def schemas(
    name: str = typer.Argument(..., help="Connection name."), as_json: bool = _JSON
) -> None:
    """List the schemas (PostgreSQL: user schemas; MySQL/MariaDB: the database; SQLite: main)."""
    from etl_bigquery.service import discovery

    with user_errors():
        found = quiet_call(lambda: discovery.list_schemas(name))
    if as_json:
        _print_json(found)
        return
    typer.echo("\n".join(found) if found else "No schemas.")


@app.command()
def tables(
    name: str = typer.Argument(..., help="Connection name."),
    schema: str | None = _SCHEMA,
    as_json: bool = _JSON,
) -> None:
    """List tables and views with row counts; estimates are marked with ~."""
    from dataclasses import asdict

    from etl_bigquery.service import discovery

    with user_errors():
        found = quiet_call(lambda: discovery.list_tables(name, schema))
    if as_json:
        _print_json([asdict(t) for t in found])
        return
    if not found:
        typer.echo("No tables." if schema is None else f"No tables in schema '{schema}'.")
        return

    rows = [(t.schema, t.name, _row_count(t, "unknown")) for t in found]
    typer.echo(table(rows, ["schema", "table", "rows"]))
    if any(t.estimated for t in found):
        typer.echo(_ESTIMATED)


@app.command()
def columns(
    name: str = typer.Argument(..., help="Connection name."),
    table_name: str | None = _TABLE,
    schema: str | None = _SCHEMA,
    query: str | None = _QUERY,
    as_json: bool = _JSON,
) -> None:
    """List a table's (or a query's) columns with the proposed BigQuery types; text columns are
    sampled (1000 rows) to detect dates, timestamps, integers and booleans stored as text."""
    from etl_bigquery.engine.schema.detect import OVERRIDE_HINT, SAMPLE_ROWS
    from etl_bigquery.service import discovery

    with user_errors():
        source = _source(table_name, schema, query)
        found = quiet_call(lambda: discovery.source_columns(name, source))
    if as_json:
        _print_json([c.as_dict() for c in found])
        return
    rows = [
        (
            c.name,
            c.source_type,
            "yes" if c.nullable else "no",
            "yes" if c.primary_key else "",
            c.bq_type,
            c.confidence + (" (detected)" if c.detected else ""),
            "; ".join(w for w in c.warnings if w != OVERRIDE_HINT),
        )
        for c in found
    ]
    headers = ["column", "source type", "nullable", "key", "BigQuery type", "confidence", "notes"]
    typer.echo(table(rows, headers))
    if any(c.detected for c in found):
        typer.echo(f"(detected) from the first {SAMPLE_ROWS} rows' values: {OVERRIDE_HINT}.")


def _source(table_name: str | None, schema: str | None, query: str | None) -> Any:
    """TABLE or --query, as a job's source (the wizard's columns step reads the same)."""
    from etl_bigquery.engine.errors import ConfigurationError
    from etl_bigquery.service import discovery

    if (table_name is None) == (query is None):
        raise ConfigurationError("Name a TABLE or pass --query, not both and not neither.")
    if query is not None:
        return discovery.parse_source({"kind": "query", "query": query})
    return discovery.parse_source({"table": table_name, "schema": schema})


def _short(value: object) -> str:
    if value is None:
        return "NULL"
    text = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


@app.command()
def preview(
    name: str = typer.Argument(..., help="Connection name."),
    table_name: str | None = _TABLE,
    schema: str | None = _SCHEMA,
    query: str | None = _QUERY,
    as_json: bool = _JSON,
) -> None:
    """Show the first 10 rows of a table or query (values shortened; --json gives them whole)."""
    from etl_bigquery.service import discovery

    with user_errors():
        source = _source(table_name, schema, query)
        shown = quiet_call(lambda: discovery.source_preview(name, source))
    if as_json:
        _print_json(shown.as_dict())
        return
    typer.echo(table([[_short(v) for v in row] for row in shown.rows], shown.columns))
    typer.echo(f"({len(shown.rows)} row{'s' * (len(shown.rows) != 1)})")


@app.command()
def delete(name: str = typer.Argument(..., help="Connection name."), as_json: bool = _JSON) -> None:
    """Delete a connection; refused while a job (a deployment of etl-job) uses it."""
    from etl_bigquery.service import discovery

    with user_errors():
        quiet_call(lambda: discovery.delete_connection(name))
    if as_json:
        _print_json({"deleted": name})
        return
    typer.echo(f"deleted connection '{name}'")


# File connections: `etl connection files` and `etl connection detect`.
from etl_bigquery.cli import connection_files as _files  # noqa: E402, F401
