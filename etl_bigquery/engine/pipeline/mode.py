"""Which engine runs a job's extraction: standard mode (in the flow's process) or the Beam
pipeline of the Dataflow subflow.

The `auto` rule: Beam only where it can be faster. On the DirectRunner every Beam worker is a
process of the same machine that standard mode already keeps busy, and Beam's own per-element
overhead made a 2,000,000-row table about twice as slow as standard mode there; standard mode
also reads in parallel (`parallelism`). So `auto` stays standard on the DirectRunner whatever the
size, and sends a read to Beam only when the job's runner is Dataflow (machines of its own), its
estimated rows reach `row_threshold` and the source can be split into units. `processing_mode:
dataflow` still runs Beam on either runner (the DirectRunner is how that path is tested here).
"""

from __future__ import annotations

import importlib.util

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import DataflowRunner, JobSpec, ProcessingMode

BEAM_MISSING = (
    "This job's extraction runs as an Apache Beam pipeline ({why}), and Apache Beam is not "
    "installed here; install the dataflow extra (pip install 'etl-bigquery[dataflow]') or set "
    "processing_mode: standard."
)


def beam_installed() -> bool:
    return importlib.util.find_spec("apache_beam") is not None


LOCAL_FILES_ON_DATAFLOW = (
    "This job's files are in a local folder, which Dataflow workers cannot see (they run on "
    "Google's machines, not this one); put the files in Cloud Storage, or use dataflow.runner "
    "direct or processing_mode standard."
)


def choose_processing_mode(
    job: JobSpec,
    estimated: int | None,
    source_key: str,
    splittable: bool,
    local_files: bool = False,
) -> tuple[ProcessingMode, str]:
    """The mode this run uses and why (shown in the validate artifact and the run report).
    `local_files`: the source is a folder of this machine, which only the DirectRunner reads."""
    if local_files and job.dataflow.runner is DataflowRunner.DATAFLOW:
        if job.processing_mode is ProcessingMode.DATAFLOW:
            raise ConfigurationError(LOCAL_FILES_ON_DATAFLOW)
        if job.processing_mode is ProcessingMode.AUTO:
            return ProcessingMode.STANDARD, (
                "standard (auto: local files, which Dataflow workers cannot see)"
            )
    mode, reason = _choose(job, estimated, source_key, splittable)
    if mode is ProcessingMode.DATAFLOW and not beam_installed():
        raise ConfigurationError(BEAM_MISSING.format(why=reason))
    return mode, reason


def _choose(
    job: JobSpec, estimated: int | None, source_key: str, splittable: bool
) -> tuple[ProcessingMode, str]:
    about = "unknown" if estimated is None else f"{estimated:,}"
    if job.processing_mode is ProcessingMode.STANDARD:
        return ProcessingMode.STANDARD, "standard (set by the job)"
    if job.processing_mode is ProcessingMode.DATAFLOW:
        if not splittable:
            raise ConfigurationError(
                f"processing_mode 'dataflow' needs a source that can be split into units, and "
                f"{source_key} sources cannot be split yet; use processing_mode auto or standard."
            )
        return ProcessingMode.DATAFLOW, f"dataflow (set by the job; about {about} rows)"
    if job.dataflow.runner is DataflowRunner.DIRECT:
        return ProcessingMode.STANDARD, (
            f"standard (auto: about {about} rows; Beam is chosen only with dataflow.runner "
            "'dataflow', as the DirectRunner on this machine is slower than standard mode)"
        )
    threshold = f"{job.row_threshold:,}"
    if estimated is None or estimated < job.row_threshold:
        return ProcessingMode.STANDARD, f"standard (auto: about {about} rows < {threshold})"
    if not splittable:
        return ProcessingMode.STANDARD, (
            f"standard (auto: about {about} rows >= {threshold}, but {source_key} sources "
            "cannot be split into units)"
        )
    return ProcessingMode.DATAFLOW, f"dataflow (auto: about {about} rows >= {threshold})"
