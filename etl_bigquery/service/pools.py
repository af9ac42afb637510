"""Work pools: `etl-local` (process, for local runs) and the Cloud Run v2 pool for the cloud.

The Cloud Run pool's base job template ships with the package
(etl_bigquery/resources/cloud_run/cloud-run-v2-base-job-template.json: prefect-gcp's own template
with the ETL defaults of 4 CPU, 8 GiB and 3600 s). The image and the service account come from a
small JSON configuration whose keys are the Terraform outputs of infra/terraform (`terraform output
-json` works as is): `image_repository` (+ `image_tag`, default latest),
`runner_service_account_email`, `work_pool_name`, and `region`. A job sizes its own runs with job
variables (cpu, memory, timeout) in its job file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.resources import resource_path
from etl_bigquery.service.jobs import PROCESS_POOL, ensure_process_pool

TEMPLATE = resource_path("cloud_run", "cloud-run-v2-base-job-template.json")
CLOUD_RUN_TYPE = "cloud-run-v2"
DEFAULT_CLOUD_RUN_POOL = "etl-cloud-run"


def _value(config: dict[str, Any], key: str) -> Any:
    value = config.get(key)
    # `terraform output -json` wraps each output as {"value": ..., "type": ..., "sensitive": ...}.
    return value.get("value") if isinstance(value, dict) and "value" in value else value


def cloud_run_template(config: dict[str, Any]) -> dict[str, Any]:
    """The base job template with the image, service account and region of `config`."""
    template = copy.deepcopy(json.loads(TEMPLATE.read_text(encoding="utf-8")))
    properties = template["variables"]["properties"]
    repository = _value(config, "image_repository")
    account = _value(config, "runner_service_account_email")
    if not repository or not account:
        raise ConfigurationError(
            "The Cloud Run configuration needs image_repository and "
            "runner_service_account_email (the Terraform outputs of infra/terraform)."
        )
    properties["image"]["default"] = (
        f"{repository}/etl-flows:{_value(config, 'image_tag') or 'latest'}"
    )
    properties["service_account_name"]["default"] = account
    if _value(config, "region"):
        properties["region"]["default"] = _value(config, "region")
    return template


def ensure_cloud_run_pool(config_file: Path) -> tuple[str, bool]:
    """Create or update the Cloud Run v2 pool; returns (name, changed)."""
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate

    try:
        config = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigurationError(
            f"{config_file} is not readable JSON ({type(error).__name__})."
        ) from None
    name = _value(config, "work_pool_name") or DEFAULT_CLOUD_RUN_POOL
    template = cloud_run_template(config)
    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(name=name, type=CLOUD_RUN_TYPE, base_job_template=template)
            )
            return name, True
        if pool.type != CLOUD_RUN_TYPE:
            raise ConfigurationError(
                f"Work pool '{name}' exists with type {pool.type}, not {CLOUD_RUN_TYPE}."
            )
        if pool.base_job_template == template:
            return name, False
        client.update_work_pool(name, WorkPoolUpdate(base_job_template=template))
        return name, True


__all__ = ["PROCESS_POOL", "cloud_run_template", "ensure_cloud_run_pool", "ensure_process_pool"]
