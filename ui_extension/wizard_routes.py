"""The job wizard's routes: the New job page, Create, and the JSON its steps call. Each calls
the service function an `etl` command calls (named in each docstring), and the form becomes a job
file through ui_extension.wizard, so the console builds no job the CLI would not.

`add_wizard_routes` is called by `app.create_app` with its page renderer and thread-pool caller;
the security middleware in front of the app covers these routes as every other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import ImmutableMultiDict

from etl_bigquery.engine.errors import EtlError
from etl_bigquery.ui_extension.wizard import (
    cursor_choice,
    definition_from_form,
    job_fields_from_form,
)

# The connections list's kinds (block type slugs) -> the YAML kinds of their forms.
FORM_KINDS = {
    "sql-connection": "sql",
    "bigquery-source": "bigquery",
    "file-connection": "files",
    "nosql-connection": "nosql",
    "bigquery-destination": "bigquery-destination",
}


async def posted_fields(request: Request) -> ImmutableMultiDict:
    """The posted fields: URL-encoded (the pages' forms, the wizard's Create) or a JSON object
    (the API; a list value is a repeated field), parsed without python-multipart."""
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await request.json()
        if not isinstance(data, dict):
            data = {}
        pairs = [
            (str(key), "" if item is None else str(item))
            for key, value in data.items()
            for item in (value if isinstance(value, list) else [value])
        ]
        return ImmutableMultiDict(pairs)
    body = (await request.body()).decode("utf-8")
    return ImmutableMultiDict(parse_qsl(body, keep_blank_values=True))


def column_rows(found: list[Any]) -> list[dict[str, Any]]:
    """Discovery's columns as the wizard shows them: with the BigQuery name, whether the column
    loads whatever is selected, and, for columns that can serve as a cursor, the rank and the
    reason (ui_extension.wizard.cursor_choice)."""
    from etl_bigquery.engine.plan import ALWAYS_LOADED
    from etl_bigquery.engine.schema.names import sanitize_column_name

    listed = []
    for c in found:
        choice = cursor_choice(c.name, c.bq_type, c.nullable)
        # Trace columns keep their own names (engine.plan); others are derived as a run does.
        bq_name = c.name if c.name in ALWAYS_LOADED else sanitize_column_name(c.name)
        listed.append({**c.as_dict(), "bq_name": bq_name,
                       # a file's trace columns load whatever the selection (engine.plan)
                       "always_loaded": c.name in ALWAYS_LOADED,
                       "cursor_rank": choice[0] if choice else None,
                       "cursor_reason": choice[1] if choice else None})  # fmt: skip
    return listed


def add_wizard_routes(
    app: FastAPI, page: Callable[..., HTMLResponse], call: Callable[..., Any], prefect_yaml: Path
) -> None:
    @app.get("/jobs/new", response_class=HTMLResponse)
    async def new_job(request: Request) -> HTMLResponse:
        from etl_bigquery.engine.schema.bqtypes import BqType
        from etl_bigquery.service.connections import list_connections

        rows = await call(list_connections)
        return page(
            request, "job_new.html",
            # (name, form kind): the kind decides the source step (tables, a query, files).
            sources=[(r.name, FORM_KINDS.get(r.kind, "sql")) for r in rows
                     if r.kind != "bigquery-destination"],
            destinations=[r.name for r in rows if r.kind == "bigquery-destination"],
            bq_types=[t.value for t in BqType],
        )  # fmt: skip

    @app.post("/jobs/new")
    async def create_job(request: Request) -> Response:
        from etl_bigquery.service.jobs import (
            deploy_definition,
            refuse_taken_name,
            validate_and_create_table,
        )

        form = await posted_fields(request)
        try:
            definition = definition_from_form(form, [str(c) for c in form.getlist("columns")])
            await call(refuse_taken_name, definition.job.name, prefect_yaml)
            await call(validate_and_create_table, definition)
            applied = await call(deploy_definition, definition, prefect_yaml,
                                 run_now=form.get("run_now") == "on")  # fmt: skip
        except EtlError as error:
            return JSONResponse({"error": error.message}, status_code=400)
        return JSONResponse(
            {"name": applied.name, "deployment_id": applied.deployment_id,
             "schedule": applied.schedule, "next_run": applied.next_run,
             "warnings": applied.warnings, "redirect": "/jobs?" + urlencode(
                 {"notice": f"Job '{applied.name}' created and deployed; schedule: "
                  f"{applied.schedule}." + (" Its first run has started." if applied.flow_run_id
                                            else "")})}
        )  # fmt: skip

    @app.get("/api/connections/{name}/schemas")
    async def api_schemas(name: str) -> Any:
        from etl_bigquery.service import discovery

        return await call(discovery.list_schemas, name)

    @app.get("/api/connections/{name}/tables")
    async def api_tables(name: str, schema: str | None = None) -> Any:
        from dataclasses import asdict

        from etl_bigquery.service import discovery

        return [asdict(t) for t in await call(discovery.list_tables, name, schema or None)]

    @app.get("/api/connections/{name}/columns")
    async def api_columns(name: str, table: str, schema: str | None = None) -> Any:
        from etl_bigquery.service import discovery

        return column_rows(await call(discovery.list_columns, name, table, schema or None))

    @app.post("/api/connections/{name}/source")
    async def api_source(name: str, request: Request) -> Any:
        """Columns (with proposals, confidence and cursor ranking) and the first rows of any job
        source: a table or collection, a query (checked read-only by the reader, as in every
        run) or files; the functions `etl connection columns|preview [--query]` call."""
        from etl_bigquery.service import discovery

        body = await request.json()
        source = discovery.parse_source(dict(body.get("source") or {}))
        found = await call(discovery.source_columns, name, source)
        shown = await call(discovery.source_preview, name, source)
        return {"columns": column_rows(found), "preview": shown.as_dict()}

    @app.post("/api/connections/{name}/files")
    async def api_files(name: str, request: Request) -> Any:
        """`etl connection files NAME --prefix --glob` (paths stay under the connection's root:
        the file store refuses any other)."""
        from etl_bigquery.service import file_discovery

        body = await request.json()
        found = await call(file_discovery.list_files, name, str(body.get("prefix") or ""),
                           str(body.get("glob") or "**"), 200)  # fmt: skip
        return [f.as_dict() for f in found]

    @app.post("/api/connections/{name}/detect")
    async def api_detect(name: str, request: Request) -> Any:
        """`etl connection detect NAME PATH [--format] [--csv]`: the proposed format, options and
        columns of one file."""
        from etl_bigquery.service import file_discovery

        body = await request.json()
        found = await call(file_discovery.detect_file, name, str(body.get("path") or ""),
                           file_format=body.get("format") or None,
                           csv_options=body.get("csv") or None)  # fmt: skip
        return found.as_dict()

    @app.get("/api/connections/{name}/preview")
    async def api_preview(name: str, table: str, schema: str | None = None) -> Any:
        from etl_bigquery.service import discovery

        return (await call(discovery.preview, name, table, schema or None)).as_dict()

    @app.get("/api/destinations/{name}/tables")
    async def api_destination_tables(name: str, dataset: str | None = None) -> Any:
        from etl_bigquery.service.connections import destination_tables

        found, tables = await call(destination_tables, name, dataset or None)
        return {"dataset": found, "tables": tables}

    @app.post("/api/compatibility")
    async def api_compatibility(request: Request) -> Any:
        from dataclasses import asdict

        from etl_bigquery.service.connections import compatibility

        body = await request.json()
        exists, report = await call(compatibility, body["destination"], body.get("dataset"),
                                    body["table"], dict(body.get("columns") or {}))  # fmt: skip
        return {"exists": exists, "compatible": all(c.fits for c in report),
                "columns": [asdict(c) for c in report]}  # fmt: skip

    @app.post("/api/review")
    async def api_review(request: Request) -> Any:
        import datetime as _dt

        from etl_bigquery.engine.plan import low_confidence_warnings
        from etl_bigquery.service.jobs import validate_and_create_table

        form = await posted_fields(request)
        columns = [str(c) for c in form.getlist("columns")]
        definition = definition_from_form(form, columns)
        schedule = definition.deployment.schedule
        upcoming = schedule.next_runs(_dt.datetime.now(_dt.UTC), 3)
        # What `etl job apply --dry-run` checks: the source (a query is checked read-only), the
        # types and overrides, the destination table; nothing is created.
        checked = await call(validate_and_create_table, definition, dry_run=True)
        return {
            "yaml": yaml.safe_dump(job_fields_from_form(form, columns), sort_keys=False),
            "schedule": schedule.describe(),
            "next_runs": [t.isoformat(timespec="minutes") for t in upcoming],
            "warnings": [*definition.warnings, *low_confidence_warnings(checked.plans)],
            "table": str(checked.ref), "table_exists": checked.table_exists,
            "columns_to_add": list(checked.columns_to_add),
            "mapping": [{"source": p.source.name, "source_type": p.source.source_type,
                         "column": p.name, "type": p.bq_type.value,
                         "confidence": "override" if p.overridden
                         else p.proposal.confidence.value} for p in checked.plans],
        }  # fmt: skip
