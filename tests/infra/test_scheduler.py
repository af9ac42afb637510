"""The scheduled-jobs file and what the scheduler module makes of it.

The module's `for_each` input is the file's map, unchanged (the root passes var.scheduled_jobs
straight through), so the tests evaluate the job resource's attribute templates from the parsed
HCL for each entry of the checked-in example and compare them with the entry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from etl_bigquery.service.infra_inputs import (
    SCHEDULED_JOBS_FILE,
    InfraInputError,
    ScheduledJob,
    load_scheduled_jobs,
    parse_scheduled_jobs,
    scheduled_jobs_document,
    scheduler_job_names,
    write_scheduled_jobs_file,
)

from .tfconfig import TERRAFORM_DIR, module, object_attribute_names, root, text

EXAMPLE = TERRAFORM_DIR / "examples" / SCHEDULED_JOBS_FILE
API_URL = "https://api.prefect.cloud/api/accounts/acc/workspaces/ws"
_TEMPLATE_REF = re.compile(r"\$\{([^}]*)\}")


def evaluate(template: object, key: str, value: dict, local_values: dict[str, str]) -> object:
    """Evaluate a HCL template that only uses each.key, each.value.<attr> and given locals."""
    assert isinstance(template, str), template
    whole = re.fullmatch(r"\$\{([^}]*)\}", template)

    def resolve(reference: str) -> object:
        reference = reference.strip()
        if reference == "each.key":
            return key
        if reference.startswith("each.value."):
            return value[reference.removeprefix("each.value.")]
        if reference.startswith("local."):
            return local_values[reference.removeprefix("local.")]
        raise AssertionError(f"cannot evaluate {reference!r} here")

    if whole:  # "${each.value.paused}" keeps its type, as in Terraform
        return resolve(whole.group(1))
    return _TEMPLATE_REF.sub(lambda m: str(resolve(m.group(1))), template)


def example_document() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def job_resource() -> dict:
    return module("scheduler").resources[("google_cloud_scheduler_job", "etl_job")]


def test_the_example_file_is_valid():
    jobs = load_scheduled_jobs(EXAMPLE)
    assert [job.name for job in jobs] == ["customers-hourly", "orders-daily", "partner-feed-weekly"]


def test_the_root_hands_the_file_map_to_the_module_for_each_unchanged():
    assert root().module_calls["scheduler"]["jobs"] == "${var.scheduled_jobs}"
    assert job_resource()["for_each"] == "${var.jobs}"


def test_one_scheduler_job_per_scheduled_job_with_its_name_cron_time_zone_and_paused_state():
    resource = job_resource()
    entries = example_document()["scheduled_jobs"]
    locals_ = {"api_url": API_URL}
    evaluated = {
        key: {
            attr: evaluate(resource[attr], key, entry, locals_)
            for attr in ("name", "schedule", "time_zone", "paused")
        }
        for key, entry in entries.items()
    }
    assert evaluated == {
        "orders-daily": {
            "name": "etl-job-orders-daily",
            "schedule": "0 9 * * *",
            "time_zone": "Europe/Warsaw",
            "paused": False,
        },
        "customers-hourly": {
            "name": "etl-job-customers-hourly",
            "schedule": "30 * * * *",
            "time_zone": "UTC",
            "paused": False,
        },
        "partner-feed-weekly": {
            "name": "etl-job-partner-feed-weekly",
            "schedule": "0 6 * * 1",
            "time_zone": "America/New_York",
            "paused": True,
        },
    }
    # The Python side names the jobs the same way, for anything that looks them up by name.
    names = scheduler_job_names(load_scheduled_jobs(EXAMPLE))
    assert names == {key: value["name"] for key, value in evaluated.items()}


def test_oidc_mode_posts_to_create_flow_run_and_api_key_mode_runs_the_trigger_job():
    http_target = job_resource()["http_target"][0]
    uri = http_target["uri"]
    assert uri.startswith('${var.auth.mode == "oidc" ? ')
    assert '"${local.api_url}/deployments/${each.value.deployment_id}/create_flow_run"' in uri
    assert uri.endswith(": local.trigger_run_uri}")
    assert module("scheduler").locals["trigger_run_uri"] == (
        "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/"
        "${local.trigger_job_name}:run"
    )
    assert http_target["http_method"] == "POST"
    # oidc: an empty JSON body (parameters and tags come from the deployment); api_key: the
    # trigger job's arguments, the deployment's id.
    body = text(http_target["body"])
    assert 'var.auth.mode == "oidc" ? {} :' in body
    assert '["prefect", "deployment", "run", "--id", each.value.deployment_id]' in body
    assert http_target["headers"] == {"Content-Type": "application/json"}
    assert module("scheduler").locals["api_url"] == '${trimsuffix(var.prefect_api_url, "/")}'


def test_api_key_mode_never_puts_the_key_in_a_request_or_the_state():
    """The key stays in Secret Manager: the trigger job gets it as a secret reference, and
    Cloud Scheduler authenticates to Google's API with an OAuth token of the invoker."""
    scheduler = module("scheduler")
    assert not scheduler.data, "no data source may read a secret value into the state"
    assert "Authorization" not in text(job_resource())
    trigger = scheduler.resources[("google_cloud_run_v2_job", "trigger")]
    assert "local.use_api_key" in trigger["count"]
    container = trigger["template"][0]["template"][0]["containers"][0]
    key_env = next(e for e in container["env"] if e["name"] == "PREFECT_API_KEY")
    ref = key_env["value_source"][0]["secret_key_ref"][0]
    assert (ref["secret"], ref["version"]) == ("${var.auth.api_key_secret_id}", "latest")
    assert "value" not in key_env
    oauth = job_resource()["http_target"][0]["dynamic"][1]["oauth_token"]
    assert oauth["for_each"] == '${var.auth.mode == "api_key" ? [1] : []}'
    assert oauth["content"][0]["service_account_email"] == (
        "${var.auth.invoker_service_account_email}"
    )
    grant = scheduler.resources[("google_cloud_run_v2_job_iam_member", "invoker_runs_trigger")]
    assert grant["role"] == "roles/run.jobsExecutorWithOverrides"
    assert grant["name"] == "${google_cloud_run_v2_job.trigger[0].name}"


def test_oidc_mode_sends_a_token_with_an_audience():
    dynamic = job_resource()["http_target"][0]["dynamic"][0]["oidc_token"]
    assert dynamic["for_each"] == '${var.auth.mode == "oidc" ? [1] : []}'
    content = dynamic["content"][0]
    assert content["service_account_email"] == "${var.auth.invoker_service_account_email}"
    # The predecessor's wizard jobs got 401s for want of an audience; it defaults to the host.
    assert content["audience"] == "${local.oidc_audience}"
    assert "regex(" in module("scheduler").locals["oidc_audience"]


def test_retry_and_deadline_are_configured():
    resource = job_resource()
    retry = resource["retry_config"][0]
    assert set(retry) == {
        "retry_count",
        "min_backoff_duration",
        "max_backoff_duration",
        "max_doublings",
        "max_retry_duration",
    }
    assert resource["attempt_deadline"] == "${var.attempt_deadline}"


def test_terraform_types_and_the_python_writer_agree_on_the_job_attributes():
    expected = {"cron", "time_zone", "paused", "deployment_name", "deployment_id"}
    assert object_attribute_names(root().variables["scheduled_jobs"]["type"]) == expected
    assert object_attribute_names(module("scheduler").variables["jobs"]["type"]) == expected
    job = ScheduledJob("a", "0 9 * * *", "flow/a", "3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f8a")
    assert set(job.tfvars_entry()) == expected


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("orders-daily", True), ("orders_2", True), ("orders daily", False), ("orders.daily", False)],
)
def test_terraform_and_python_accept_the_same_job_names(name, accepted):
    validation = module("scheduler").variables["jobs"]["validation"][0]["condition"]
    pattern = re.search(r'regex\("([^"]+)", name\)', validation).group(1).replace("\\\\", "\\")
    assert bool(re.match(pattern, name)) is accepted
    document = {"scheduled_jobs": {name: example_document()["scheduled_jobs"]["orders-daily"]}}
    if accepted:
        assert parse_scheduled_jobs(document)[0].name == name
    else:
        with pytest.raises(InfraInputError, match="etl-job-<name>"):
            parse_scheduled_jobs(document)


def _with(**changes: object) -> dict:
    entry = dict(example_document()["scheduled_jobs"]["orders-daily"])
    for key, value in changes.items():
        if value is None:
            entry.pop(key)
        else:
            entry[key] = value
    return {"scheduled_jobs": {"orders-daily": entry}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_with(cron="0 9 * *"), "five-field"),
        (_with(cron="0  9 * * *"), "five-field"),
        (_with(time_zone="Mars/Olympus"), "IANA"),
        (_with(deployment_id="orders-daily"), "UUID"),
        (_with(deployment_name="orders-daily"), "<flow name>/<deployment name>"),
        (_with(paused="false"), "true or false"),
        (_with(timezone="UTC"), "unknown keys"),
        (_with(deployment_id=None), "missing"),
        ({"jobs": {}}, "single key"),
        ({"scheduled_jobs": []}, "map job names"),
    ],
)
def test_invalid_job_files_are_refused_with_the_reason(document, message):
    with pytest.raises(InfraInputError, match=re.escape(message)):
        parse_scheduled_jobs(document)


def test_every_problem_is_reported_at_once():
    with pytest.raises(InfraInputError) as error:
        parse_scheduled_jobs(_with(cron="daily", time_zone="Nowhere", deployment_id="x"))
    assert all(word in str(error.value) for word in ("five-field", "IANA", "UUID"))


def test_optional_attributes_default_like_the_terraform_type():
    job = parse_scheduled_jobs(_with(time_zone=None, paused=None))[0]
    assert (job.time_zone, job.paused) == ("UTC", False)
    job_type = module("scheduler").variables["jobs"]["type"]
    assert 'time_zone = optional(string, "UTC")' in job_type
    assert "paused = optional(bool, false)" in job_type


def test_duplicate_job_names_in_a_file_are_refused(tmp_path: Path):
    entry = json.dumps(example_document()["scheduled_jobs"]["orders-daily"])
    path = tmp_path / SCHEDULED_JOBS_FILE
    path.write_text(f'{{"scheduled_jobs": {{"a": {entry}, "a": {entry}}}}}', encoding="utf-8")
    with pytest.raises(InfraInputError, match="Duplicate keys"):
        load_scheduled_jobs(path)


def test_the_writer_produces_a_file_the_reader_and_terraform_accept(tmp_path: Path):
    jobs = load_scheduled_jobs(EXAMPLE)
    target = write_scheduled_jobs_file(jobs, tmp_path / SCHEDULED_JOBS_FILE)
    assert load_scheduled_jobs(target) == jobs
    assert json.loads(target.read_text(encoding="utf-8")) == example_document()
    assert [p.name for p in tmp_path.iterdir()] == [SCHEDULED_JOBS_FILE]  # no temp file left


def test_the_writer_refuses_two_jobs_with_one_name():
    job = ScheduledJob("a", "0 9 * * *", "flow/a", "3f2c9a4e-8b1d-4c6f-9e2a-7d5b1c0e4f8a")
    with pytest.raises(InfraInputError, match="Two scheduled jobs"):
        scheduled_jobs_document([job, job])


def test_the_generated_file_is_not_committed():
    ignored = (TERRAFORM_DIR / ".gitignore").read_text(encoding="utf-8")
    assert f"/{SCHEDULED_JOBS_FILE}" in ignored.splitlines()
    assert text(root().variables["scheduled_jobs"]["description"]).count("generated") >= 1
