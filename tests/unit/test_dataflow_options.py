"""The Dataflow subflow without services: processing-mode choice, Beam pipeline options for the
DirectRunner and the DataflowRunner (built and parsed by Beam, never run here: no Google Cloud
access), unit counts, and the package Dataflow workers install (built for real, inspected)."""

from __future__ import annotations

import subprocess
import sys
import tarfile

import pytest
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    SetupOptions,
    StandardOptions,
    WorkerOptions,
)

from etl_bigquery.engine.beam.options import dataflow_job_name, pipeline_args
from etl_bigquery.engine.beam.package import (
    WORKER_PACKAGE,
    build_worker_package,
    pinned_requirements,
)
from etl_bigquery.engine.beam.units import unit_count
from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import DataflowSpec, JobSpec, ProcessingMode
from etl_bigquery.engine.pipeline.validate import choose_processing_mode

RUN_ID = "0b6f1c2e-8d4a-4e6b-9f00-123456789abc"


def _job(**fields: object) -> JobSpec:
    return JobSpec.model_validate(
        {"name": "orders", "connection": "shop", "source": {"table": "orders"}, **fields}
    )


ON_DATAFLOW = {"dataflow": {"runner": "dataflow", "region": "europe-west1"}}


@pytest.mark.parametrize(
    ("fields", "estimated", "mode", "words"),
    [
        (
            ON_DATAFLOW,
            1_000_000,
            ProcessingMode.DATAFLOW,
            "auto: about 1,000,000 rows >= 1,000,000",
        ),
        (ON_DATAFLOW, 999_999, ProcessingMode.STANDARD, "auto: about 999,999 rows < 1,000,000"),
        (ON_DATAFLOW, None, ProcessingMode.STANDARD, "about unknown rows"),
        ({**ON_DATAFLOW, "row_threshold": 10}, 10, ProcessingMode.DATAFLOW, ">= 10"),
        ({"processing_mode": "standard"}, 10**9, ProcessingMode.STANDARD, "set by the job"),
        ({"processing_mode": "dataflow"}, 5, ProcessingMode.DATAFLOW, "set by the job"),
    ],
)
def test_the_mode_follows_the_estimate_and_the_threshold(fields, estimated, mode, words):
    chosen, reason = choose_processing_mode(_job(**fields), estimated, "postgresql", True)
    assert chosen is mode
    assert words in reason


@pytest.mark.parametrize("estimated", [None, 10, 1_000_000, 10**10])
def test_auto_never_chooses_the_direct_runner_over_standard_mode(estimated):
    # The default runner is the DirectRunner: on one machine it is slower than standard mode.
    chosen, reason = choose_processing_mode(_job(row_threshold=1), estimated, "postgresql", True)
    assert chosen is ProcessingMode.STANDARD
    assert reason.startswith("standard (auto: about ")
    assert "only with dataflow.runner 'dataflow'" in reason


def test_auto_stays_standard_on_a_source_that_cannot_be_split():
    chosen, reason = choose_processing_mode(_job(**ON_DATAFLOW), 5_000_000, "mysql", False)
    assert chosen is ProcessingMode.STANDARD
    assert "mysql sources cannot be split" in reason


def test_dataflow_on_a_source_that_cannot_be_split_is_one_sentence():
    with pytest.raises(ConfigurationError) as error:
        choose_processing_mode(_job(processing_mode="dataflow"), 5, "sqlite", False)
    assert str(error.value) == (
        "processing_mode 'dataflow' needs a source that can be split into units, and sqlite "
        "sources cannot be split yet; use processing_mode auto or standard."
    )


def test_direct_runner_options_one_worker_in_process_or_n_processes():
    one = PipelineOptions(pipeline_args(DataflowSpec(direct_workers=1), **_where()))
    assert one.view_as(StandardOptions).runner == "DirectRunner"
    assert one.get_all_options()["direct_running_mode"] == "in_memory"
    two = PipelineOptions(pipeline_args(DataflowSpec(direct_workers=2), **_where()))
    assert two.get_all_options()["direct_running_mode"] == "multi_processing"
    assert two.get_all_options()["direct_num_workers"] == 2


def _where(staging: str = "gs://etl-staging/loads") -> dict[str, object]:
    return {
        "project": "acme-data",
        "staging_uri": staging,
        "job_name": "orders",
        "run_id": RUN_ID,
        "attempt": 2,
    }


def test_dataflow_runner_options_come_from_the_job_and_the_destination():
    spec = DataflowSpec(
        runner="dataflow", region="europe-west1", machine_type="n2-standard-4", min_workers=2,
        max_workers=20, service_account="etl-worker@acme-data.iam.gserviceaccount.com",
        subnetwork="regions/europe-west1/subnetworks/etl", no_public_ips=True,
    )  # fmt: skip
    options = PipelineOptions(pipeline_args(spec, **_where(), extra_package="/tmp/w.tar.gz"))
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    cloud = options.view_as(GoogleCloudOptions)
    assert cloud.project == "acme-data"
    assert cloud.region == "europe-west1"
    assert cloud.staging_location == "gs://etl-staging/loads/dataflow/staging"
    assert cloud.temp_location == "gs://etl-staging/loads/dataflow/temp"
    assert cloud.service_account_email == "etl-worker@acme-data.iam.gserviceaccount.com"
    assert cloud.job_name == dataflow_job_name("orders", RUN_ID, 2) == "etl-orders-0b6f1c2e8d4a-a2"
    workers = options.view_as(WorkerOptions)
    assert workers.machine_type == "n2-standard-4"
    assert (workers.num_workers, workers.max_num_workers) == (2, 20)
    assert workers.autoscaling_algorithm == "THROUGHPUT_BASED"
    assert workers.use_public_ips is False
    assert options.view_as(SetupOptions).extra_packages == ["/tmp/w.tar.gz"]
    # Settings only: nothing that looks like a secret travels in the options.
    assert not any("password" in arg.lower() for arg in pipeline_args(spec, **_where()))


def test_dataflow_runner_needs_a_region_and_a_cloud_storage_staging_location():
    with pytest.raises(ConfigurationError, match=r"dataflow\.region is empty"):
        pipeline_args(DataflowSpec(runner="dataflow"), **_where())
    with pytest.raises(ConfigurationError, match="use gs://bucket/prefix"):
        pipeline_args(DataflowSpec(runner="dataflow", region="us-central1"), **_where("file:///x"))


def test_max_workers_below_min_workers_is_refused():
    with pytest.raises(ValueError, match="max_workers must be at least"):
        DataflowSpec(min_workers=5, max_workers=2)


def test_units_follow_rows_per_unit_within_bounds():
    assert unit_count(1_500_000, 250_000, max_units=2000) == 6
    assert unit_count(100_000_000, 250_000, max_units=2000) == 400
    assert unit_count(10**12, 250_000, max_units=2000) == 2000
    assert unit_count(None, 250_000, min_units=2, max_units=2000) == 2
    assert unit_count(10, 250_000, min_units=4, max_units=2000) == 4


def test_the_worker_package_holds_every_module_workers_import_and_no_prefect(tmp_path):
    # What a worker imports, found by importing it in a fresh interpreter (as a worker does).
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys\n"
         "import etl_bigquery.engine.beam.worker, etl_bigquery.engine.sources.postgres\n"
         "import etl_bigquery.engine.beam.units\n"
         # what the DoFns import lazily, inside the worker
         "import etl_bigquery.engine.staging, etl_bigquery.engine.rejected\n"
         "import etl_bigquery.engine.strategies\n"
         "print(' '.join(sorted(m for m in sys.modules if m.startswith('etl_bigquery'))))\n"
         "print(any(m == 'prefect' or m.startswith('prefect.') for m in sys.modules))\n"
         "print(any(m == 'pandas' for m in sys.modules))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    modules, prefect_loaded, _pandas = probe.stdout.split("\n")[:3]
    assert prefect_loaded == "False", "a worker must not import Prefect"
    imported = modules.split()
    assert {
        "etl_bigquery.engine.beam.worker",
        "etl_bigquery.engine.sources.postgres",
        "etl_bigquery.engine.conform.batch",
    } <= set(imported)

    sdist = build_worker_package(tmp_path)
    assert sdist.name.startswith(WORKER_PACKAGE.replace("-", "_")) or WORKER_PACKAGE in sdist.name
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        setup = next(n for n in names if n.endswith("/setup.py"))
        setup_text = archive.extractfile(setup).read().decode()  # type: ignore[union-attr]
    files = {name.split("/", 1)[1] for name in names if "/" in name}
    for module in imported:
        path = module.replace(".", "/")
        assert f"{path}.py" in files or f"{path}/__init__.py" in files, f"{module} not shipped"
    assert not any(
        f.startswith(f"etl_bigquery/{layer}/")
        for f in files
        for layer in ("flows", "blocks", "cli", "service", "ui_extension", "devservices")
    )
    assert "prefect" not in setup_text
    for requirement in pinned_requirements():
        assert requirement in setup_text
    assert any(r.startswith("adbc-driver-postgresql==") for r in pinned_requirements())


def test_a_beam_job_without_apache_beam_installed_is_one_sentence(monkeypatch):
    # The `dataflow` extra is optional: None in sys.modules is how Python says "not installed".
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(ConfigurationError) as error:
        choose_processing_mode(_job(processing_mode="dataflow"), 5, "postgresql", True)
    assert str(error.value) == (
        "This job's extraction runs as an Apache Beam pipeline (dataflow (set by the job; about 5 "
        "rows)), and Apache Beam is not installed here; install the dataflow extra (pip install "
        "'etl-bigquery[dataflow]') or set processing_mode: standard."
    )
    # Standard mode, and `auto` on the DirectRunner, never need it.
    assert choose_processing_mode(_job(), 10**9, "postgresql", True)[0] is ProcessingMode.STANDARD


def test_flow_imports_leave_out_vertex_ai_and_beam():
    # prefect-gcp imports Google's Vertex AI client when it is installed (seconds and ~100 MB per
    # run, never used); Beam is imported only by a run that takes the Beam path.
    code = (
        "import sys, etl_bigquery.flows.etl_job, etl_bigquery.service.connection_documents\n"
        "print([m for m in sys.modules if m.startswith(('apache_beam', 'google.cloud.aiplat'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    # GcpCredentials is still prefect-gcp's own class, and Vertex AI stays importable afterwards.
    code = (
        "from etl_bigquery.blocks.gcp_credentials import GcpCredentials\n"
        "import prefect_gcp, importlib.util\n"
        "assert GcpCredentials is prefect_gcp.GcpCredentials\n"
        "print(importlib.util.find_spec('google.cloud.aiplatform') is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
