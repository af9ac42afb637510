"""A job's life as a deployment, on a real Prefect server and process worker: apply writes
prefect.yaml and registers it, list/run/pause/resume/edit/delete act on the server."""

from __future__ import annotations

import json
import uuid

import yaml
from prefect.client.orchestration import get_client

from etl_bigquery.service.prefect_yaml import PrefectYaml
from tests.deployments.conftest import cli, wait_until, write_job
from tests.integration.cli_helpers import etl


def _deployment(name: str):
    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(f"etl-job/{name}")


def test_apply_list_run_pause_edit_delete(project, worker, shop, dataset, bq):
    name = f"products-{uuid.uuid4().hex[:6]}"
    job_file = write_job(
        project, name, shop, dataset,
        'schedule:\n  daily: {at: "09:00"}\ntimezone: Europe/Warsaw\n',
    )  # fmt: skip

    applied = cli("job", "apply", str(job_file), cwd=project)
    assert f"Deployment etl-job/{name} created in prefect.yaml and registered" in applied
    assert "schedule: Daily at 09:00 Europe/Warsaw, next run " in applied
    entry = PrefectYaml(project / "prefect.yaml").job(name)
    assert entry is not None and not entry.paused
    deployment = _deployment(name)
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 9 * * *", "Europe/Warsaw")
    assert deployment.parameters["job"]["name"] == name
    assert "schedule" not in deployment.parameters["job"]

    # Applying the same file again changes nothing in prefect.yaml.
    assert f"etl-job/{name} unchanged in prefect.yaml" in cli(
        "job", "apply", str(job_file), cwd=project
    )

    # A run through the deployment, on the worker, with the same summary as `etl run`.
    ran = cli("job", "run", name, "--wait", "--timeout", "240", cwd=project)
    assert f"{name}: Completed" in ran and "rows: 2 extracted, 2 loaded" in ran, ran

    listed = json.loads(cli("job", "list", "--json", cwd=project))
    row = next(j for j in listed if j["name"] == name)
    assert row["schedule"] == "Daily at 09:00 Europe/Warsaw"
    assert row["state"] == "Enabled" and row["last_status"] == "Completed"
    assert row["last_rows"] == 2 and row["next_run"].endswith(("+01:00", "+02:00"))
    text = cli("job", "list", cwd=project)
    assert name in text and "Daily at 09:00 Europe/Warsaw" in text

    # Pause: the deployment is paused on the server and in prefect.yaml; resume undoes both.
    cli("job", "pause", name, cwd=project)
    assert _deployment(name).paused and PrefectYaml(project / "prefect.yaml").job(name).paused
    paused = json.loads(cli("job", "list", "--json", cwd=project))
    assert next(j for j in paused if j["name"] == name)["state"] == "Paused"
    cli("job", "resume", name, cwd=project)
    assert not _deployment(name).paused

    # Edit what may change: the schedule, and a column (added to the table, nothing reloaded).
    edited = cli(
        "job", "edit", name, "--schedule", "{weekly: {on: mon, at: '07:30'}}",
        "--add-column", "colour", cwd=project,
    )  # fmt: skip
    assert "Columns added to the table as NULLABLE (no reload): colour." in edited
    assert "schedule: Weekly on Monday at 07:30 Europe/Warsaw" in edited
    table = bq.get_table(f"local.{dataset}.bq_products")
    colour = next(f for f in table.schema if f.name == "colour")
    assert colour.mode == "NULLABLE" and table.num_rows == 2
    assert _deployment(name).schedules[0].schedule.cron == "30 7 * * 1"

    # What may not change is refused with the reason and the way instead.
    other = job_file.read_text().replace("load_type: catalog", "load_type: transactional\n"
                                         "cursor_column: id")  # fmt: skip
    changed = project / "changed.yaml"
    changed.write_text(other)
    refused = etl("job", "edit", name, str(changed), cwd=project)
    assert refused.returncode == 2
    assert "load_type cannot change on an existing job" in refused.stderr
    assert "Create a new job" in refused.stderr

    # A job file with ${VAR} edits as it applies: the variable is expanded where `apply` expands
    # it (so the connection is unchanged), refused where `apply` refuses it.
    templated = project / "templated.yaml"
    templated.write_text(
        job_file.read_text().replace(f"connection: {shop['connection']}", "connection: ${SHOP}")
        + "description: ${SHOP} products\n"
    )
    outside = etl("job", "edit", name, str(templated), cwd=project, env={"SHOP": "x"})
    assert outside.returncode == 2 and "description holds ${SHOP}" in outside.stderr, outside
    templated.write_text(templated.read_text().replace("${SHOP} products", "products"))
    same = etl("job", "edit", name, str(templated), cwd=project, env={"SHOP": shop["connection"]})
    assert same.returncode == 0, same.stdout + same.stderr
    changed = same.stdout.split("changed:")[1].split("\n")[0]
    assert "description" in changed and "connection" not in changed, same.stdout

    # Delete: deployment, schedule, prefect.yaml entry and slot go; the table stays.
    deleted = cli("job", "delete", name, cwd=project)
    assert "deployment and schedule" in deleted and "The BigQuery table stays" in deleted
    assert PrefectYaml(project / "prefect.yaml").job(name) is None
    with get_client(sync_client=True) as client:
        assert not [d for d in client.read_deployments() if d.name == name], (
            "deployment left behind"
        )
        limits = [c.name for c in client.read_global_concurrency_limits(limit=200)]
    assert f"etl-job-{name}" not in limits
    assert bq.get_table(f"local.{dataset}.bq_products").num_rows == 2
    assert name not in yaml.safe_load((project / "prefect.yaml").read_text())["deployments"]


def test_pause_stops_a_schedule_due_within_seconds(project, shop, dataset):
    """On a pool without a worker, so scheduled runs stay Scheduled: a due schedule makes the
    scheduler create runs; paused, the job has none left and gets no new ones."""
    from etl_bigquery.service.jobs import deployment_id, ensure_process_pool

    ensure_process_pool("etl-no-worker")
    name = f"every-minute-{uuid.uuid4().hex[:6]}"
    job_file = write_job(
        project, name, shop, dataset, 'schedule: {cron: "* * * * *"}\nwork_pool: etl-no-worker\n'
    )
    cli("job", "apply", str(job_file), cwd=project)
    deployment = deployment_id(name)

    def scheduled() -> list:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(limit=200)
        return [r for r in runs if r.deployment_id == deployment and r.state_name == "Scheduled"]

    assert wait_until(scheduled, timeout=60), "the scheduler created no run for a due schedule"
    cli("job", "pause", name, cwd=project)
    assert wait_until(lambda: not scheduled(), timeout=30), "paused, scheduled runs remained"
    cli("job", "delete", name, cwd=project)


def test_apply_refuses_a_wrong_schedule_in_one_sentence_and_leaves_nothing(project, shop, dataset):
    name = f"bad-{uuid.uuid4().hex[:6]}"
    job_file = write_job(project, name, shop, dataset, "schedule:\n  hourly: {minute: 61}\n")
    result = etl("job", "apply", str(job_file), cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"Error: {job_file}: schedule.hourly: minute 61 is not a minute of the hour; use 0 to 59."
    )
    assert PrefectYaml(project / "prefect.yaml").job(name) is None
