"""Beam pipeline options from the job's `dataflow:` block and the BigQuery destination.

DirectRunner: this machine, `in_memory` with one worker, `multi_processing` with N worker
processes. DataflowRunner: project from the destination, staging and temp locations under the
destination's staging bucket, region, service account, machine type and worker counts from the job,
and the project's engine shipped to the workers as a package (`engine.beam.package`). No secret ever
goes into these options: Dataflow workers read the source password from Secret Manager.
"""

from __future__ import annotations

import re

from apache_beam.options.pipeline_options import PipelineOptions

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import DataflowRunner, DataflowSpec


def dataflow_job_name(job_name: str, run_id: str, attempt: int) -> str:
    """Dataflow job names: lower case letters, digits and '-', starting with a letter."""
    base = re.sub(r"[^a-z0-9-]", "-", f"etl-{job_name}".lower())[:40].strip("-")
    return f"{base}-{run_id.replace('-', '')[:12]}-a{attempt}"


def pipeline_args(
    spec: DataflowSpec,
    *,
    project: str,
    staging_uri: str,
    job_name: str,
    run_id: str,
    attempt: int,
    extra_package: str | None = None,
) -> list[str]:
    """Command-line style options (Beam's own parser reads them, so typos fail loudly)."""
    if spec.runner is DataflowRunner.DIRECT:
        workers = max(1, spec.direct_workers)
        mode = "multi_processing" if workers > 1 else "in_memory"
        return [
            "--runner=DirectRunner",
            f"--direct_running_mode={mode}",
            f"--direct_num_workers={workers}",
        ]
    if not spec.region:
        raise ConfigurationError(
            "dataflow.runner is 'dataflow' but dataflow.region is empty; set the Dataflow region "
            "(e.g. europe-west1)."
        )
    if not staging_uri.startswith("gs://"):
        raise ConfigurationError(
            f"Dataflow workers stage files in Cloud Storage, but the destination's staging_uri is "
            f"{staging_uri!r}; use gs://bucket/prefix."
        )
    base = staging_uri.rstrip("/")
    args = [
        "--runner=DataflowRunner",
        f"--project={project}",
        f"--region={spec.region}",
        f"--staging_location={base}/dataflow/staging",
        f"--temp_location={spec.temp_location or base + '/dataflow/temp'}",
        f"--job_name={dataflow_job_name(job_name, run_id, attempt)}",
        f"--worker_machine_type={spec.machine_type}",
        f"--num_workers={spec.min_workers}",
        f"--max_num_workers={spec.max_workers}",
        "--autoscaling_algorithm=THROUGHPUT_BASED",
        f"--labels=etl-job={re.sub(r'[^a-z0-9_-]', '-', job_name.lower())[:63]}",
    ]
    if spec.service_account:
        args.append(f"--service_account_email={spec.service_account}")
    if spec.subnetwork:
        args.append(f"--subnetwork={spec.subnetwork}")
    if spec.no_public_ips:
        args.append("--no_use_public_ips")
    if extra_package:
        args.append(f"--extra_package={extra_package}")
    return args


def pipeline_options(args: list[str]) -> PipelineOptions:
    return PipelineOptions(args)
