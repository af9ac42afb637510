"""prefect.yaml holds one deployment per job, each carrying exactly its job file, and
`etl job apply` edits it as a round trip (comments, order and other deployments kept)."""

import shutil
from pathlib import Path

import pytest
import yaml

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.service.job_files import load_job_definition, load_job_file, parse_job_definition
from etl_bigquery.service.prefect_yaml import ENTRYPOINT, PrefectYaml, deployment_entry

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo"


def test_each_deployment_carries_exactly_its_job_file():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in config["deployments"]}
    for name in ("demo-products", "demo-orders"):
        deployment = deployments[name]
        assert deployment["entrypoint"] == ENTRYPOINT
        from_yaml = JobSpec.model_validate(deployment["parameters"]["job"])
        job_file = DEMO / f"{name.removeprefix('demo-')}.yaml"
        assert from_yaml == load_job_file(job_file)
        assert deployment["name"] == from_yaml.name
        # What the job file says about its deployment is what prefect.yaml holds.
        assert (
            PrefectYaml(ROOT / "prefect.yaml").upsert(
                deployment_entry(load_job_definition(job_file), paused=deployment["paused"])
            )
            == "unchanged"
        )


def test_prefect_yaml_is_valid_for_prefects_own_deploy_command():
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(yaml.safe_load((ROOT / "prefect.yaml").read_text()))
    assert {d.name for d in model.deployments} >= {"demo-products", "demo-orders"}


def _definition(**fields):
    job = {
        "name": "orders",
        "connection": "shop",
        "source": {"table": "orders"},
        "load_type": "transactional",
        "cursor_column": "updated_at",
    }
    return parse_job_definition({**job, **fields}, "orders.yaml")


def test_apply_edits_in_place_keeping_comments_order_and_other_deployments(tmp_path):
    path = tmp_path / "prefect.yaml"
    shutil.copy(ROOT / "prefect.yaml", path)
    before = path.read_text()
    file = PrefectYaml(path)
    assert file.upsert(deployment_entry(_definition(schedule={"daily": {"at": "09:00"}}))) == (
        "created"
    )
    file.save()
    text = path.read_text()
    assert text.startswith(before.split("deployments:")[0])  # header comments untouched
    assert "# On Cloud Run, a deployment names the Cloud Run pool" in text
    jobs = {j.name: j for j in PrefectYaml(path).jobs()}
    assert list(jobs) == ["demo-products", "demo-orders", "orders"]
    assert jobs["orders"].definition.deployment.schedule.describe() == "Daily at 09:00 UTC"

    # A changed schedule changes only that; a comment inside the entry survives.
    text = text.replace("        name: orders\n", "        name: orders  # keep me\n")
    path.write_text(text)
    file = PrefectYaml(path)
    changed = _definition(schedule={"weekly": {"on": "mon", "at": "09:00"}}, timezone="Asia/Tokyo")
    assert file.upsert(deployment_entry(changed)) == "updated"
    file.save()
    after = path.read_text()
    assert "name: orders  # keep me" in after
    assert 'cron: "0 9 * * 1"' in after and "timezone: Asia/Tokyo" in after
    assert PrefectYaml(path).upsert(deployment_entry(changed)) == "unchanged"

    file = PrefectYaml(path)
    assert file.set_paused("orders", True)
    assert file.remove("demo-orders")
    file.save()
    jobs = {j.name: j for j in PrefectYaml(path).jobs()}
    assert list(jobs) == ["demo-products", "orders"] and jobs["orders"].paused


def test_deployment_fields_stay_out_of_the_job_and_round_trip():
    definition = _definition(
        schedule={"monthly": {"day": 31, "at": "06:00"}},
        timezone="Europe/Warsaw",
        description="Orders, monthly.",
        work_pool="etl-cloud-run",
        job_variables={"cpu": 2000},
        max_duration="90m",
    )
    assert "schedule" not in definition.job.model_dump()
    assert definition.warnings and "February" in definition.warnings[0]
    entry = deployment_entry(definition)
    assert entry["tags"] == ["etl", "etl-job:orders", "etl-max-duration:90m"]
    assert entry["work_pool"] == {"name": "etl-cloud-run", "job_variables": {"cpu": 2000}}
    assert entry["schedules"] == [
        {"cron": "0 6 31 * *", "timezone": "Europe/Warsaw", "active": True}
    ]
    again = parse_job_definition(definition.to_file(), "again")
    assert again.job == definition.job and again.deployment == definition.deployment


def test_cloud_scheduler_jobs_keep_their_prefect_schedule_inactive():
    entry = deployment_entry(
        _definition(schedule={"hourly": {"minute": 5}}, scheduler="cloud-scheduler")
    )
    assert entry["schedules"][0]["active"] is False
    assert "etl-scheduler:cloud-scheduler" in entry["tags"]
    with pytest.raises(ConfigurationError, match="needs a schedule other than manual"):
        _definition(scheduler="cloud-scheduler")


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"max_duration": "soon"}, "max_duration 'soon' is not a duration"),
        ({"work_pool": "no spaces"}, "work_pool must be the name"),
        ({"schedule": {"daily": {"at": "25:00"}}}, "orders.yaml: schedule.daily: at '25:00'"),
        ({"timezone": "Nowhere/City"}, "orders.yaml: timezone 'Nowhere/City'"),
    ],
)
def test_wrong_deployment_fields_name_the_file_and_field(fields, sentence):
    with pytest.raises(ConfigurationError) as refused:
        _definition(**fields)
    assert sentence in refused.value.message
