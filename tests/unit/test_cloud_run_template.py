"""The Cloud Run v2 base job template kept in the repository is one prefect-gcp's own Cloud Run
v2 worker accepts, with the ETL defaults (4 CPU, 8 GiB, 3600 s) and the image and service
account of the Terraform outputs. (No Cloud Run is reachable here: nothing is run.)"""

import asyncio
import json
from pathlib import Path

import pytest
from prefect_gcp.workers.cloud_run_v2 import (
    CloudRunWorkerJobV2Configuration,
    CloudRunWorkerV2,
    CloudRunWorkerV2Variables,
)

from etl_bigquery.service.pools import cloud_run_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / "etl_bigquery/resources/cloud_run/cloud-run.example.json").read_text())


@pytest.fixture(autouse=True)
def _no_google_credentials_lookup(monkeypatch):
    """prefect-gcp looks for Google credentials while building its models; none exist here, so
    discovery returns anonymous ones (nothing is sent anywhere)."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))


def test_template_is_prefect_gcps_own_with_the_etl_defaults():
    template = cloud_run_template(CONFIG)
    default = CloudRunWorkerV2.get_default_base_job_template()
    assert template["job_configuration"] == default["job_configuration"]
    defaults = {k: v.get("default") for k, v in template["variables"]["properties"].items()}
    variables = CloudRunWorkerV2Variables.model_validate(
        {k: v for k, v in defaults.items() if v is not None}
    )
    assert (variables.cpu, variables.memory, variables.timeout) == ("4", "8Gi", 3600)
    assert variables.image == f"{CONFIG['image_repository']}/etl-flows:latest"
    assert variables.service_account_name == CONFIG["runner_service_account_email"]


def test_job_variables_of_a_job_size_its_cloud_run_job():
    template = cloud_run_template(CONFIG)
    configuration = asyncio.run(
        CloudRunWorkerJobV2Configuration.from_template_and_values(
            template, {"cpu": "2", "memory": "4Gi", "timeout": 1800}
        )
    )
    container = configuration.job_body["template"]["template"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert container["image"] == f"{CONFIG['image_repository']}/etl-flows:latest"
    assert (
        configuration.job_body["template"]["template"]["serviceAccount"]
        == (CONFIG["runner_service_account_email"])
    )
    assert configuration.timeout == 1800


def test_terraform_output_json_works_as_the_configuration():
    wrapped = {k: {"value": v, "type": "string", "sensitive": False} for k, v in CONFIG.items()}
    assert cloud_run_template(wrapped) == cloud_run_template(CONFIG)


def _documented_job_variables() -> list[dict]:
    """Every `job_variables: {...}` example the README and prefect.yaml show users."""
    import re

    import yaml

    found = []
    for path in (ROOT / "README.md", ROOT / "prefect.yaml", ROOT / "docs" / "deployments.md"):
        for match in re.finditer(r"job_variables: (\{[^}\n]*\})", path.read_text()):
            found.append(yaml.safe_load(match.group(1)))
    return found


def test_the_job_variables_users_are_shown_fit_the_cloud_run_template():
    """A deployment's job_variables are validated by Prefect against the pool's variables
    schema: an example in the wrong format (memory: 4096) fails `etl job apply` on Cloud Run."""
    import jsonschema

    schema = cloud_run_template(CONFIG)["variables"]
    examples = [e for e in _documented_job_variables() if e]
    assert examples, "the README shows how to size a Cloud Run job"
    for example in examples:
        jsonschema.validate(example, schema)
