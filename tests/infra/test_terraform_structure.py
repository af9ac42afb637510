"""The structure a platform team checks in review, read from the parsed HCL.

`terraform validate` cannot run here (no provider can be downloaded), so these tests pin what it
would not catch anyway: typed and described inputs, pinned providers, one naming convention,
every module input wired by the root, and no secret reaching an output.
"""

from __future__ import annotations

import re

import pytest

from . import tfconfig
from .tfconfig import (
    MODULE_NAMES,
    MODULES_DIR,
    TERRAFORM_DIR,
    all_modules,
    expression,
    module,
    parse_file,
    required_providers,
    required_version,
    root,
)

ALL_TF_FILES = sorted(p for p in TERRAFORM_DIR.rglob("*.tf") if ".terraform" not in p.parts)
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")

# Module inputs the root leaves at their defaults on purpose, each with the reason. A new module
# variable must be either passed by the root or added here, so nothing is forgotten silently.
INTENTIONAL_DEFAULTS = {
    ("apis", "services"): "the default list is every API this configuration uses",
    ("worker", "image_retention"): "cleanup policy defaults suit one flow image",
    ("worker", "prefect_gcp_version"): "pinned to the version the project depends on",
    ("worker", "worker_resources"): "the worker only polls; 1 CPU and 1 GiB are plenty",
    ("scheduler", "attempt_deadline"): "creating a flow run answers in well under a second",
    ("scheduler", "trigger_image"): "the trigger job only runs the prefect CLI of Prefect's image",
}


def module_ids() -> list[str]:
    return [m.name for m in all_modules()]


@pytest.mark.parametrize("tf_file", ALL_TF_FILES, ids=lambda p: str(p.relative_to(TERRAFORM_DIR)))
def test_every_tf_file_parses_with_python_hcl2(tf_file):
    parsed = parse_file(tf_file)
    assert parsed, f"{tf_file} parsed to nothing"


def test_each_module_has_the_standard_files_and_a_readme():
    for name in MODULE_NAMES:
        files = {p.name for p in (MODULES_DIR / name).iterdir()}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} <= files, name


@pytest.mark.parametrize("mod", all_modules(), ids=module_ids())
def test_every_variable_has_a_type_and_a_description(mod):
    assert mod.variables, f"{mod.name} declares no variables"
    for name, attrs in mod.variables.items():
        assert "type" in attrs, f"{mod.name}: variable {name} has no type"
        description = attrs.get("description", "")
        assert len(description) > 15, f"{mod.name}: variable {name} needs a real description"


@pytest.mark.parametrize("mod", all_modules(), ids=module_ids())
def test_identifiers_with_a_fixed_format_are_validated(mod):
    # Wrong project IDs, regions and prefixes otherwise fail only at apply, half-way through.
    for name in ("project_id", "project_number", "region", "name_prefix", "location"):
        if name in mod.variables:
            assert mod.variables[name].get("validation"), f"{mod.name}: {name} has no validation"


@pytest.mark.parametrize("mod", all_modules(), ids=module_ids())
def test_every_output_has_a_description(mod):
    assert mod.outputs, f"{mod.name} has no outputs"
    for name, attrs in mod.outputs.items():
        assert attrs.get("description"), f"{mod.name}: output {name} has no description"


@pytest.mark.parametrize("mod", all_modules(), ids=module_ids())
def test_the_google_provider_and_terraform_version_are_pinned(mod):
    providers = required_providers(mod)
    assert set(providers) == {"google"}, f"{mod.name}: unexpected providers {set(providers)}"
    google = providers["google"]
    assert google["source"] == "hashicorp/google"
    version = google["version"]
    # An upper bound keeps a new major release from arriving with `terraform init -upgrade`.
    assert "~>" in version or "<" in version, f"{mod.name}: google provider {version!r} unbounded"
    assert required_version(mod), f"{mod.name}: no required_version"


def test_the_root_pins_one_major_series_that_every_module_accepts():
    assert required_providers(root())["google"]["version"] == "~> 7.0"
    for name in MODULE_NAMES:
        assert required_providers(module(name))["google"]["version"] == ">= 6.14, < 8.0"


@pytest.mark.parametrize("mod", all_modules(), ids=module_ids())
def test_block_labels_follow_one_convention(mod):
    labels = [
        *mod.variables,
        *mod.outputs,
        *mod.locals,
        *mod.module_calls,
        *(name for _, name in mod.resources),
        *(name for _, name in mod.data),
    ]
    for label in labels:
        assert SNAKE_CASE.match(label), f"{mod.name}: {label!r} is not snake_case"
    for rtype, name in mod.resources:
        # The resource type already says what it is; the label says its role, never repeats it.
        assert name not in rtype, f"{mod.name}: {rtype}.{name} repeats its type in its label"


def test_cloud_resource_names_derive_from_the_prefix():
    iam = module("iam")
    for (rtype, name), attrs in iam.resources.items():
        if rtype == "google_service_account":
            assert attrs["account_id"].startswith("${var.name_prefix}-"), name
    worker = module("worker")
    assert worker.resources[("google_cloud_run_v2_service", "worker")]["name"].startswith(
        "${var.name_prefix}-"
    )
    assert worker.locals["repository_id"].startswith("${var.name_prefix}-")
    scheduler = module("scheduler")
    assert scheduler.resources[("google_cloud_scheduler_job", "etl_job")]["name"] == (
        "etl-job-${each.key}"
    )


def test_every_project_scoped_resource_uses_the_project_variable():
    for name in MODULE_NAMES:
        for (rtype, rname), attrs in module(name).resources.items():
            if "project" in attrs:
                assert attrs["project"] == "${var.project_id}", f"{name}: {rtype}.{rname}"


def test_the_root_passes_every_module_input_or_its_default_is_intentional():
    calls = root().module_calls
    assert set(calls) == set(MODULE_NAMES)
    meta = {"source", "depends_on", "count", "for_each", "providers"}
    for name, call in calls.items():
        declared = module(name).variables
        passed = set(call) - meta
        unknown = passed - set(declared)
        assert not unknown, f"module {name} is passed undeclared inputs {unknown}"
        for var_name, attrs in declared.items():
            if var_name in passed:
                continue
            assert "default" in attrs, f"module {name}: required input {var_name} not passed"
            assert (name, var_name) in INTENTIONAL_DEFAULTS, (
                f"module {name}: {var_name} is left at its default; pass it from the root or "
                "add it to INTENTIONAL_DEFAULTS with the reason"
            )
    for name, var_name in INTENTIONAL_DEFAULTS:
        assert var_name in module(name).variables, f"stale entry {name}.{var_name}"
        assert var_name not in calls[name], f"{name}.{var_name} is passed after all"


def test_every_root_variable_is_used():
    source = root().source_text()
    for name in root().variables:
        assert re.search(rf"\bvar\.{name}\b", source), f"root variable {name} is never used"


def test_module_sources_are_local_paths():
    for name, call in root().module_calls.items():
        assert call["source"] == f"./modules/{name}"


def test_scheduled_jobs_input_has_no_default():
    # Without the generated file a plan must fail, not propose deleting every scheduler job.
    assert "default" not in root().variables["scheduled_jobs"]


@pytest.mark.parametrize("mod", all_modules(), ids=module_ids())
def test_no_output_carries_a_secret_value(mod):
    sensitive_vars = {n for n, a in mod.variables.items() if a.get("sensitive") is True}
    secret_markers = ("secret_data", "google_secret_manager_secret_version", "secret_values")
    for name, attrs in mod.outputs.items():
        value = tfconfig.text(attrs["value"])
        assert not any(marker in value for marker in secret_markers), f"{mod.name}: {name}"
        if any(re.search(rf"\bvar\.{v}\b", value) for v in sensitive_vars):
            assert attrs.get("sensitive") is True, f"{mod.name}: output {name} must be sensitive"


def test_variables_that_hold_secrets_are_sensitive():
    for mod in all_modules():
        for name, attrs in mod.variables.items():
            if name == "secret_values" or name.endswith(("_password", "_api_key", "_token")):
                assert attrs.get("sensitive") is True, f"{mod.name}: {name} must be sensitive"


def test_example_tfvars_sets_only_declared_variables_and_every_required_one_but_the_jobs():
    example = parse_file(TERRAFORM_DIR / "example.tfvars")
    declared = root().variables
    assert set(example) <= set(declared), set(example) - set(declared)
    required = {n for n, a in declared.items() if "default" not in a}
    assert required - set(example) == {"scheduled_jobs"}


def test_backend_block_for_gcs_is_present_but_commented():
    versions = (TERRAFORM_DIR / "versions.tf").read_text(encoding="utf-8")
    assert re.search(r'^\s*# backend "gcs" \{', versions, re.MULTILINE)
    assert not any("backend" in block for block in root().terraform_blocks)


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_readme_lists_inputs_outputs_and_skipped_checks(name):
    mod = module(name)
    readme = (MODULES_DIR / name / "README.md").read_text(encoding="utf-8")
    for var_name in mod.variables:
        assert f"`{var_name}`" in readme, f"{name}/README.md does not describe input {var_name}"
    for out_name in mod.outputs:
        assert f"`{out_name}`" in readme, f"{name}/README.md does not describe output {out_name}"
    assert "## Checkov" in readme
    for check_id in mod.skipped_checks():
        section = readme[readme.index("## Checkov") :]
        assert check_id in section, f"{name}/README.md does not explain skipping {check_id}"


def test_skips_are_inline_with_a_reason_and_never_global():
    config = (TERRAFORM_DIR / ".checkov.yaml").read_text(encoding="utf-8")
    assert not re.search(r"^\s*skip-check", config, re.MULTILINE)
    for mod in all_modules():
        for check_id, reason in mod.skipped_checks().items():
            assert len(reason) > 40, f"{mod.name}: skip of {check_id} needs a real reason"


def test_readme_says_validate_and_plan_were_not_run_here():
    readme = (TERRAFORM_DIR / "README.md").read_text(encoding="utf-8")
    assert "`terraform validate` and `terraform plan` were not run" in readme
    for command in ("terraform init", "terraform validate", "terraform plan", "terraform apply"):
        assert command in readme


def test_expression_helper_unwraps_interpolations():
    assert expression("${var.x}") == "var.x"
    assert expression("etl-job-${each.key}") == "etl-job-${each.key}"
