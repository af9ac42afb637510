"""Who gets which role, read from the role bindings in the parsed HCL.

Every binding is an `*_iam_member` resource with a literal role. Its member expression is followed
through the module's locals and the root's module arguments to the service account it names, so
the tests see the same grants `terraform plan` would show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tfconfig import MODULE_NAMES, TerraformModule, module, root, text

# SPEC section 6: "BigQuery data editor + job user, Secret Manager accessor, storage object viewer
# on source buckets, admin only on its own staging bucket".
SPEC_RUNNER_ROLES = {
    ("roles/bigquery.dataEditor", "google_bigquery_dataset_iam_member"),
    ("roles/bigquery.jobUser", "google_project_iam_member"),
    ("roles/secretmanager.secretAccessor", "google_secret_manager_secret_iam_member"),
    ("roles/storage.objectViewer", "google_storage_bucket_iam_member"),
    ("roles/storage.objectAdmin", "google_storage_bucket_iam_member"),
}
# SPEC section 5 (the Dataflow subflow) needs two more, both behind var.enable_dataflow.
DATAFLOW_RUNNER_ROLES = {
    ("roles/dataflow.developer", "google_project_iam_member"),
    ("roles/iam.serviceAccountUser", "google_service_account_iam_member"),
}

# How each principal appears once references are followed to the iam module or its outputs.
PRINCIPAL_MARKERS = {
    "runner": ("google_service_account.runner.", "module.iam.runner_email"),
    "worker": ("google_service_account.worker.", "module.iam.worker_email"),
    "dataflow": ("google_service_account.dataflow[", "module.iam.dataflow_email"),
    "scheduler_invoker": (
        "google_service_account.scheduler_invoker[",
        "module.iam.scheduler_invoker_email",
    ),
    "scheduler_service_agent": ("gcp-sa-cloudscheduler.iam.gserviceaccount.com",),
}
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}


@dataclass(frozen=True)
class Binding:
    module: str
    resource_type: str
    resource_name: str
    role: str
    principals: frozenset[str]
    attrs_text: str


def _followed(mod: TerraformModule, value: object) -> str:
    """Member text with locals expanded and module variables replaced by the root's arguments."""
    expanded = mod.expand(value)
    # each.value.x draws from for_each: follow that too.
    call = root().module_calls.get(mod.name, {})
    for var_name in re.findall(r"\bvar\.([a-z_]+)", expanded):
        if var_name in call:
            expanded += " " + root().expand(call[var_name])
    return expanded


def bindings() -> list[Binding]:
    found = []
    for name in MODULE_NAMES:
        mod = module(name)
        for (rtype, rname), attrs in mod.resources.items():
            if not rtype.endswith("_iam_member"):
                continue
            member = text(attrs["member"])
            if "each.value" in member:
                member += " " + text(attrs.get("for_each", ""))
            followed = _followed(mod, member)
            principals = frozenset(
                p for p, markers in PRINCIPAL_MARKERS.items() if any(m in followed for m in markers)
            )
            role = re.sub(r"^\$\{google_project_iam_custom_role\.([a-z_]+)\.id\}$",
                          r"custom/\1", attrs["role"])  # fmt: skip
            found.append(Binding(name, rtype, rname, role, principals, text(attrs)))
    return found


def roles_of(principal: str) -> set[tuple[str, str]]:
    return {(b.role, b.resource_type) for b in bindings() if principal in b.principals}


def test_every_binding_names_a_literal_role_and_a_known_principal():
    for b in bindings():
        assert b.role.startswith(("roles/", "custom/")), (
            f"{b.resource_name}: role must be a literal or a custom role of this configuration"
        )
        assert b.principals, f"{b.module}.{b.resource_name}: member not traced to an account"


def test_no_authoritative_iam_resources_anywhere():
    # _binding and _policy resources replace what others granted; this configuration only adds.
    for name in ("root", *MODULE_NAMES):
        mod = root() if name == "root" else module(name)
        for rtype, rname in mod.resources:
            assert not rtype.endswith(("_iam_binding", "_iam_policy")), f"{name}: {rtype}.{rname}"


def test_the_runner_has_exactly_the_roles_spec_section_6_names_plus_dataflow():
    assert roles_of("runner") == SPEC_RUNNER_ROLES | DATAFLOW_RUNNER_ROLES


def test_the_runner_dataflow_roles_exist_only_when_dataflow_is_enabled():
    for b in bindings():
        if "runner" in b.principals and (b.role, b.resource_type) in DATAFLOW_RUNNER_ROLES:
            assert "var.enable_dataflow" in b.attrs_text, b.resource_name


def test_runner_roles_are_scoped_as_narrowly_as_the_resource_allows():
    for b in bindings():
        if "runner" not in b.principals:
            continue
        if b.role == "roles/bigquery.dataEditor":
            assert b.module == "bigquery" and "var.datasets" in b.attrs_text
        elif b.role == "roles/storage.objectAdmin":
            # Its own buckets only: the bucket comes from the storage module's own bucket resource.
            assert "google_storage_bucket.this[" in b.attrs_text
        elif b.role == "roles/storage.objectViewer":
            assert "var.source_bucket_names" in b.attrs_text
        elif b.role == "roles/secretmanager.secretAccessor":
            assert "google_secret_manager_secret.this[" in b.attrs_text
        elif b.role == "roles/iam.serviceAccountUser":
            assert "google_service_account.dataflow[0].name" in b.attrs_text


def test_no_primitive_roles_and_no_project_wide_storage_or_secret_roles():
    for b in bindings():
        assert b.role not in PRIMITIVE_ROLES, b.resource_name
        if b.resource_type == "google_project_iam_member":
            assert not b.role.startswith(("roles/storage.", "roles/secretmanager.")), b.role
            assert not b.role.endswith((".admin", "Admin")), b.role


def test_project_level_grants_are_only_those_that_cannot_be_narrower():
    project_level = {
        (b.role, principal)
        for b in bindings()
        if b.resource_type == "google_project_iam_member"
        for principal in b.principals
    }
    assert project_level == {
        ("roles/bigquery.jobUser", "runner"),  # jobs belong to the project
        ("roles/dataflow.developer", "runner"),  # Dataflow jobs too
        ("roles/dataflow.worker", "dataflow"),
        # One Cloud Run job per flow run, named at run time: a custom role with only the job
        # calls the worker makes, instead of roles/run.developer.
        ("custom/worker_cloud_run_jobs", "worker"),
    }


def test_the_workers_custom_role_holds_only_cloud_run_job_calls():
    role = module("iam").resources[("google_project_iam_custom_role", "worker_cloud_run_jobs")]
    permissions = set(role["permissions"])
    assert permissions == {
        "run.jobs.create", "run.jobs.get", "run.jobs.run", "run.jobs.delete",
        "run.executions.get", "run.executions.list", "run.executions.delete",
        "run.operations.get",
    }  # fmt: skip
    assert not any(p.startswith(("run.services.", "run.jobs.update", "run.jobs.setIamPolicy"))
                   for p in permissions)  # fmt: skip
    # What prefect-gcp's worker calls (its models module), so the list is not a guess.
    import inspect

    from prefect_gcp.models import cloud_run_v2

    source = inspect.getsource(cloud_run_v2)
    for call in ("jobs().get(", "jobs().create(", "jobs().run(", "jobs().delete(",
                 "executions()\n            .list(", "executions().get("):  # fmt: skip
        assert call in source, call


def test_the_worker_can_launch_jobs_as_the_runner_and_read_the_prefect_key_only():
    assert roles_of("worker") == {
        ("custom/worker_cloud_run_jobs", "google_project_iam_member"),
        ("roles/iam.serviceAccountUser", "google_service_account_iam_member"),
        ("roles/secretmanager.secretAccessor", "google_secret_manager_secret_iam_member"),
    }
    acts_as = [
        b
        for b in bindings()
        if "worker" in b.principals and b.role == "roles/iam.serviceAccountUser"
    ]
    assert [b.resource_name for b in acts_as] == ["worker_acts_as_runner"]
    assert "google_service_account.runner.name" in acts_as[0].attrs_text


def test_cloud_scheduler_can_mint_oidc_tokens_for_the_invoker():
    grants = [
        b
        for b in bindings()
        if b.role == "roles/iam.serviceAccountTokenCreator"
        and "scheduler_service_agent" in b.principals
    ]
    assert len(grants) == 1
    grant = grants[0]
    # On the invoker account itself, not project-wide (the predecessor's 401 fix, scoped).
    assert grant.resource_type == "google_service_account_iam_member"
    assert "google_service_account.scheduler_invoker[0].name" in grant.attrs_text
    assert "var.enable_scheduler_invoker" in grant.attrs_text
    service_agent = module("iam").locals["scheduler_service_agent"]
    assert service_agent == (
        "serviceAccount:service-${var.project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
    )
    assert root().module_calls["iam"]["project_number"] == "${data.google_project.this.number}"


def test_the_invoker_may_only_invoke_the_prefect_server_or_run_the_trigger_job():
    assert roles_of("scheduler_invoker") == {
        ("roles/run.invoker", "google_cloud_run_v2_service_iam_member"),
        ("roles/run.jobsExecutorWithOverrides", "google_cloud_run_v2_job_iam_member"),
    }


def test_the_invoker_exists_in_oidc_mode_or_when_cloud_scheduler_drives_jobs():
    assert root().module_calls["iam"]["enable_scheduler_oidc"] == (
        '${var.scheduler_auth_mode == "oidc"}'
    )
    assert root().module_calls["iam"]["enable_scheduler_invoker"] == (
        '${var.scheduler_auth_mode == "oidc" || length(var.scheduled_jobs) > 0}'
    )


def test_secrets_are_readable_by_the_runner_by_default_and_the_prefect_key_by_worker_and_runner():
    secrets_type = module("secrets").variables["secrets"]["type"]
    assert 'accessors = optional(list(string), ["runner"])' in secrets_type
    prefect_key = root().locals["prefect_api_key_secrets"]
    assert 'accessors = ["worker", "runner"]' in prefect_key
    accessors = root().locals["secret_accessors"]
    assert "runner = module.iam.runner_email" in accessors
    assert "worker = module.iam.worker_email" in accessors
