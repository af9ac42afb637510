"""`etl run FILE.yaml [--json]`: run a job now, through the flow, in this process."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from etl_bigquery.cli.output import fail, quiet_call, user_errors

EXIT_SKIPPED = 3


def shows_progress(as_json: bool) -> bool:
    """Progress lines only for a person at a terminal: never with --json, in a pipe or a file,
    or with ETL_PROGRESS=0."""
    return not as_json and sys.stdout.isatty() and os.environ.get("ETL_PROGRESS", "1") != "0"


def progress_watcher(as_json: bool) -> Any:
    """A `progress.Watcher` printing to the terminal, or None when progress is not shown."""
    if not shows_progress(as_json):
        return None
    from etl_bigquery.service.progress import Watcher

    return Watcher(typer.echo)


def run_job(file: Path, progress: bool = False) -> dict[str, Any]:
    """Run the flow and return its report (status, figures, stages, flow run id); with
    `progress`, print each stage's state as it changes and the rows read while extracting."""
    from prefect import tags

    from etl_bigquery.flows.etl_job import RunFailed, etl_job
    from etl_bigquery.service.job_files import load_job_file
    from etl_bigquery.service.progress import InProcessWatch

    job = load_job_file(file)
    # The same tags as a deployment's runs: `etl job list` and the console count it as the
    # job's run whichever way it was started.
    watch = InProcessWatch(job.name, typer.echo) if progress else contextlib.nullcontext()
    with watch, tags("etl", f"etl-job:{job.name}"):
        state = etl_job(job=job, return_state=True)
    outcome = state.result(raise_on_failure=False)
    report = outcome.report if isinstance(outcome, RunFailed) else outcome
    if not isinstance(report, dict):
        # The flow ended before producing its report (e.g. crashed in Prefect itself).
        return {
            "status": "failed",
            "state_name": state.name,
            "error_type": "unknown",
            "error": state.message,
            "flow_run_id": str(state.state_details.flow_run_id),
        }
    return report


def _human(report: dict[str, Any]) -> str:
    lines = [f"{report.get('job')}: {report.get('state_name')}"]
    if report.get("error"):
        lines.append(f"  failed in {report.get('error_type')}: {report.get('error')}")
    if report.get("destination"):
        lines.append(f"  destination: {report['destination']} ({report.get('load_type')})")
    lines.append(
        f"  rows: {report.get('rows_extracted', 0):,} extracted, "
        f"{report.get('rows_loaded', 0):,} loaded"
        + (f", {report['rows_rejected']:,} rejected" if report.get("rows_rejected") else "")
        + (
            f", {report['rows_future']:,} with a cursor in the future (not loaded yet)"
            if report.get("rows_future")
            else ""
        )
    )
    if report.get("load_type") == "transactional":
        lines.append(
            f"  watermark: {report.get('watermark_before')} -> {report.get('watermark_after')}"
        )
    stages = report.get("stages") or {}
    timings = ", ".join(
        f"{k} {v['seconds']}s" for k, v in stages.items() if v.get("seconds") is not None
    )
    if timings:
        lines.append(f"  stages: {timings}")
    lines.append(f"  flow run: {report.get('flow_run_id')}")
    return "\n".join(lines)


def run_command(
    file: Path = typer.Argument(..., help="Job YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the figures."),
) -> None:
    """Run the job now through the etl-job flow and print its summary. Exit code 0 only when the
    run completed (Completed or Partial)."""
    with user_errors():
        if as_json:
            report = quiet_call(lambda: run_job(file))
        else:
            report = run_job(file, progress=shows_progress(as_json))
    if as_json:
        typer.echo(json.dumps(report, default=str))
    else:
        typer.echo(_human(report))
    status = report.get("status")
    if status == "skipped":
        raise typer.Exit(EXIT_SKIPPED)
    if status not in ("completed", "partial"):
        if not as_json:
            fail("the run did not complete.")
        raise typer.Exit(1)
