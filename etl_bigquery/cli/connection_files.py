"""`etl connection files|detect`: discovery of file connections (service.file_discovery does the
work; the web console calls the same functions)."""

from __future__ import annotations

import json

import typer

from etl_bigquery.cli.connection import _JSON, _print_json, app
from etl_bigquery.cli.output import quiet_call, table, user_errors


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


@app.command()
def files(
    name: str = typer.Argument(..., help="File connection name."),
    prefix: str = typer.Option("", "--prefix", "-p", help="Folder or key prefix, e.g. exports/."),
    glob: str = typer.Option(
        "**", "--glob", "-g", help="Files under the prefix: * within a folder, ** across."
    ),
    limit: int = typer.Option(1000, "--limit", help="List at most this many files."),
    as_json: bool = _JSON,
) -> None:
    """List the files under a prefix matching a glob, with size and last-modified."""
    from etl_bigquery.service import file_discovery

    with user_errors():
        found = quiet_call(lambda: file_discovery.list_files(name, prefix, glob, limit))
    if as_json:
        _print_json([f.as_dict() for f in found])
        return
    if not found:
        typer.echo(f"No file matches {prefix}{glob}.")
        return
    typer.echo(table([(f.name, _size(f.size), f.modified) for f in found],
                     ["file", "size", "last modified (UTC)"]))  # fmt: skip
    typer.echo(f"({len(found)} file{'s' * (len(found) != 1)})")


@app.command()
def detect(
    name: str = typer.Argument(..., help="File connection name."),
    path: str = typer.Argument(..., help="The file, relative to the connection's prefix."),
    file_format: str | None = typer.Option(
        None, "--format", help="csv, parquet, jsonl or json (default: from the name and bytes)."
    ),
    csv_options: str | None = typer.Option(
        None, "--csv", help='CSV options as JSON instead of detected ones: \'{"delimiter": ";"}\'.'
    ),
    as_json: bool = _JSON,
) -> None:
    """Propose the format, its options and the columns with BigQuery types of one file, from
    at most its first 5 MB."""
    from etl_bigquery.service import file_discovery

    with user_errors():
        options = json.loads(csv_options) if csv_options else None
        found = quiet_call(
            lambda: file_discovery.detect_file(
                name, path, file_format=file_format, csv_options=options
            )
        )
    if as_json:
        _print_json(found.as_dict())
        return
    import yaml

    typer.echo(f"{found.file.uri} ({_size(found.file.size)}, {found.sample_rows} rows sampled)")
    typer.echo("source:")
    typer.echo("  " + yaml.safe_dump(found.source, sort_keys=False).replace("\n", "\n  ").rstrip())
    rows = [
        (c.name, c.source_type, c.bq_type, c.confidence + (" (detected)" if c.detected else ""),
         "; ".join(c.warnings))
        for c in found.columns
    ]  # fmt: skip
    typer.echo(table(rows, ["column", "source type", "BigQuery type", "confidence", "notes"]))
