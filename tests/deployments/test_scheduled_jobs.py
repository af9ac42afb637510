"""The Cloud Scheduler input of infra/terraform is generated from prefect.yaml, never by hand:
`etl infra scheduled-jobs` writes scheduled_jobs.auto.tfvars.json for the jobs with
`scheduler: cloud-scheduler`, with the deployment ids the Prefect server holds, and what it writes
is what the scheduler module's tests accept."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml

from etl_bigquery.service.infra_inputs import (
    SCHEDULED_JOBS_FILE,
    InfraInputError,
    load_scheduled_jobs,
    scheduled_jobs_from_prefect_yaml,
    scheduler_job_names,
)
from etl_bigquery.service.job_files import parse_job_definition
from etl_bigquery.service.prefect_yaml import PrefectYaml, deployment_entry
from tests.deployments.conftest import cli, write_job
from tests.infra.test_scheduler import API_URL, evaluate, job_resource


def _job(name: str, **settings) -> dict:
    return {
        "name": name,
        "connection": "shop",
        "source": {"table": name},
        "destination": {"block": "bq", "dataset": "raw"},
        "load_type": "catalog",
        **settings,
    }


def _scheduler_view(path) -> dict:
    """What the scheduler module makes of the file: its templates evaluated per entry."""
    resource = job_resource()
    entries = json.loads(path.read_text())["scheduled_jobs"]
    # The URI is `var.auth.mode == "oidc" ? "<create_flow_run URL>" : local.trigger_run_uri`: the
    # oidc branch is the one naming the deployment (api_key mode runs the trigger job instead).
    oidc_branch = re.search(r'\? "(.*)" :', resource["http_target"][0]["uri"])
    assert oidc_branch, resource["http_target"][0]["uri"]
    uri = oidc_branch.group(1)
    return {
        key: {
            **{
                attr: evaluate(resource[attr], key, entry, {"api_url": API_URL})
                for attr in ("name", "schedule", "time_zone", "paused")
            },
            "uri": evaluate(uri, key, entry, {"api_url": API_URL}),
        }
        for key, entry in entries.items()
    }


def test_generated_from_prefect_yaml_only_cloud_scheduler_jobs(tmp_path):
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text("# the project\nname: p\ndeployments: []\n")
    document = PrefectYaml(prefect_yaml)
    daily = _job("orders", schedule={"daily": {"at": "09:00"}}, timezone="Europe/Warsaw",
                 scheduler="cloud-scheduler")  # fmt: skip
    weekly = _job("feed", schedule={"weekly": {"on": "mon", "at": "06:00"}},
                  timezone="America/New_York", scheduler="cloud-scheduler")  # fmt: skip
    own = _job("products", schedule={"hourly": {"minute": 30}})
    document.upsert(deployment_entry(parse_job_definition(daily, "orders")))
    document.upsert(deployment_entry(parse_job_definition(weekly, "feed"), paused=True))
    document.upsert(deployment_entry(parse_job_definition(own, "products")))
    document.save()
    ids = {"orders": uuid.uuid4(), "feed": uuid.uuid4()}

    jobs = scheduled_jobs_from_prefect_yaml(prefect_yaml, ids.__getitem__)
    assert scheduler_job_names(jobs) == {"orders": "etl-job-orders", "feed": "etl-job-feed"}
    out = tmp_path / SCHEDULED_JOBS_FILE
    from etl_bigquery.service.infra_inputs import write_scheduled_jobs_file

    write_scheduled_jobs_file(jobs, out)
    assert load_scheduled_jobs(out) == sorted(jobs, key=lambda j: j.name)
    assert _scheduler_view(out) == {
        "feed": {"name": "etl-job-feed", "schedule": "0 6 * * 1",
                 "time_zone": "America/New_York", "paused": True,
                 "uri": f"{API_URL}/deployments/{ids['feed']}/create_flow_run"},
        "orders": {"name": "etl-job-orders", "schedule": "0 9 * * *",
                   "time_zone": "Europe/Warsaw", "paused": False,
                   "uri": f"{API_URL}/deployments/{ids['orders']}/create_flow_run"},
    }  # fmt: skip
    # The Prefect schedule of a Cloud Scheduler job stays inactive: no run starts twice.
    entries = {d["name"]: d for d in yaml.safe_load(prefect_yaml.read_text())["deployments"]}
    assert entries["orders"]["schedules"][0]["active"] is False
    assert entries["products"]["schedules"][0]["active"] is True


def test_a_job_without_a_deployment_id_is_refused(tmp_path):
    prefect_yaml = tmp_path / "prefect.yaml"
    prefect_yaml.write_text("deployments:\n  - name: x\n    entrypoint: flows/etl_job.py:etl_job\n"
                            "    tags: [etl, 'etl-scheduler:cloud-scheduler']\n"
                            "    parameters: {job: " + json.dumps(_job("x")) + "}\n")  # fmt: skip
    with pytest.raises(InfraInputError, match="no schedule"):
        scheduled_jobs_from_prefect_yaml(prefect_yaml, lambda _name: uuid.uuid4())


def test_etl_infra_scheduled_jobs_uses_the_servers_deployment_ids(project, shop, dataset):
    from etl_bigquery.service.jobs import deployment_id

    suffix = uuid.uuid4().hex[:6]
    cloud, local = f"cloud-{suffix}", f"local-{suffix}"
    cli("job", "apply", str(write_job(project, cloud, shop, dataset,
        'schedule:\n  daily: {at: "09:00"}\ntimezone: Europe/Warsaw\nscheduler: cloud-scheduler\n'
    )), cwd=project)  # fmt: skip
    local_file = write_job(project, local, shop, dataset, "schedule: {hourly: {}}\n")
    local_file.write_text(local_file.read_text().replace(
        f"dataset: {dataset}\n", f"dataset: {dataset}\n  table: bq_local\n"))  # fmt: skip
    cli("job", "apply", str(local_file), cwd=project)
    out = project / SCHEDULED_JOBS_FILE
    printed = cli("infra", "scheduled-jobs", "--output", str(out), cwd=project)
    assert cloud in printed and local not in printed

    view = _scheduler_view(out)
    assert view[cloud] == {
        "name": f"etl-job-{cloud}", "schedule": "0 9 * * *", "time_zone": "Europe/Warsaw",
        "paused": False,
        "uri": f"{API_URL}/deployments/{deployment_id(cloud)}/create_flow_run",
    }  # fmt: skip
    assert local not in view
    # Deployed, the Cloud Scheduler job has no active Prefect schedule.
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"etl-job/{cloud}")
    assert [s.active for s in deployment.schedules] == [False]
    for name in (cloud, local):
        cli("job", "delete", name, cwd=project)
