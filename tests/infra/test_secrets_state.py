"""No secret value can reach the Terraform state, a saved plan or an output.

What would show it for certain, `terraform plan` followed by `terraform show -json` of the plan
and the state, cannot run here: providers cannot be downloaded on these machines, so neither
`init` nor `plan` works. The tests read the parsed HCL instead and close each way a value gets
into the state: a resource or data source attribute holding secret material (a secret version's
`secret_data`, a data source reading one), a variable that takes a secret value, an output or a
request header built from one, and an environment variable of a Cloud Run resource given a value
rather than a Secret Manager reference.
"""

from __future__ import annotations

import re

import pytest

from .tfconfig import TERRAFORM_DIR, all_modules, parse_file, text

# Resource and data types whose state is the secret itself.
SECRET_VALUE_TYPES = {
    "google_secret_manager_secret_version",
    "google_secret_manager_regional_secret_version",
    "google_service_account_key",
    "google_sql_user",
    "random_password",
    "tls_private_key",
}
# Attributes that hold secret material wherever they appear.
SECRET_ATTRIBUTES = re.compile(
    r"\b(secret_data|secret_data_wo|private_key|password|api_key|access_token|sensitive_labels)\b"
    r"\s*="
)
# Variables that would carry a secret into Terraform (names, not values, are fine: *_secret,
# *_secret_id name a Secret Manager secret).
SECRET_VARIABLE = re.compile(r"(password|api_key$|token$|secret_values|secret_data|credentials)")


@pytest.mark.parametrize("mod", all_modules(), ids=lambda m: m.name)
def test_no_resource_or_data_source_holds_a_secret_value(mod):
    for kind, found in (("resource", mod.resources), ("data", mod.data)):
        for rtype, name in found:
            assert rtype not in SECRET_VALUE_TYPES, (
                f"{mod.name}: {kind} {rtype}.{name} would put a secret value in the state"
            )
    source = mod.source_text()
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    assert not SECRET_ATTRIBUTES.search(code), SECRET_ATTRIBUTES.search(code).group(0)


@pytest.mark.parametrize("mod", all_modules(), ids=lambda m: m.name)
def test_no_variable_takes_a_secret_value_and_no_output_is_sensitive(mod):
    for name, attrs in mod.variables.items():
        assert not SECRET_VARIABLE.search(name), f"{mod.name}: variable {name} takes a secret"
        assert attrs.get("sensitive") is not True, f"{mod.name}: sensitive variable {name}"
        assert attrs.get("ephemeral") is not True, f"{mod.name}: ephemeral variable {name}"
    for name, attrs in mod.outputs.items():
        assert attrs.get("sensitive") is not True, f"{mod.name}: output {name} is sensitive"


def test_the_prefect_api_key_is_only_ever_a_secret_reference():
    """Every place that needs the key names its secret; none reads or writes its value."""
    for mod in all_modules():
        for (rtype, name), attrs in mod.resources.items():
            body = text(attrs)
            if "PREFECT_API_KEY" not in body:
                continue
            env = re.search(r'\{"name": "PREFECT_API_KEY"(.*?)\}\]\}\]\}', body)
            assert env and '"secret_key_ref"' in env.group(1), f"{rtype}.{name}"
            assert '"value":' not in env.group(1), f"{rtype}.{name} gives the key a value"
        code = "\n".join(line.split("#", 1)[0] for line in mod.source_text().splitlines())
        assert "Authorization" not in code, f"{mod.name} builds a credential header"


def test_the_example_and_scheduled_jobs_inputs_carry_no_secret():
    example = parse_file(TERRAFORM_DIR / "example.tfvars")
    assert not any(SECRET_VARIABLE.search(name) for name in example), sorted(example)
    assert "secret_values" not in (TERRAFORM_DIR / "example.tfvars").read_text()
