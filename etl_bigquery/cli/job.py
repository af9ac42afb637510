"""`etl job ...`: a job's lifecycle. Each command is a thin layer over `service.jobs`, which
the web console calls too.

    etl job apply FILE [--run-now]     validate, create the table, write prefect.yaml, deploy
    etl job list [--json]              schedule in words, next run, state, last run
    etl job run NAME [--wait]          a run through the deployment, on a worker
    etl job pause|resume NAME
    etl job edit NAME [FILE] [--schedule ...] [--add-column ...]
    etl job delete NAME [--drop-table]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from etl_bigquery.cli.output import fail, quiet_call, table, user_errors

app = typer.Typer(
    help="Jobs: apply (validate, create the table, deploy), list, run, pause/resume, edit, delete.",
    no_args_is_help=True,
)

PREFECT_YAML_HELP = "prefect.yaml to write (default: the one in the current folder or above)."


def find_prefect_yaml(start: Path) -> Path | None:
    """The prefect.yaml of the project `start` is in: in its folder or the nearest one above."""
    folder = start.resolve()
    folder = folder if folder.is_dir() else folder.parent
    for candidate in (folder, *folder.parents):
        if (candidate / "prefect.yaml").is_file():
            return candidate / "prefect.yaml"
    return None


def _project(prefect_yaml: Path | None) -> Path:
    found = prefect_yaml or find_prefect_yaml(Path.cwd())
    if found is None:
        fail(
            "no prefect.yaml in this folder or above; run from the project or pass --prefect-yaml."
        )
    return found


def _print_plans(applied: Any) -> None:
    from etl_bigquery.engine.plan import low_confidence_warnings

    rows = [
        (p.source.name, p.source.source_type, p.name, p.bq_type.value,
         "override" if p.overridden else p.proposal.confidence.value)
        for p in applied.plans
    ]  # fmt: skip
    typer.echo(
        table(rows, ["source column", "source type", "BigQuery column", "type", "confidence"])
    )
    for warning in low_confidence_warnings(applied.plans):
        typer.echo(f"warning: {warning}")


@app.command()
def apply(
    file: Path = typer.Argument(..., help="Job YAML file."),
    run_now: bool = typer.Option(False, "--run-now", help="Start one run once it is deployed."),
    prefect_yaml: Path | None = typer.Option(
        None,
        "--prefect-yaml",
        help="prefect.yaml to write (default: the project's of FILE); a new one is started "
        "when it does not exist.",
    ),
    deploy: bool = typer.Option(
        True, "--deploy/--no-deploy", help="Write and register the deployment (default)."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Validate, and show the table, column mapping and schedule the job would have; "
        "create, deploy and change nothing.",
    ),
) -> None:
    """Validate the job against its source and BigQuery, create the destination table, then write
    its deployment into prefect.yaml and register it. Nothing is left behind when validation
    fails. A job file outside any project (no prefect.yaml in its folder or above) is validated
    and its table created, without a deployment, unless --prefect-yaml names the file to start.
    A name taken by another job (another source, destination or load type) is refused; the same
    job is updated, with the rules of `etl job edit`."""
    from etl_bigquery.service.job_files import load_job_definition
    from etl_bigquery.service.jobs import (
        check_same_job,
        deploy_definition,
        validate_and_create_table,
    )

    target = prefect_yaml or find_prefect_yaml(file)
    with user_errors():
        definition = load_job_definition(file)
        exists = check_same_job(definition, target)
        applied = validate_and_create_table(definition, dry_run=dry_run)
    _print_plans(applied)
    for warning in definition.warnings:
        typer.echo(f"warning: {warning}")
    job = definition.job
    if dry_run:
        _print_dry_run(definition, applied, exists)
        return
    state = "created" if applied.table_created else "exists and is compatible"
    typer.echo(f"Job '{job.name}' is valid; table {applied.ref} {state}.")
    if not deploy or target is None:
        if target is None and deploy:
            typer.echo(
                "Not deployed: no prefect.yaml in the job file's folder or above; pass "
                "--prefect-yaml prefect.yaml to start one here."
            )
        if run_now:
            fail("--run-now needs a deployment; apply the job inside a project.")
        return
    with user_errors():
        deployed = deploy_definition(definition, target, run_now=run_now)
    typer.echo(
        f"Deployment etl-job/{job.name} {deployed.prefect_yaml} in {target.name} and registered "
        f"(id {deployed.deployment_id}); schedule: {deployed.schedule}"
        + (f", next run {deployed.next_run}" if deployed.next_run else "")
        + "."
    )
    if deployed.flow_run_id:
        typer.echo(f"Run started: flow run {deployed.flow_run_id}.")


def _print_dry_run(definition: Any, applied: Any, exists: bool) -> None:
    job, schedule = definition.job, definition.deployment.schedule
    if applied.table_exists:
        added = ", ".join(applied.columns_to_add)
        table_text = f"table {applied.ref} exists and is compatible" + (
            f"; would add {added} (NULLABLE)" if added else ""
        )
    else:
        table_text = f"would create table {applied.ref}"
    typer.echo(
        f"Dry run: job '{job.name}' is valid; {table_text}; schedule: {schedule.describe()}; "
        f"it would be {'updated' if exists else 'created'}. "
        "Nothing was created or changed."
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


_HEALTH_MARK = {"scheduled": "ok", "manual": "manual", "paused": "paused", "failed": "FAILED"}


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON array, one object per job."),
    status: str | None = typer.Option(
        None,
        "--status",
        help="Last run completed, failed, running, cancelled or never; or the job enabled/paused.",
    ),
    connection: str | None = typer.Option(
        None, "--connection", help="Jobs reading from this connection or loading into this block."
    ),
    schedule: str | None = typer.Option(
        None, "--schedule", help="manual, scheduled, or hourly/daily/weekly/monthly/cron."
    ),
    health: str | None = typer.Option(
        None, "--health", help="scheduled, manual, paused or failed (the health column)."
    ),
) -> None:
    """Every deployed job: source → destination, schedule in words, next run in the job's time
    zone, Enabled/Paused, a health mark (ok: scheduled; manual; paused; FAILED: the last run
    failed), and the last run's status, rows and duration, whichever way it was started
    (`etl run`, the deployment's schedule, `etl job run`, the console)."""
    from etl_bigquery.service.jobs import filter_jobs, list_jobs

    with user_errors():
        jobs = quiet_call(list_jobs) if as_json else list_jobs()
    jobs = filter_jobs(jobs, status=status, connection=connection, schedule=schedule,
                       health=health)  # fmt: skip
    if as_json:
        typer.echo(json.dumps([j.to_dict() for j in jobs]))
        return
    if not jobs:
        filtered = any((status, connection, schedule, health))
        typer.echo("No job matches these filters." if filtered
                   else "No jobs are deployed; `etl job apply FILE` deploys one.")  # fmt: skip
        return
    rows = [
        (j.name, _HEALTH_MARK[j.health], f"{j.source} -> {j.destination}", j.schedule,
         j.next_run or "-", j.state, j.last_status or "-",
         "" if j.last_rows is None else f"{j.last_rows:,}", _duration(j.last_duration_seconds))
        for j in jobs
    ]  # fmt: skip
    headers = ["job", "health", "source -> destination", "schedule", "next run", "state",
               "last run", "rows", "duration"]  # fmt: skip
    typer.echo(table(rows, headers))


@app.command()
def run(
    name: str = typer.Argument(..., help="Job name."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the run and print its summary."),
    as_json: bool = typer.Option(False, "--json", help="With --wait: one JSON object."),
    timeout: float = typer.Option(3600, help="With --wait: give up after this many seconds."),
) -> None:
    """Start a run through the job's deployment; a worker of its pool runs it. With --wait,
    print the same summary as `etl run` and exit like it (0 completed, 1 failed, 3 skipped)."""
    from etl_bigquery.cli.run import EXIT_SKIPPED, _human, progress_watcher
    from etl_bigquery.service.jobs import start_run, wait_for_run

    with user_errors():
        run_id = start_run(name)
        if not wait:
            typer.echo(f"Run of '{name}' scheduled: flow run {run_id} (a worker will pick it up).")
            return
        if not as_json:
            typer.echo(f"Run of '{name}' started: flow run {run_id}; waiting for a worker...")
        report = wait_for_run(run_id, timeout=timeout, watcher=progress_watcher(as_json))
    typer.echo(json.dumps(report, default=str) if as_json else _human(report))
    if report["status"] == "skipped":
        raise typer.Exit(EXIT_SKIPPED)
    if report["status"] not in ("completed", "partial"):
        raise typer.Exit(1)


@app.command()
def pause(
    name: str = typer.Argument(..., help="Job name."),
    prefect_yaml: Path | None = typer.Option(None, "--prefect-yaml", help=PREFECT_YAML_HELP),
) -> None:
    """Stop scheduled runs of the job (runs started by hand still run)."""
    from etl_bigquery.service.jobs import set_paused

    with user_errors():
        set_paused(name, True, _project(prefect_yaml))
    typer.echo(f"Job '{name}' paused: no scheduled runs until `etl job resume {name}`.")


@app.command()
def resume(
    name: str = typer.Argument(..., help="Job name."),
    prefect_yaml: Path | None = typer.Option(None, "--prefect-yaml", help=PREFECT_YAML_HELP),
) -> None:
    """Let the job's schedule start runs again."""
    from etl_bigquery.service.jobs import set_paused

    with user_errors():
        set_paused(name, False, _project(prefect_yaml))
    typer.echo(f"Job '{name}' resumed.")


def _yaml_value(text: str, option: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        fail(f"{option} {text!r} is not valid YAML.", 2)


@app.command()
def edit(
    name: str = typer.Argument(..., help="Job name."),
    file: Path | None = typer.Argument(None, help="The job file with the changes (optional)."),
    schedule: str | None = typer.Option(
        None, help="New schedule: manual, or YAML such as '{daily: {at: \"09:00\"}}'."
    ),
    timezone: str | None = typer.Option(None, help="New time zone (IANA name)."),
    description: str | None = typer.Option(None, help="New description."),
    add_column: list[str] = typer.Option(
        [], "--add-column", help="Load this source column too (added to the table as NULLABLE)."
    ),
    remove_column: list[str] = typer.Option(
        [], "--remove-column", help="Stop loading this column (it stays in BigQuery)."
    ),
    show: bool = typer.Option(False, "--show", help="Print the job file and change nothing."),
    prefect_yaml: Path | None = typer.Option(None, "--prefect-yaml", help=PREFECT_YAML_HELP),
) -> None:
    """Change what may change on a job: schedule, time zone, description, columns and run
    settings. Source, connection, load type, destination, cursor and key columns cannot change
    (a new job can). An added column is added to the BigQuery table without reloading rows."""
    from etl_bigquery.service.job_files import expand_job_environment, read_yaml_documents
    from etl_bigquery.service.jobs import edit_job, job_file_text

    project = _project(prefect_yaml)
    with user_errors():
        if show:
            import yaml

            typer.echo(yaml.safe_dump(job_file_text(name, project), sort_keys=False).rstrip())
            return
        changes: dict[str, Any] = {}
        if file is not None:
            documents = read_yaml_documents(file)
            if len(documents) != 1:
                fail(f"{file}: a job file holds exactly one job.", 2)
            # The same ${VAR} rule as `etl job apply`: a file that applies also edits.
            changes.update(expand_job_environment(documents[0], str(file)))
        if schedule is not None:
            changes["schedule"] = _yaml_value(schedule, "--schedule")
        if timezone is not None:
            changes["timezone"] = timezone
        if description is not None:
            changes["description"] = description
        if add_column or remove_column:
            current = job_file_text(name, project).get("columns") or []
            if not current and remove_column:
                fail("the job loads all columns; list the ones to keep with a job file.", 2)
            changes["columns"] = [c for c in current if c not in remove_column] + [
                c for c in add_column if c not in current
            ]
        if not changes:
            fail("nothing to change; pass a job file or options such as --schedule.", 2)
        edited = edit_job(name, changes, project)
    if not edited.changed:
        typer.echo(f"Job '{name}' unchanged.")
        return
    typer.echo(f"Job '{name}' changed: {', '.join(edited.changed)}.")
    if edited.columns_added:
        typer.echo(
            "Columns added to the table as NULLABLE (no reload): "
            + ", ".join(edited.columns_added)
            + "."
        )
    if edited.applied:
        typer.echo(
            f"Deployment updated; schedule: {edited.applied.schedule}"
            + (f", next run {edited.applied.next_run}" if edited.applied.next_run else "")
            + "."
        )
        for warning in edited.applied.warnings:
            typer.echo(f"warning: {warning}")


@app.command()
def delete(
    name: str = typer.Argument(..., help="Job name."),
    drop_table: bool = typer.Option(
        False, "--drop-table", help="Also drop the BigQuery table (and its __rejected table)."
    ),
    prefect_yaml: Path | None = typer.Option(None, "--prefect-yaml", help=PREFECT_YAML_HELP),
) -> None:
    """Delete the job: its deployment, schedule, scheduled runs, prefect.yaml entry and
    concurrency slot. The BigQuery table stays unless --drop-table; past runs stay in Prefect."""
    from etl_bigquery.service.jobs import delete_job

    with user_errors():
        deleted = delete_job(name, _project(prefect_yaml), drop_table=drop_table)
    gone = [
        what
        for what, done in (
            ("deployment and schedule", deleted.deployment),
            ("prefect.yaml entry", deleted.prefect_yaml),
            (f"concurrency limit etl-job-{name}", deleted.concurrency_limit),
        )
        if done
    ]
    typer.echo(f"Job '{name}' deleted: {', '.join(gone) or 'nothing was left'}.")
    typer.echo(
        f"Table {deleted.table_dropped} dropped."
        if deleted.table_dropped
        else "The BigQuery table stays (--drop-table drops it)."
    )
