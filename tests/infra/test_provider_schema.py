"""Every resource, data source and provider block of infra/terraform matches the Google provider's
schema, at every provider version the configuration admits and an extract exists for.

This stands in for `terraform validate`, which needs the provider binary and so cannot run here;
the schema comes from the extracts in provider_schemas/ (see extract_provider_schema.py for where
they come from and how to regenerate them). What it checks and what it does not is in the
docstring of provider_schema.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .provider_schema import (
    check_file,
    check_module,
    count_blocks,
    google_constraint,
    lower_bound,
    module_dirs,
    satisfies,
    schemas,
    schemas_for,
    version_key,
)
from .tfconfig import MODULE_NAMES, TERRAFORM_DIR

NEWEST = schemas()[-1]

# Lower bounds of a version range that no extract covers, with the reason. The prebuilt
# bindings published on PyPI jump from google 6.50.0 to 7.31.0, so 7.0.0-7.30.x cannot be
# checked here; an argument added to the provider in that span would pass this check and fail
# `terraform validate` on such a version. A new extract that closes a gap must remove it here.
UNCOVERED_LOWER_BOUNDS = {"~> 7.0": "no prebuilt binding of google 7.0-7.30 exists"}


def pairs() -> list[tuple[Path, object]]:
    return [(d, s) for d in module_dirs(TERRAFORM_DIR) for s in schemas_for(d)]


def test_each_extract_names_the_provider_version_and_package_it_came_from():
    assert len(schemas()) >= 2
    for schema in schemas():
        document = json.loads(schema.path.read_text(encoding="utf-8"))
        assert document["provider"] == "hashicorp/google"
        assert schema.path.name == f"google-{document['provider_version']}.json"
        source = document["source"]
        assert source["package"].split("==")[0] in (
            "cdktn-provider-google",
            "cdktf-cdktf-provider-google",
        ), source
        assert len(source["wheel_sha256"]) == 64
        assert source["regenerate"].endswith(source["package"])
        # A whole provider, not a fragment: a truncated extract would pass everything.
        assert len(schema.resources) > 800 and len(schema.data_sources) > 250
        assert schema.provider["arguments"]["project"] == "optional"


@pytest.mark.parametrize(
    ("version", "constraint", "admitted"),
    [
        ("7.46.1", "~> 7.0", True),
        ("7.0.0", "~> 7.0", True),
        ("8.0.0", "~> 7.0", False),
        ("6.50.0", "~> 7.0", False),
        ("7.0.5", "~> 7.0.1", True),
        ("7.1.0", "~> 7.0.1", False),
        ("7.9.0", "~> 7", True),
        ("6.14.1", ">= 6.14, < 8.0", True),
        ("6.13.9", ">= 6.14, < 8.0", False),
        ("8.0.0", ">= 6.14, < 8.0", False),
        ("7.46.1", "!= 7.46.1", False),
        ("7.46.1", "7.46.1", True),
    ],
)
def test_version_constraints_are_read_as_terraform_reads_them(version, constraint, admitted):
    assert satisfies(version, constraint) is admitted


def test_every_directory_is_checked_against_a_schema_its_constraint_admits():
    checked = {d.name: [s.version for s in schemas_for(d)] for d in module_dirs(TERRAFORM_DIR)}
    assert set(checked) == {"terraform", *MODULE_NAMES}, "a module directory is not checked"
    for name, versions in checked.items():
        assert versions, f"{name}: no provider schema inside its version constraint"
    # The root pins what `terraform init` installs: it is checked at the newest extract.
    assert NEWEST.version in checked["terraform"]


@pytest.mark.parametrize("module_dir", module_dirs(TERRAFORM_DIR), ids=lambda d: d.name)
def test_the_lower_bound_of_each_version_range_is_checked_or_named_as_a_gap(module_dir):
    constraint = google_constraint(module_dir)
    lowest = min((s.version for s in schemas_for(module_dir)), key=version_key)
    floor = lower_bound(constraint)
    assert floor, f"{module_dir.name}: {constraint} has no lower bound"
    covered = version_key(lowest)[:2] == version_key(floor)[:2]
    if constraint in UNCOVERED_LOWER_BOUNDS:
        assert not covered, f"{constraint} is covered now: remove it from UNCOVERED_LOWER_BOUNDS"
    else:
        assert covered, f"{module_dir.name}: {constraint} is checked from {lowest} only"


def test_the_extract_carries_terraform_names_on_resources_whose_names_are_known():
    """camelCase -> snake_case is not a plain inversion (k8s -> K8S, 8021q -> 8021Q, a leading
    `get` renamed `fetch`); the extract must carry the provider's own names."""
    job = NEWEST.resources["google_cloud_run_v2_job"]
    env = job["blocks"]["template"]["blocks"]["template"]["blocks"]["containers"]["blocks"]["env"]
    secret_ref = env["blocks"]["value_source"]["blocks"]["secret_key_ref"]
    assert secret_ref["arguments"] == {"secret": "required", "version": "required"}
    assert job["blocks"]["template"]["required"] is True
    assert job["blocks"]["template"]["max_items"] == 1
    assert job["arguments"]["location"] == "required"
    assert {"uid", "etag", "create_time"} <= set(job["computed"])
    assert "enable_k8s_beta_apis" in NEWEST.resources["google_container_cluster"]["blocks"]
    attachment = NEWEST.resources["google_compute_interconnect_attachment"]
    assert "vlan_tag8021q" in attachment["arguments"]
    assert "detect_md5hash" in NEWEST.resources["google_apigee_api"]["arguments"]
    nodes = NEWEST.resources["google_blockchain_node_engine_blockchain_nodes"]
    assert "geth_details" in nodes["blocks"]["ethereum_details"]["blocks"]
    assert NEWEST.resources["google_service_account"]["computed"] == [
        "email",
        "member",
        "name",
        "unique_id",
    ]
    assert NEWEST.resources["google_cloud_run_v2_service"]["values"]["ingress"] == [
        "INGRESS_TRAFFIC_ALL",
        "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
    ]
    # Write-only arguments arrived within the 6.x series: the oldest extract lacks them.
    versions = {s.version: s for s in schemas()}
    write_only = {"secret_data_wo", "secret_data_wo_version"}
    assert write_only <= set(NEWEST.resources["google_secret_manager_secret_version"]["arguments"])
    oldest = versions[min(versions, key=version_key)]
    assert not write_only & set(
        oldest.resources["google_secret_manager_secret_version"]["arguments"]
    )


@pytest.mark.parametrize(
    ("module_dir", "schema"), pairs(), ids=lambda p: getattr(p, "name", getattr(p, "version", p))
)
def test_every_block_and_reference_matches_the_provider_schema(module_dir, schema):
    findings = check_module(module_dir, schema)
    assert not findings, f"against google {schema.version}:\n" + "\n".join(map(str, findings))
    if module_dir.name != "terraform":
        assert count_blocks(module_dir)["resource"] > 0, "the check saw no resource"


def _edit(path: Path, old: str, new: str) -> int:
    """Replace the one occurrence of `old` in a copied file; the line number of the edit."""
    line = _line(path, old)
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return line


def _line(path: Path, needle: str) -> int:
    text = path.read_text(encoding="utf-8")
    assert text.count(needle) == 1, f"{needle!r} is not unique in {path.name}"
    return text[: text.index(needle)].count("\n") + 1


def test_mistakes_in_a_copy_of_the_configuration_are_reported_with_file_and_line(tmp_path):
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform"))
    scheduler = copy / "modules" / "scheduler" / "main.tf"
    worker = copy / "modules" / "worker" / "main.tf"
    iam = copy / "modules" / "iam" / "main.tf"
    lines = {
        # First: the block it adds shifts the lines below it, which the others are read after.
        "retry": _edit(scheduler, "  retry_config {", "  retry_config {}\n  retry_config {") + 1,
        "timezone": _edit(scheduler, "  time_zone   =", "  timezone    ="),
        "versoin": _edit(scheduler, 'version = "latest"', 'versoin = "latest"'),
        "secret_key_ref": _line(scheduler, "secret_key_ref {"),
        "oidc": _edit(scheduler, 'dynamic "oidc_token" {', 'dynamic "oidc_tokens" {'),
        "ingress": _edit(worker, '"INGRESS_TRAFFIC_INTERNAL_ONLY"', '"INTERNAL_ONLY"'),
        "labels": _edit(worker, "labels              = var.labels", "labels {}"),
        "type": _edit(iam, '"google_service_account" "dataflow"', '"google_service_acount" "x"'),
        "email": _edit(iam, "account.runner.email", "account.runner.emial"),
        "region": _edit(copy / "providers.tf", "  region  = var.region", "  regoin  = var.region"),
    }  # fmt: skip
    found = {
        f"{f.path.relative_to(copy)}:{f.line}: {f.message}"
        for d in module_dirs(copy)
        for f in check_module(d, NEWEST)
    }
    expected = {
        f"modules/scheduler/main.tf:{lines['timezone']}: google_cloud_scheduler_job.etl_job "
        "has no argument timezone (did you mean time_zone?)",
        f"modules/scheduler/main.tf:{lines['versoin']}: google_cloud_run_v2_job.trigger.template"
        ".template.containers.env.value_source.secret_key_ref has no argument versoin "
        "(did you mean version?)",
        f"modules/scheduler/main.tf:{lines['secret_key_ref']}: google_cloud_run_v2_job.trigger"
        ".template.template.containers.env.value_source.secret_key_ref is missing its required "
        "argument version",
        f"modules/scheduler/main.tf:{lines['oidc']}: google_cloud_scheduler_job.etl_job"
        ".http_target has no block oidc_tokens to generate (did you mean oidc_token?)",
        f"modules/scheduler/main.tf:{lines['retry']}: google_cloud_scheduler_job.etl_job "
        "allows one retry_config block, not 2",
        f"modules/worker/main.tf:{lines['ingress']}: google_cloud_run_v2_service.worker.ingress "
        "cannot be 'INTERNAL_ONLY': the provider accepts INGRESS_TRAFFIC_ALL, "
        "INGRESS_TRAFFIC_INTERNAL_ONLY, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        f"modules/worker/main.tf:{lines['labels']}: google_cloud_run_v2_service.worker.labels "
        "is an argument: write `labels = ...`, not a block",
        f"modules/iam/main.tf:{lines['type']}: google_service_acount.x: google "
        f"{NEWEST.version} has no resource type google_service_acount "
        "(did you mean google_service_account?)",
        f"modules/iam/main.tf:{lines['email']}: google_service_account.runner has no attribute "
        "emial (did you mean email?)",
        f'providers.tf:{lines["region"]}: provider "google" has no argument regoin '
        "(did you mean region?)",
    }
    # The misspelt type also leaves its references undeclared, as terraform validate says.
    undeclared = {f for f in found if "google_service_account.dataflow is not declared" in f}
    assert undeclared, sorted(found)
    assert found - undeclared == expected, sorted(found - undeclared)


META_ARGUMENTS_HCL = """
resource "google_service_account" "a" {
  count      = 1
  provider   = google.other
  depends_on = [google_service_account.b]
  account_id = "a"

  lifecycle {
    create_before_destroy = true
    prevent_destroy       = false
    ignore_changes        = [description]
    replace_triggered_by  = [google_service_account.b.id]
    precondition {
      condition     = true
      error_message = "never"
    }
  }

  provisioner "local-exec" {
    command = "true"
  }
}

resource "google_service_account" "b" {
  for_each   = toset(["b"])
  account_id = each.value
}

data "google_project" "p" {
  lifecycle {
    postcondition {
      condition     = self.number != ""
      error_message = "no number"
    }
  }
}

check "project_exists" {
  data "google_project" "scoped" {
    project_id = "x"
  }
  assert {
    condition     = data.google_project.scoped.number != ""
    error_message = "missing"
  }
}

provider "google" {
  alias   = "other"
  project = "p"
}
"""


def test_meta_arguments_lifecycle_provisioners_check_blocks_and_aliases_are_terraforms(tmp_path):
    tf = tmp_path / "meta.tf"
    tf.write_text(META_ARGUMENTS_HCL, encoding="utf-8")
    assert check_file(tf, NEWEST) == []
    assert [str(f) for f in check_module(tmp_path, NEWEST)] == []


def test_misused_meta_arguments_are_reported(tmp_path):
    tf = tmp_path / "meta.tf"
    text = META_ARGUMENTS_HCL.replace("prevent_destroy ", "prevent_destory").replace(
        'for_each   = toset(["b"])', 'for_each   = toset(["b"])\n  count = 1'
    )
    text = text.replace('    project_id = "x"', '    project_idd = "x"')
    tf.write_text(text, encoding="utf-8")
    messages = sorted(f.message for f in check_file(tf, NEWEST))
    assert messages == [
        "data.google_project.scoped has no argument project_idd (did you mean project_id?)",
        "google_service_account.a.lifecycle has no argument prevent_destory "
        "(did you mean prevent_destroy?)",
        "google_service_account.b sets both count and for_each",
    ]
    assert all(f.path == tf and f.line > 0 for f in check_file(tf, NEWEST))
