"""prefect.yaml holds one deployment per job, and each deployment's job is its job file."""

from pathlib import Path

import yaml

from etl.jobs.files import load_job_file
from etl.jobs.model import JobSpec

ROOT = Path(__file__).resolve().parents[2]


def test_each_deployment_carries_exactly_its_job_file():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    for name in ("demo-products", "demo-orders"):
        deployment = deployments[name]
        assert deployment["entrypoint"] == "flows/etl_job.py:etl_job"
        assert deployment["concurrency_limit"] == 1
        from_yaml = JobSpec.model_validate(deployment["parameters"]["job"])
        from_file = load_job_file(ROOT / "examples" / "demo" / f"{name.removeprefix('demo-')}.yaml")
        assert from_yaml == from_file
        assert deployment["name"] == from_yaml.name
