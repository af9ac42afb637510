"""`etl infra plan|apply|destroy`, the thin wrapper around Terraform.

Where a `terraform` executable is needed, the tests put a recording stand-in on PATH: a real
Terraform cannot plan here (no provider can be downloaded), and what the wrapper owns is the
command line, the working directory and the exit code, which the stand-in records.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl_bigquery.cli.infra import app
from etl_bigquery.service.infra_inputs import (
    SCHEDULED_JOBS_FILE,
    InfraInputError,
    find_terraform_dir,
    prepare_terraform_run,
)

from .tfconfig import REPO_ROOT, TERRAFORM_DIR

RECORDER = """#!/bin/sh
printf '%s\\n' "$PWD" > "$RECORD_FILE"
for arg in "$@"; do printf '%s\\n' "$arg" >> "$RECORD_FILE"; done
exit "${EXIT_CODE:-0}"
"""


def run_cli(
    *args: str, path: str, cwd: Path = REPO_ROOT, **env: str
) -> subprocess.CompletedProcess:
    """Run `python -m cli.infra` as a user would, with its own PATH and real
    stdin/stdout."""
    environment = {**os.environ, "PATH": path, **env}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-m", "etl_bigquery.cli.infra", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def fake_terraform(tmp_path: Path) -> tuple[Path, Path]:
    """A directory holding a `terraform` that records its cwd and arguments, and the record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable = bin_dir / "terraform"
    executable.write_text(RECORDER, encoding="utf-8")
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    return bin_dir, tmp_path / "record.txt"


def test_without_terraform_on_path_it_says_so_in_one_sentence_and_fails(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("plan", path=str(empty))
    assert result.returncode != 0
    message = result.stderr.strip()
    assert message.startswith("No `terraform` binary was found on PATH")
    assert message.endswith(".") and "\n" not in message and ". " not in message  # one sentence
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["plan", "apply", "destroy"])
def test_every_command_checks_for_terraform_first(command, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 1
    assert "No `terraform` binary was found on PATH" in result.output


def test_plan_runs_in_infra_terraform_with_absolute_var_files(fake_terraform, tmp_path: Path):
    bin_dir, record = fake_terraform
    result = run_cli(
        "plan",
        "--var-file",
        "infra/terraform/example.tfvars",
        path=str(bin_dir),
        RECORD_FILE=str(record),
    )
    assert result.returncode == 0, result.stderr
    cwd, *argv = record.read_text(encoding="utf-8").splitlines()
    assert Path(cwd) == TERRAFORM_DIR
    assert argv == ["plan", "-input=false", f"-var-file={TERRAFORM_DIR / 'example.tfvars'}"]


def test_apply_and_destroy_pass_auto_approve_and_terraforms_exit_code(fake_terraform):
    bin_dir, record = fake_terraform
    for command in ("apply", "destroy"):
        result = run_cli(
            command, "--auto-approve", path=str(bin_dir), RECORD_FILE=str(record), EXIT_CODE="3"
        )
        assert result.returncode == 3, result.stderr
        assert record.read_text(encoding="utf-8").splitlines()[1:] == [
            command,
            "-input=false",
            "-auto-approve",
        ]


def test_a_missing_var_file_is_reported_before_terraform_runs(fake_terraform):
    bin_dir, record = fake_terraform
    result = run_cli(
        "plan", "--var-file", "nope.tfvars", path=str(bin_dir), RECORD_FILE=str(record)
    )
    assert result.returncode == 1
    assert "The var file nope.tfvars does not exist." in result.stderr
    assert not record.exists()


def _terraform_checkout(root: Path, jobs: dict | str | None) -> Path:
    tf_dir = root / "infra" / "terraform"
    tf_dir.mkdir(parents=True)
    (tf_dir / "main.tf").write_text("", encoding="utf-8")
    if jobs is not None:
        content = jobs if isinstance(jobs, str) else json.dumps(jobs)
        (tf_dir / SCHEDULED_JOBS_FILE).write_text(content, encoding="utf-8")
    return tf_dir


def test_a_bad_generated_jobs_file_stops_the_run_with_the_reason(fake_terraform, tmp_path: Path):
    bin_dir, record = fake_terraform
    checkout = tmp_path / "checkout"
    jobs = {"scheduled_jobs": {"orders": {"cron": "daily", "deployment_name": "f/orders"}}}
    _terraform_checkout(checkout, jobs)
    result = run_cli("plan", path=str(bin_dir), cwd=checkout, RECORD_FILE=str(record))
    assert result.returncode == 1
    assert "five-field" in result.stderr and "missing ['deployment_id']" in result.stderr
    assert not record.exists()


def test_a_valid_generated_jobs_file_is_counted_and_left_to_terraform(
    fake_terraform, tmp_path: Path
):
    bin_dir, record = fake_terraform
    checkout = tmp_path / "checkout"
    example = (TERRAFORM_DIR / "examples" / SCHEDULED_JOBS_FILE).read_text(encoding="utf-8")
    tf_dir = _terraform_checkout(checkout, example)
    result = run_cli("plan", path=str(bin_dir), cwd=checkout / "infra", RECORD_FILE=str(record))
    assert result.returncode == 0, result.stderr
    assert "3 scheduled job(s)" in result.stdout
    cwd, *argv = record.read_text(encoding="utf-8").splitlines()
    assert Path(cwd) == tf_dir
    assert argv == ["plan", "-input=false"]  # Terraform loads *.auto.tfvars.json itself


def test_the_command_line_is_the_documented_one(tmp_path: Path):
    var_file = tmp_path / "prod.tfvars"
    var_file.write_text('project_id = "x"\n', encoding="utf-8")
    run = prepare_terraform_run(
        "apply", [var_file], auto_approve=True, binary="/opt/terraform", cwd=REPO_ROOT
    )
    assert run.argv() == [
        "/opt/terraform",
        "apply",
        "-input=false",
        f"-var-file={var_file}",
        "-auto-approve",
    ]


def test_outside_a_checkout_the_shipped_configuration_is_copied_to_the_project(tmp_path: Path):
    """An installed product has no infra/terraform beside it: Terraform must not run inside
    site-packages (it writes .terraform/ and state there), so the shipped files are copied."""
    found = find_terraform_dir(tmp_path)
    assert found == tmp_path / "infra" / "terraform"
    assert (found / "main.tf").read_text() == (TERRAFORM_DIR / "main.tf").read_text()
    assert (found / "modules" / "iam" / "main.tf").is_file()
    assert find_terraform_dir(tmp_path / "infra") == found  # found again, not copied twice


def test_plan_refuses_auto_approve_and_unknown_commands():
    with pytest.raises(InfraInputError, match="apply and destroy only"):
        prepare_terraform_run("plan", auto_approve=True, binary="terraform", cwd=REPO_ROOT)
    with pytest.raises(InfraInputError, match="Unknown command"):
        prepare_terraform_run("import", binary="terraform", cwd=REPO_ROOT)
    result = CliRunner().invoke(app, ["plan", "--auto-approve"])
    assert result.exit_code != 0


def test_the_terraform_directory_is_found_from_anywhere_in_the_checkout():
    assert find_terraform_dir(REPO_ROOT / "tests" / "infra") == TERRAFORM_DIR
    assert find_terraform_dir(TERRAFORM_DIR / "modules" / "iam") == TERRAFORM_DIR


def test_help_lists_the_three_commands():
    result = CliRunner().invoke(app, [])
    for command in ("plan", "apply", "destroy"):
        assert command in result.output


def test_the_wrapper_and_its_inputs_do_not_import_prefect():
    code = (
        "import sys, etl_bigquery.cli.infra, etl_bigquery.service.infra_inputs; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
