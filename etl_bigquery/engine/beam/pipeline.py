"""The driver side of the Beam extract: split, build, run, and read back what the pipeline staged.

    units > Reshuffle > ReadUnit: figures ....................................... > Manifest
      candidates > GroupByKey > ClaimKnown: kept > ToList > StageKept ........ > Manifest
                                            claimed > sum ...................... > Manifest
      rejected > ToList > StageRejects ......................................... > Manifest

The result is the standard path's `Extracted` (same staging location, same file format, same
rejected-rows file), so the run's load step does not know which path extracted.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from etl_bigquery.engine.already_loaded import with_fingerprints
from etl_bigquery.engine.beam.progress import ProgressWatch, UnitProgress
from etl_bigquery.engine.beam.units import split_read, unit_count
from etl_bigquery.engine.beam.worker import (
    CANDIDATES,
    CLAIMED,
    REJECTED,
    ClaimKnown,
    ReadUnit,
    StageKept,
    StageRejects,
    StagingSpec,
    UnitWork,
    WorkerSource,
    WriteManifest,
    decode_value,
    failure_in,
    unit_error,
)
from etl_bigquery.engine.conform import Conformer, RunStamp
from etl_bigquery.engine.errors import EtlError, ExtractionError
from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.engine.merge.extraction import keyed_extraction
from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget
from etl_bigquery.engine.rejected import StagedRejects
from etl_bigquery.engine.sources.base import SourceReader
from etl_bigquery.engine.staging import StagedFiles

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BeamRun:
    """One extraction through Beam: what to read, where to stage, how to run."""

    job_name: str
    run_id: str
    started_at: dt.datetime
    attempt: int
    source: WorkerSource
    staging: StagingSpec
    options: PipelineOptions
    rows_per_unit: int
    max_units: int
    min_units: int = 1

    @property
    def run_path(self) -> str:
        # Per attempt, like the standard path: a retried extraction never mixes its files with
        # a failed attempt's, and names are the same whichever worker writes them.
        return f"{self.job_name}/{self.run_id}/attempt-{self.attempt}"


@dataclass
class BeamOutcome:
    extracted: Extracted
    units: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    dataflow_job_id: str | None = None
    runner: str = ""
    seconds: float = 0.0


def build(
    pipeline: beam.Pipeline,
    units: list[Any],
    run: BeamRun,
    work: UnitWork,
    target: LoadTarget,
) -> None:
    read = (
        pipeline
        | "Units" >> beam.Create(list(enumerate(units)))
        # Spread the units over the workers (Create may hand them all to one).
        | "Spread" >> beam.Reshuffle()
        | "ReadUnit"
        >> beam.ParDo(ReadUnit(run.source, run.staging, work)).with_outputs(
            CANDIDATES, REJECTED, main="figures"
        )
    )
    parts = [read.figures]
    if work.increment is not None:
        claimed = (
            read[CANDIDATES]
            | "ByFingerprint" >> beam.GroupByKey()
            | "ClaimKnown"
            >> beam.ParDo(ClaimKnown(work.increment)).with_outputs(CLAIMED, main="kept")
        )
        kept = (
            claimed.kept
            | "KeptList" >> beam.combiners.ToList()
            | "StageKept" >> beam.ParDo(StageKept(run.staging, work))
        )
        total = claimed[CLAIMED] | "Claimed" >> beam.CombineGlobally(sum)
        parts += [kept, total]
    rejects = (
        read[REJECTED]
        | "RejectedList" >> beam.combiners.ToList()
        | "StageRejects" >> beam.ParDo(StageRejects(run.staging, work, target.known_rejected))
    )
    parts.append(rejects)
    (
        parts
        | "AllFigures" >> beam.Flatten()
        | "FigureList" >> beam.combiners.ToList()
        | "Manifest" >> beam.ParDo(WriteManifest(run.staging, f"{run.run_path}/{MANIFEST}"))
    )


def _no_progress(done: int, total: int, rows: int) -> None:
    return None


def _counters(result: Any) -> dict[str, int]:
    try:
        found = result.metrics().query(MetricsFilter())
    except Exception:  # figures come from the manifest; counters are a cross-check only
        return {}
    counters: dict[str, int] = {}
    for counter in found.get("counters", []):
        name = counter.key.metric.name
        value = counter.committed if counter.committed is not None else counter.attempted
        counters[name] = counters.get(name, 0) + int(value or 0)
    return counters


def _runner_error(error: BaseException) -> EtlError:
    payload = failure_in(str(error))
    if payload is not None:
        return unit_error(payload)
    return ExtractionError(
        f"The Beam pipeline failed ({type(error).__name__}); nothing was loaded. See the "
        "runner's log for the failing step, then run the job again."
    )


def run_extract(
    run: BeamRun,
    target: LoadTarget,
    reader: SourceReader,
    job: JobSpec,
    storage: Any = None,
    progress: UnitProgress | None = None,
) -> BeamOutcome:
    """Split with the driver's reader, run the pipeline, and read back its figures (with the
    driver's own storage client when given: the destination's credentials). `progress` hears
    units done of the total while the pipeline runs (`engine.beam.progress`)."""
    started = time.monotonic()
    count = unit_count(
        target.estimated_rows, run.rows_per_unit, min_units=run.min_units, max_units=run.max_units
    )
    keys = [p.source.name for p in target.plans if p.source.primary_key]
    units = split_read(reader, target.read_plan, count, keys, run.max_units)
    keyed = keyed_extraction(target)  # merge/history: the keyed filter and the table clock
    stamp = RunStamp(run.run_id, keyed.stamp if keyed is not None else run.started_at)
    conformer = Conformer(target.columns, stamp)
    increment = target.strategy.increment_filter(target.planned)
    schema = conformer.schema
    if keyed is not None:
        schema = keyed.schema(schema)
    elif increment is not None:
        schema = with_fingerprints(schema)
    work = UnitWork(
        run.run_path,
        run.run_id,
        tuple(target.columns),
        stamp,
        schema,
        increment,
        keyed.claim.spec if keyed is not None else None,
    )
    pipeline = beam.Pipeline(options=run.options)
    build(pipeline, units, run, work, target)
    watch = ProgressWatch(
        run.staging, run.run_path, len(units), progress or _no_progress, storage=storage
    )
    try:
        with watch:
            result = pipeline.run()
            result.wait_until_finish()
    except EtlError:
        raise
    except Exception as error:  # the runner wraps the unit's failure in its own exception
        raise _runner_error(error) from None
    state = str(getattr(result, "state", "DONE"))
    if "DONE" not in state.upper():
        raise ExtractionError(f"The Beam pipeline ended {state}; nothing was loaded.")
    job_id = None
    if hasattr(result, "job_id"):
        try:
            job_id = result.job_id()
        except Exception:
            job_id = None
    parts = json.loads(run.staging.read_text(f"{run.run_path}/{MANIFEST}", storage))
    outcome = _outcome(parts, target)
    watch.finish(len(outcome.units), outcome.extracted.rows_read)
    outcome.counters = _counters(result)
    outcome.runner = str(run.options.view_as(StandardOptions).runner)
    outcome.dataflow_job_id = job_id if outcome.runner == "DataflowRunner" else None
    outcome.seconds = round(time.monotonic() - started, 3)
    strategy = target.strategy
    extracted = outcome.extracted
    # The job's max_rejected holds on this path too (judged once the pipeline is done: the
    # units count their rejects separately, and nothing is loaded before this check).
    strategy.check_rejected(
        job,
        target.ref,
        extracted.rows_read,
        extracted.rows_rejected + extracted.rejected.already_kept - extracted.rows_future,
    )
    strategy.check_extracted(job, target.ref, extracted.rows_extracted, extracted.rows_rejected)
    return outcome


def _outcome(parts: list[dict[str, Any]], target: LoadTarget) -> BeamOutcome:
    units = sorted((p for p in parts if p["kind"] == "unit"), key=lambda p: p["unit"])
    kept = [p for p in parts if p["kind"] == "kept"]
    staged = StagedFiles()
    watermark = target.watermark_before
    extracted = Extracted(staged=staged, watermark_after=watermark)
    for part in [*units, *kept]:
        staged.uris.extend(part["uris"])
        staged.bytes += part["bytes"]
        rows = part["rows_staged"] if part["kind"] == "unit" else part["rows"]
        staged.rows += rows
        extracted.rows_extracted += rows
        # A cursor's values are of one comparable type (numbers, dates, timestamps or text).
        value: Any = decode_value(part.get("watermark"))
        newer = extracted.watermark_after is None or (
            value is not None and value > extracted.watermark_after
        )
        if target.planned.cursor is not None and value is not None and newer:
            extracted.watermark_after = value
    extracted.rows_read = sum(p["rows_read"] for p in units)
    extracted.numeric_nan_nulled = sum(p["numeric_nan_nulled"] for p in units)
    extracted.rows_future = sum(p.get("future", 0) for p in units)
    extracted.already_loaded = sum(p["rows"] for p in parts if p["kind"] == "claimed") + sum(
        p.get("already_loaded", 0) for p in units
    )
    for part in parts:
        if part["kind"] == "rejected":
            extracted.rejected = StagedRejects(
                uri=part["uri"],
                rows=part["rows"],
                already_kept=part["already_kept"],
                digest=part["digest"],
            )
    shown = [
        {k: v for k, v in unit.items() if k not in ("kind", "uris", "watermark")}
        | {"files": len(unit["uris"])}
        for unit in units
    ]
    return BeamOutcome(extracted=extracted, units=shown)
