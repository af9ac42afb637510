"""checkov, the static policy scanner, passes on infra/terraform.

checkov pins packaging<24, cachetools<6 and its own fork of the `hcl2` module, which clash with
google-cloud-bigquery and python-hcl2 in the project's environment, so it is installed in a tools
virtualenv of its own. The test finds it (in order) through CHECKOV_BIN, next to this Python, or
on PATH, and fails, never skips, when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .tfconfig import REPO_ROOT, TERRAFORM_DIR, all_modules

SUMMARY = re.compile(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)")


def checkov_executable() -> str:
    candidates = [
        os.environ.get("CHECKOV_BIN"),
        str(REPO_ROOT / ".venv-tools" / "bin" / "checkov"),  # made by `make setup`
        str(Path(sys.executable).parent / "checkov"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("checkov")
    if found is None:
        pytest.fail(
            "checkov is not installed: install checkov==3.3.30 into its own virtualenv and put it "
            "on PATH or set CHECKOV_BIN (see infra/terraform/README.md, Testing)."
        )
    return found


@pytest.mark.parametrize("var_file", [None, "example.tfvars"], ids=["defaults", "example"])
def test_checkov_passes_offline_with_only_the_documented_skips(var_file):
    command = [
        checkov_executable(),
        "--config-file",
        str(TERRAFORM_DIR / ".checkov.yaml"),
        "-d",
        str(TERRAFORM_DIR),
        "--compact",
        "--quiet",
    ]
    if var_file:
        # With real-looking values checkov also evaluates the conditional blocks.
        command += ["--var-file", str(TERRAFORM_DIR / var_file)]
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = SUMMARY.search(result.stdout)
    assert summary, result.stdout + result.stderr
    passed, failed, skipped = (int(n) for n in summary.groups())
    assert failed == 0, result.stdout
    assert passed >= 20, "checkov scanned far fewer resources than the configuration has"
    documented_skips = sum(len(m.skipped_checks()) for m in all_modules())
    assert skipped == documented_skips, "a check was skipped that no module README explains"
