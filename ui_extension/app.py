"""The console's ASGI app: server-rendered pages (Jinja2), a few JSON endpoints for the job
wizard, and forms whose actions call the same functions as the `etl` command.

Every request passes ui_extension.security first (trusted hosts, same-origin and CSRF checks on
state-changing requests, sign-in when a credential is configured, security headers); a route
added here is covered without doing anything. A form that posts includes `{{ csrf_input() }}`
(console.js also adds the token to any POST form and fetch call that lacks it).

Blocking calls (the job lifecycle in service.jobs, discovery, connection tests) run in
Starlette's thread pool; reads of runs use Prefect's async client (ui_extension.prefect_data).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape
from prefect.exceptions import ObjectNotFound
from starlette.concurrency import run_in_threadpool

from etl_bigquery.engine.errors import EtlError
from etl_bigquery.ui_extension import charts, prefect_data
from etl_bigquery.ui_extension.runs import (
    STAGES,
    ScheduledJob,
    active_jobs,
    compute_kpis,
    filter_runs,
    format_bytes,
    format_duration,
    order_scheduled,
)
from etl_bigquery.ui_extension.security import (
    CSRF_FIELD,
    ConsoleSecurity,
    SecurityMiddleware,
)
from etl_bigquery.ui_extension.wizard_routes import FORM_KINDS, add_wizard_routes, posted_fields

HERE = Path(__file__).resolve().parent
WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7),
           "30d": dt.timedelta(days=30), "all": None}  # fmt: skip
STATUSES = ("completed", "partial", "failed", "running", "skipped", "cancelled")
RUNS_PER_PAGE = 30


def _prefect_ui_url() -> str:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    return (PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/api")).rstrip(
        "/"
    )


def create_app(
    prefect_yaml: Path,
    prefect_ui_url: str | None = None,
    security: ConsoleSecurity | None = None,
) -> FastAPI:
    """`prefect_yaml`: the project file the job lifecycle writes (`etl job --prefect-yaml`).
    `security`: who may reach the console (default: loopback only, no credential)."""
    security = security or ConsoleSecurity()
    app = FastAPI(title="ETL console", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityMiddleware, security=security)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    ui = prefect_ui_url or _prefect_ui_url()
    templates.env.globals.update(
        prefect_ui=ui, stages=STAGES, duration=format_duration, size=format_bytes,
        statuses=STATUSES,
    )  # fmt: skip
    templates.env.filters["number"] = lambda v: "—" if v is None else f"{int(v):,}"

    @pass_context
    def csrf_input(context: Any) -> Markup:
        """The hidden field every form that posts carries (ui_extension.security checks it)."""
        token = getattr(context["request"].state, "csrf_token", "")
        return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">')

    templates.env.globals.update(csrf_input=csrf_input, signs_in=security.requires_login)

    def page(request: Request, template: str, /, **context: Any) -> HTMLResponse:
        context.setdefault("notice", request.query_params.get("notice"))
        context.setdefault("error", request.query_params.get("error"))
        return templates.TemplateResponse(request, template, context)

    def back(path: str, **message: str) -> RedirectResponse:
        query = urlencode({k: v for k, v in message.items() if v})
        return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)

    async def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(function, *args, **kwargs)

    # -- sign-in (the checks themselves are in ui_extension.security) -----------------------------

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        if not security.requires_login:
            return RedirectResponse("/", status_code=303)
        target = request.query_params.get("next") or "/"
        return page(request, "login.html", next=target, prefect_auth=bool(security.prefect_auth))

    # -- runs dashboard ---------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> HTMLResponse:
        from etl_bigquery.service.jobs import list_jobs

        params = request.query_params
        requested = params.get("window") or "7d"
        window = requested if requested in WINDOWS else "7d"
        now = dt.datetime.now(dt.UTC)
        span = WINDOWS[window]
        since = now - span if span else None
        # One read serves the KPIs (the window), the 5-day and the 30-day charts.
        read_since = None if since is None else min(since, now - dt.timedelta(days=30))
        runs = await prefect_data.read_runs(read_since)
        in_window = [r for r in runs if since is None or (r.start_time and r.start_time >= since)]
        query = params.get("q", "")
        status = [v for v in params.getlist("status") if v in STATUSES]
        connection = params.get("connection", "")
        asked = params.get("per_page", "")
        per_page = min(max(1, int(asked)), 200) if asked.isdigit() else RUNS_PER_PAGE
        requested_page = params.get("page", "1")
        # The history pages through every matching run of the window (no cap), unlike the KPIs.
        history = await prefect_data.read_run_history(
            since, lambda r: bool(filter_runs([r], query, status, connection)),
            int(requested_page) if requested_page.isdigit() else 1, per_page,
        )  # fmt: skip
        page_number, pages, recent = history.page, history.pages, history.runs
        first = (page_number - 1) * per_page
        keep = [("window", window), ("q", query), ("connection", connection),
                ("per_page", asked if per_page != RUNS_PER_PAGE else ""),
                *(("status", s) for s in status)]  # fmt: skip
        page_link = {
            n: "/?" + urlencode([(k, v) for k, v in keep if v] + [("page", str(n))]) + "#recent"
            for n in (1, page_number - 1, page_number + 1, pages) if 1 <= n <= pages
        }  # fmt: skip
        jobs = await call(list_jobs)
        scheduled = order_scheduled(
            ScheduledJob(j.name, j.schedule, j.next_run, j.state, j.deployment_id) for j in jobs
        )
        return page(
            request, "dashboard.html",
            window=window, windows=list(WINDOWS), kpis=compute_kpis(in_window),
            capped=len(runs) >= prefect_data.MAX_RUNS, max_runs=prefect_data.MAX_RUNS,
            scheduled=scheduled,
            bubbles=charts.bubble_chart(runs, now), durations=charts.duration_chart(runs, now),
            recent=recent, matching=history.matching, query=query, status=status,
            page_number=page_number, pages=pages, page_link=page_link, first=first,
            active=active_jobs(runs),
            connection=connection, connections=sorted({r.connection for r in runs if r.connection}),
            live=any(r.live for r in recent),
        )  # fmt: skip

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    async def run_page(request: Request, run_id: str) -> HTMLResponse:
        detail = await prefect_data.read_run(run_id)
        job_yaml = yaml.safe_dump(detail.parameters.get("job") or {}, sort_keys=False)
        active = await prefect_data.job_is_active(detail.view.job)
        return page(request, "run.html", run=detail.view, detail=detail, job_yaml=job_yaml,
                    job_active=active)  # fmt: skip

    @app.post("/runs/{run_id}/rerun")
    async def rerun(run_id: str) -> Response:
        from etl_bigquery.service.jobs import start_run

        detail = await prefect_data.read_run(run_id)
        if await prefect_data.job_is_active(detail.view.job):
            return back(f"/runs/{run_id}", error=f"A run of '{detail.view.job}' is in progress; "
                        "rerun it once that run has ended.")  # fmt: skip
        try:
            new = await call(start_run, detail.view.job)
        except EtlError as error:
            return back(f"/runs/{run_id}", error=error.message)
        return back(f"/runs/{new}", notice=f"Run of '{detail.view.job}' started.")

    # -- connections ------------------------------------------------------------------------------

    @app.get("/connections", response_class=HTMLResponse)
    async def connections(request: Request) -> HTMLResponse:
        from etl_bigquery.service.connections import list_connections
        from etl_bigquery.service.discovery import jobs_using

        rows = await call(list_connections)
        query = request.query_params.get("q", "").strip()
        if query:  # by name, type, kind or target
            rows = [r for r in rows if query.lower() in
                    f"{r.name} {r.type} {r.kind} {r.target}".lower()]  # fmt: skip
        used = {r.name: await call(jobs_using, r.name, prefect_yaml) for r in rows}
        return page(request, "connections.html", connections=rows, used=used, query=query)

    @app.get("/connections/new", response_class=HTMLResponse)
    async def new_connection(request: Request) -> Response:
        from etl_bigquery.service.connection_documents import KINDS, form_fields

        kind = request.query_params.get("kind", "sql")
        kind = kind if kind in KINDS else "sql"
        return page(request, "connection_form.html", kind=kind, kinds=list(KINDS),
                    fields=form_fields(kind), values={}, name="", editing=False)  # fmt: skip

    @app.get("/connections/{name}/edit", response_class=HTMLResponse)
    async def edit_connection(request: Request, name: str) -> Response:
        from etl_bigquery.service.connection_documents import form_fields, saved_values
        from etl_bigquery.service.connections import list_connections

        row = next((r for r in await call(list_connections) if r.name == name), None)
        if row is None:
            return back("/connections", error=f"Connection '{name}' does not exist.")
        kind = FORM_KINDS[row.kind]
        return page(request, "connection_form.html", kind=kind, kinds=[kind],
                    fields=form_fields(kind), values=await call(saved_values, kind, name),
                    name=name, editing=True)  # fmt: skip

    @app.post("/api/connections/test")
    async def api_test_connection(request: Request) -> Any:
        from etl_bigquery.service.connection_documents import document_from_form, test_document

        form = dict(await posted_fields(request))
        try:
            document = document_from_form(form, editing=form.get("editing") == "true")
            outcome = await call(test_document, document)
        except (EtlError, ValueError) as error:
            message = error.message if isinstance(error, EtlError) else str(error)
            return JSONResponse({"status": "failed", "message": message}, status_code=400)
        return {"status": outcome.status, "message": outcome.message,
                "warning": outcome.warning}  # fmt: skip

    @app.post("/api/connections/save")
    async def api_save_connection(request: Request) -> Any:
        from etl_bigquery.service.connection_documents import apply_document, document_from_form

        form = dict(await posted_fields(request))
        try:
            document = document_from_form(form, editing=form.get("editing") == "true")
            # Tested again here: Save never stores what has not just passed its test.
            applied = await call(apply_document, document, "the connection form")
        except (EtlError, ValueError) as error:
            message = error.message if isinstance(error, EtlError) else str(error)
            return JSONResponse({"error": message}, status_code=400)
        if applied.changed and not applied.saved:
            return JSONResponse({"error": f"Not saved: its test {applied.test_status}: "
                                 f"{applied.test_message}"}, status_code=400)  # fmt: skip
        verb = "unchanged" if not applied.changed else "created" if applied.created else "updated"
        used = len(applied.jobs_using)
        text = f"Connection '{applied.name}' {verb}" + (
            f"; {used} job{'s' * (used != 1)} use{'s' * (used == 1)} it" if not applied.created
            else "") + "."  # fmt: skip
        return {"redirect": "/connections?" + urlencode({"notice": text})}

    @app.post("/connections/{name}/test")
    async def test_connection(name: str) -> Response:
        from etl_bigquery.service.connections import test_connection

        try:
            outcome = await call(test_connection, name)
        except EtlError as error:
            return back("/connections", error=error.message)
        message = f"{name}: {outcome.status}: {outcome.message}"
        return back("/connections", **({"notice": message} if outcome.status == "success"
                                       else {"error": message}))  # fmt: skip

    @app.post("/connections/{name}/delete")
    async def delete_connection(name: str) -> Response:
        from etl_bigquery.service.discovery import delete_connection

        try:
            await call(delete_connection, name, prefect_yaml)
        except EtlError as error:
            return back("/connections", error=error.message)
        return back("/connections", notice=f"Connection '{name}' deleted.")

    # -- jobs -------------------------------------------------------------------------------------

    @app.get("/jobs", response_class=HTMLResponse)
    async def jobs_page(request: Request) -> HTMLResponse:
        from etl_bigquery.service.jobs import filter_jobs, list_jobs

        params = request.query_params
        chosen = {k: params.get(k, "") for k in ("status", "connection", "schedule", "health")}
        every = await call(list_jobs)
        shown = filter_jobs(every, **{k: v or None for k, v in chosen.items()})
        return page(
            request, "jobs.html", jobs=shown, total=len(every), chosen=chosen,
            connections=sorted({j.connection for j in every}
                               | {j.destination.split(":", 1)[0] for j in every}),
        )  # fmt: skip

    @app.post("/jobs/run-all")
    async def run_all(request: Request) -> Response:
        """Start one run of each job the filters (posted with the form) select."""
        from etl_bigquery.service.jobs import filter_jobs, list_jobs, start_run

        form = await posted_fields(request)
        chosen = {k: str(form.get(k) or "") or None
                  for k in ("status", "connection", "schedule", "health")}  # fmt: skip
        selected = filter_jobs(await call(list_jobs), **chosen)
        started, refused = [], []
        for job in selected:
            try:
                await call(start_run, job.name)
                started.append(job.name)
            except EtlError as error:
                refused.append(f"{job.name}: {error.message}")
        query = {k: v for k, v in chosen.items() if v}
        text = f"Started {len(started)} run{'s' * (len(started) != 1)}" + (
            f": {', '.join(started)}." if started else ".")  # fmt: skip
        # Back to the same filtered list, with the outcome.
        outcome = {**query, "notice": text, "error": "; ".join(refused)}
        return RedirectResponse("/jobs?" + urlencode({k: v for k, v in outcome.items() if v}),
                                status_code=303)  # fmt: skip

    @app.post("/jobs/{name}/{action}")
    async def job_action(request: Request, name: str, action: str) -> Response:
        from etl_bigquery.service import jobs as deployments

        try:
            if action in ("pause", "resume"):
                await call(deployments.set_paused, name, action == "pause", prefect_yaml)
                return back("/jobs", notice=f"Job '{name}' {action}d.")
            if action == "run":
                run_id = await call(deployments.start_run, name)
                return back(f"/runs/{run_id}", notice=f"Run of '{name}' started.")
            if action == "delete":
                form = await posted_fields(request)
                await call(deployments.delete_job, name, prefect_yaml,
                           drop_table=form.get("drop_table") == "on")  # fmt: skip
                dropped = form.get("drop_table") == "on"
                table = "its table was dropped" if dropped else "its BigQuery table stays"
                return back("/jobs", notice=f"Job '{name}' deleted; {table}.")
            if action == "edit":
                return await _edit(request, name)
        except EtlError as error:
            target = f"/jobs/{name}/edit" if action == "edit" else "/jobs"
            return back(target, error=error.message)
        return back("/jobs", error=f"Unknown action '{action}'.")

    async def _edit(request: Request, name: str) -> Response:
        from etl_bigquery.service.jobs import edit_job, job_file_text

        form = await posted_fields(request)
        current = await call(job_file_text, name, prefect_yaml)
        changes: dict[str, Any] = {}
        schedule = str(form.get("schedule") or "").strip()
        changes["schedule"] = yaml.safe_load(schedule) if schedule else "manual"
        changes["timezone"] = str(form.get("timezone") or "UTC").strip()
        changes["description"] = str(form.get("description") or "").strip() or None
        columns = [str(c) for c in form.getlist("columns")]
        everything = not current.get("columns") and set(columns) == set(form.getlist("available"))
        if not everything and columns != list(current.get("columns") or []):
            changes["columns"] = columns
        if changes["description"] is None and not current.get("description"):
            changes.pop("description")
        edited = await call(edit_job, name, changes, prefect_yaml)
        if not edited.changed:
            return back("/jobs", notice=f"Job '{name}' unchanged.")
        text = f"Job '{name}' changed: {', '.join(edited.changed)}."
        if edited.columns_added:
            text += f" Columns added as NULLABLE: {', '.join(edited.columns_added)}."
        return back("/jobs", notice=text)

    @app.get("/jobs/{name}/edit", response_class=HTMLResponse)
    async def edit_page(request: Request, name: str) -> Response:
        from etl_bigquery.engine.plan import ALWAYS_LOADED
        from etl_bigquery.service.discovery import parse_source, source_columns
        from etl_bigquery.service.jobs import job_file_text

        try:
            current = await call(job_file_text, name, prefect_yaml)
        except EtlError as error:
            return back("/jobs", error=error.message)
        available: list[str] = []
        try:  # any source kind: a table, a query (checked read-only) or files
            source = parse_source(current.get("source") or {})
            found = await call(source_columns, current["connection"], source, 0)
            available = [c.name for c in found if c.name not in ALWAYS_LOADED]
        except EtlError:
            available = []  # the source cannot be read now: the job's own list is offered
        schedule = current.get("schedule", "manual")
        return page(
            request, "job_edit.html", name=name, job=current,
            schedule_text=schedule if isinstance(schedule, str)
            else yaml.safe_dump(schedule, default_flow_style=True).strip(),
            available=available or list(current.get("columns") or []),
            selected=set(current.get("columns") or available),
        )  # fmt: skip

    # -- JSON for the wizard (the same discovery functions as `etl connection ...`) -------------

    @app.exception_handler(ObjectNotFound)
    async def not_found(request: Request, error: ObjectNotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": "Not found on the Prefect server."}, status_code=404)
        return back("/", error=f"{request.url.path} is not on the Prefect server (deleted?).")

    @app.exception_handler(EtlError)
    async def etl_error(request: Request, error: EtlError) -> Response:
        # The wizard's JSON calls show the sentence next to the step; pages go back to the list.
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": error.message}, status_code=400)
        return back("/", error=error.message)

    add_wizard_routes(app, page, call, prefect_yaml)

    @app.get("/health")
    async def health() -> Any:
        return {"prefect": await prefect_data.server_ok(), "prefect_ui": ui}

    app.state.prefect_yaml = prefect_yaml
    app.state.dumps = json.dumps
    return app
