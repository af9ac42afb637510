"""The artifacts a run publishes: one table per stage, a progress bar while extracting, and a
markdown summary at the end. Keys are per job, so the Artifacts page shows each job's history."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import cast

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from etl_bigquery.engine.pipeline.report import RunReport
from etl_bigquery.engine.verify import VerifyResult

VERIFY_ROWS = 1000


def artifact_key(job_name: str, stage: str) -> str:
    # Keys allow lower-case letters, digits and dashes only.
    return re.sub(r"[^a-z0-9-]", "-", f"etl-{job_name}-{stage}".lower())


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


def publish_stage(
    job_name: str, stage: str, figures: Mapping[str, object], description: str
) -> None:
    rows = [{"figure": key, "value": _cell(value)} for key, value in figures.items()]
    create_table_artifact(key=artifact_key(job_name, stage), table=rows, description=description)


def publish_rows(
    job_name: str, stage: str, rows: list[dict[str, object]], description: str
) -> None:
    create_table_artifact(
        key=artifact_key(job_name, stage),
        table=[{k: _cell(v) for k, v in row.items()} for row in rows],
        description=description,
    )


class ExtractionProgress:
    """A progress artifact, created on the first report (short extractions never get one)."""

    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self.artifact_id: uuid.UUID | None = None

    def __call__(self, rows: int, estimated: int | None) -> None:
        percent = min(99.0, 100.0 * rows / estimated) if estimated else 0.0
        if self.artifact_id is None:
            # Typed "id or coroutine" (it serves async callers too); called synchronously here.
            self.artifact_id = cast(
                uuid.UUID,
                create_progress_artifact(
                    progress=percent,
                    key=artifact_key(self.job_name, "progress"),
                    description=f"Extracting: {rows:,} rows read"
                    + (f" of about {estimated:,}" if estimated else ""),
                ),
            )
        else:
            update_progress_artifact(
                artifact_id=self.artifact_id,
                progress=percent,
                description=f"Extracting: {rows:,} rows read"
                + (f" of about {estimated:,}" if estimated else ""),
            )

    def units(self, done: int, total: int, rows: int) -> None:
        """A Beam extraction: units done of the total (`engine.beam.progress`), rows read."""
        percent = 100.0 * done / total if total else 0.0
        description = f"Beam units: {done:,} of {total:,} done, {rows:,} rows read"
        if self.artifact_id is None:
            self.artifact_id = cast(
                uuid.UUID,
                create_progress_artifact(
                    progress=percent,
                    key=artifact_key(self.job_name, "progress"),
                    description=description,
                ),
            )
        else:
            update_progress_artifact(
                artifact_id=self.artifact_id, progress=percent, description=description
            )

    def done(self) -> None:
        if self.artifact_id is not None:
            update_progress_artifact(artifact_id=self.artifact_id, progress=100.0)


def summary_markdown(report: RunReport) -> str:
    status = report.state_name
    lines = [
        f"# ETL run of `{report.job}`: {status}",
        "",
        f"- **Source**: {report.source}",
        f"- **Destination**: `{report.destination}` ({report.load_type})",
        f"- **Rows**: {report.rows_extracted:,} extracted, {report.rows_loaded:,} loaded"
        + (f", {report.rows_rejected:,} rejected" if report.rows_rejected else "")
        + (
            f", {report.rows_future:,} with a cursor in the future (not loaded yet)"
            if report.rows_future
            else ""
        ),
        f"- **Bytes staged**: {report.bytes_processed:,} in {report.files_staged} file(s)",
        f"- **Processing mode**: {report.processing_mode}",
    ]
    if report.load_type in ("transactional", "merge", "history"):
        lines.append(
            f"- **Watermark**: {report.watermark_before} → {report.watermark_after}"
            + (
                f" ({report.rows_already_loaded:,} row(s) re-read in the lookback already loaded)"
                if report.rows_already_loaded
                else ""
            )
        )
    if report.load_job_id:
        lines.append(f"- **Load job**: `{report.load_job_id}`")
    if report.merge:
        merge = report.merge
        lines.append(
            f"- **Merge**: {merge.get('rows inserted', 0):,} inserted, "
            f"{merge.get('rows updated', 0):,} updated, partitions touched: "
            f"{merge.get('partitions touched', 0)}; bytes processed: "
            f"{merge.get('bytes processed', 'none (nothing merged)')}"
        )
        deletes = merge.get("deletes")
        if isinstance(deletes, dict):
            deletes = ", ".join(f"{key} {value}" for key, value in deletes.items())
        if deletes:
            lines.append(f"- **Deletes**: {deletes}")
    if report.rejected_table:
        lines.append(f"- **Rejected rows kept in**: `{report.rejected_table}`")
    if report.verification:
        checked = report.verification
        mark = "equal ✓" if checked.get("equal") else "DIFFERENT ✗"
        lines.append(
            f"- **Verified** ({checked.get('mode')}, {checked.get('checked_at')}): {mark}; "
            f"{checked.get('missing', 0):,} missing, {checked.get('extra', 0):,} extra, "
            f"{checked.get('duplicate', 0):,} duplicated, {checked.get('differing', 0):,} "
            "differing"
        )
    lines += [f"- **Warning**: {warning}" for warning in report.warnings]
    if report.error:
        lines += ["", f"**Failed in {report.error_type}**: {report.error}"]
    lines += ["", "| stage | start | end | seconds |", "|---|---|---|---|"]
    for name, timing in report.stages.items():
        start = timing.start.isoformat(timespec="seconds") if timing.start else ""
        end = timing.end.isoformat(timespec="seconds") if timing.end else ""
        lines.append(f"| {name} | {start} | {end} | {timing.seconds or ''} |")
    return "\n".join(lines)


def publish_summary(report: RunReport) -> None:
    create_markdown_artifact(
        key=artifact_key(report.job, "summary"),
        # The report itself rides along as JSON: results are not persisted, so a caller on
        # another machine (`etl job run --wait`, the console) reads the run's figures here.
        markdown=summary_markdown(report)
        + "\n\n<details><summary>report (JSON)</summary>\n\n```json\n"
        + json.dumps(report.to_dict(), default=str)
        + "\n```\n</details>\n",
        description=f"Run summary: {report.state_name}",
    )


def publish_verify(job_name: str, result: VerifyResult) -> None:
    """The verify step's outcome: its figures, then the differing rows by key (the first
    `VERIFY_ROWS`; `etl verify --json` lists them all)."""
    rows: list[dict[str, object]] = [
        {"kind": "figure", "key": key, "detail": _cell(value)}
        for key, value in result.summary().items()
    ]
    rows += [
        {"kind": d.kind, "key": json.dumps(d.key, default=str), "detail": d.describe()}
        for d in result.differences[:VERIFY_ROWS]
    ]
    shown = "" if len(result.differences) <= VERIFY_ROWS else f", first {VERIFY_ROWS:,} shown"
    create_table_artifact(
        key=artifact_key(job_name, "verify"),
        table=rows,
        description=f"Verify ({result.mode}) of {result.table}: "
        + ("equal" if result.equal else f"{len(result.differences):,} difference(s){shown}")
        + f"; {result.scope}",
    )
