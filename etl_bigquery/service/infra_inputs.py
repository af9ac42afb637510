"""Inputs of the Terraform configuration in ``infra/terraform/`` and how ``etl infra`` runs it.

Kept free of Prefect and of the Terraform wrapper library so the deployments code can generate the
scheduled-jobs file, and tests can check it, without either.

The scheduled-jobs file
-----------------------
``infra/terraform/scheduled_jobs.auto.tfvars.json`` lists the jobs whose schedule Cloud Scheduler
drives (instead of Prefect's own scheduler). Terraform loads it automatically::

    {
      "scheduled_jobs": {
        "<job name>": {
          "cron": "0 9 * * *",                # five-field unix cron
          "time_zone": "Europe/Warsaw",       # IANA name; optional, default UTC
          "paused": false,                    # optional, default false
          "deployment_name": "<flow>/<deployment>",
          "deployment_id": "<deployment UUID>"
        }
      }
    }

Each entry becomes the Cloud Scheduler job ``etl-job-<job name>``, which POSTs to
``{PREFECT_API_URL}/deployments/{deployment_id}/create_flow_run``. The file carries the id because
Cloud Scheduler makes exactly one HTTP call and cannot look a name up first; Prefect keeps a
deployment's id when ``prefect deploy`` updates it, so the id only changes when a deployment is
deleted and created again, and regenerating the file after ``prefect deploy`` picks that up. The
name is kept beside it for people reading the job and for that regeneration
(``GET /deployments/name/{flow}/{deployment}`` returns the id).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEDULED_JOBS_FILE = "scheduled_jobs.auto.tfvars.json"
SCHEDULED_JOBS_VARIABLE = "scheduled_jobs"
SCHEDULER_JOB_PREFIX = "etl-job-"
TERRAFORM_COMMANDS = ("plan", "apply", "destroy")

# Cloud Scheduler job IDs allow [A-Za-z0-9_-], at most 500 characters, and the prefix takes 8.
_JOB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,492}$")
# A cron field: numbers, names (MON, JAN), ranges, steps, lists and wildcards.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,-]+$")
_DEPLOYMENT_NAME = re.compile(r"^[^/]+/[^/]+$")
_JOB_KEYS = {"cron", "time_zone", "paused", "deployment_name", "deployment_id"}
_REQUIRED_JOB_KEYS = {"cron", "deployment_name", "deployment_id"}


class InfraInputError(ValueError):
    """An input for Terraform is wrong; the message says what and where, in plain sentences."""


@dataclass(frozen=True)
class ScheduledJob:
    """One job whose schedule Cloud Scheduler drives."""

    name: str
    cron: str
    deployment_name: str
    deployment_id: str
    time_zone: str = "UTC"
    paused: bool = False

    @property
    def scheduler_job_name(self) -> str:
        """The Cloud Scheduler job ID, as the scheduler module names it."""
        return f"{SCHEDULER_JOB_PREFIX}{self.name}"

    def tfvars_entry(self) -> dict[str, Any]:
        return {
            "cron": self.cron,
            "time_zone": self.time_zone,
            "paused": self.paused,
            "deployment_name": self.deployment_name,
            "deployment_id": self.deployment_id,
        }


def _job_problems(name: str, entry: Any) -> list[str]:
    """Everything wrong with one entry, so a user fixes a file in one pass, not one per run."""
    where = f"scheduled job {name!r}"
    if not isinstance(entry, Mapping):
        return [f"{where} must be an object with cron, deployment_name and deployment_id."]
    problems: list[str] = []
    if not _JOB_NAME.match(name):
        problems.append(
            f"{where}: the name may contain only letters, digits, hyphens and underscores "
            "(at most 492), because it becomes the Cloud Scheduler job etl-job-<name>."
        )
    unknown = sorted(set(entry) - _JOB_KEYS)
    if unknown:
        problems.append(f"{where} has unknown keys {unknown}; allowed: {sorted(_JOB_KEYS)}.")
    missing = sorted(_REQUIRED_JOB_KEYS - set(entry))
    if missing:
        problems.append(f"{where} is missing {missing}.")

    cron = entry.get("cron")
    if "cron" in entry:
        # Split on single spaces, as the Terraform validation does, so both accept the same text.
        fields = cron.strip().split(" ") if isinstance(cron, str) else []
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            problems.append(f"{where}: cron {cron!r} is not a five-field unix cron expression.")

    time_zone = entry.get("time_zone", "UTC")
    if not _is_time_zone(time_zone):
        problems.append(f"{where}: time_zone {time_zone!r} is not an IANA time zone name.")

    if not isinstance(entry.get("paused", False), bool):
        problems.append(f"{where}: paused must be true or false.")

    deployment_name = entry.get("deployment_name")
    if "deployment_name" in entry and not (
        isinstance(deployment_name, str) and _DEPLOYMENT_NAME.match(deployment_name)
    ):
        problems.append(f"{where}: deployment_name must be <flow name>/<deployment name>.")

    if "deployment_id" in entry and _canonical_uuid(entry.get("deployment_id")) is None:
        problems.append(f"{where}: deployment_id must be the deployment's UUID.")
    return problems


def _is_time_zone(value: Any) -> bool:
    if not isinstance(value, str) or not value or value.startswith("/") or ".." in value:
        return False
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _canonical_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def parse_scheduled_jobs(document: Any) -> list[ScheduledJob]:
    """Validate a scheduled-jobs document (the file's JSON) and return its jobs, sorted by name.

    Checks the same rules as the scheduler module's variable validation, plus what Terraform
    cannot check (a real time zone, unknown keys), and reports every problem at once.
    """
    if not isinstance(document, Mapping) or set(document) != {SCHEDULED_JOBS_VARIABLE}:
        raise InfraInputError(
            "A scheduled-jobs file must be a JSON object with the single key "
            f'"{SCHEDULED_JOBS_VARIABLE}".'
        )
    jobs = document[SCHEDULED_JOBS_VARIABLE]
    if not isinstance(jobs, Mapping):
        raise InfraInputError(f'"{SCHEDULED_JOBS_VARIABLE}" must map job names to jobs.')
    problems = [p for name, entry in jobs.items() for p in _job_problems(name, entry)]
    if problems:
        raise InfraInputError(" ".join(problems))
    return sorted(
        (
            ScheduledJob(
                name=name,
                cron=entry["cron"],
                deployment_name=entry["deployment_name"],
                deployment_id=_canonical_uuid(entry["deployment_id"]) or "",
                time_zone=entry.get("time_zone", "UTC"),
                paused=entry.get("paused", False),
            )
            for name, entry in jobs.items()
        ),
        key=lambda job: job.name,
    )


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.load keeps the last of two equal keys; two jobs with one name would silently become one.
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise InfraInputError(f"Duplicate keys {duplicates} in the scheduled-jobs file.")
    return dict(pairs)


def load_scheduled_jobs(path: Path) -> list[ScheduledJob]:
    """Read and validate a scheduled-jobs file."""
    try:
        document = json.loads(
            Path(path).read_text(encoding="utf-8"), object_pairs_hook=_reject_duplicate_keys
        )
    except json.JSONDecodeError as exc:
        raise InfraInputError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}).") from exc
    except InfraInputError as exc:
        raise InfraInputError(f"{path}: {exc}") from exc
    try:
        return parse_scheduled_jobs(document)
    except InfraInputError as exc:
        raise InfraInputError(f"{path}: {exc}") from exc


def scheduled_jobs_document(jobs: Iterable[ScheduledJob]) -> dict[str, Any]:
    """The file's JSON for these jobs; refuses two jobs with one name."""
    entries: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if job.name in entries:
            raise InfraInputError(f"Two scheduled jobs are named {job.name!r}.")
        entries[job.name] = job.tfvars_entry()
    document = {SCHEDULED_JOBS_VARIABLE: dict(sorted(entries.items()))}
    parse_scheduled_jobs(document)  # the writer never produces a file the reader would refuse
    return document


def write_scheduled_jobs_file(jobs: Iterable[ScheduledJob], path: Path | None = None) -> Path:
    """Write the scheduled-jobs file (default: into the Terraform directory) and return its path.

    The write is atomic so an interrupted generation never leaves half a file for Terraform to
    read as "no jobs", which would plan to delete every scheduler job.
    """
    target = Path(path) if path is not None else find_terraform_dir() / SCHEDULED_JOBS_FILE
    text = json.dumps(scheduled_jobs_document(jobs), indent=2) + "\n"
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write(text)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def scheduler_job_names(jobs: Iterable[ScheduledJob]) -> dict[str, str]:
    """ETL job name -> Cloud Scheduler job ID, the mapping the scheduler module applies."""
    return {job.name: job.scheduler_job_name for job in jobs}


# --- running Terraform ----------------------------------------------------------------------------


def find_terraform_dir(start: Path | None = None) -> Path:
    """The ``infra/terraform`` directory: searched upwards from ``start`` (default: the current
    directory), so ``etl infra`` works from anywhere in a checkout. Without one (the product
    installed from its wheel), the configuration shipped with the package is copied to
    ``<start>/infra/terraform`` first: Terraform writes its working files and local state
    beside the configuration, and that must never be inside site-packages."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "infra" / "terraform"
        if (candidate / "main.tf").is_file():
            return candidate
    return copy_packaged_terraform(here / "infra" / "terraform")


def copy_packaged_terraform(target: Path) -> Path:
    from etl_bigquery.resources import terraform_dir

    shipped = terraform_dir()
    if not (shipped / "main.tf").is_file():
        raise InfraInputError(
            "No infra/terraform directory with a main.tf was found above the current directory, "
            "and this installation carries none; reinstall etl-bigquery."
        )
    shutil.copytree(shipped, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))  # fmt: skip
    return target


@dataclass(frozen=True)
class TerraformRun:
    """One terraform invocation, fully resolved: what `etl infra` hands to the wrapper library."""

    binary: str
    working_dir: Path
    command: str
    var_files: tuple[Path, ...] = ()
    auto_approve: bool = False
    scheduled_jobs: tuple[ScheduledJob, ...] = field(default=())

    def argv(self) -> list[str]:
        """The command line `etl infra` runs, in `working_dir`."""
        args = [self.binary, self.command, "-input=false"]
        args += [f"-var-file={p}" for p in self.var_files]
        if self.auto_approve:
            args.append("-auto-approve")
        return args


def prepare_terraform_run(
    command: str,
    var_files: Sequence[Path] = (),
    *,
    auto_approve: bool = False,
    binary: str | None = None,
    terraform_dir: Path | None = None,
    cwd: Path | None = None,
) -> TerraformRun:
    """Check everything that can be checked before Terraform starts, and resolve paths.

    ``binary`` defaults to ``terraform`` looked up on PATH. Var files are given relative to where
    the user stands but Terraform runs in ``infra/terraform``, so they are made absolute here.
    """
    if command not in TERRAFORM_COMMANDS:
        raise InfraInputError(f"Unknown command {command!r}; use one of {TERRAFORM_COMMANDS}.")
    if auto_approve and command == "plan":
        raise InfraInputError("--auto-approve applies to apply and destroy only.")
    resolved_binary = binary or shutil.which("terraform")
    if resolved_binary is None:
        raise InfraInputError(
            "No `terraform` binary was found on PATH: install Terraform 1.5 or newer "
            "(see docs/infrastructure.md) and run this command again."
        )
    base = Path(cwd or Path.cwd())
    tf_dir = terraform_dir or find_terraform_dir(base)
    resolved: list[Path] = []
    for var_file in var_files:
        path = Path(var_file) if Path(var_file).is_absolute() else base / var_file
        if not path.is_file():
            raise InfraInputError(f"The var file {var_file} does not exist.")
        resolved.append(path.resolve())

    # The generated file is loaded by Terraform on its own; validating it here turns a bad
    # generation into one clear message instead of a Terraform type error per job.
    jobs_file = tf_dir / SCHEDULED_JOBS_FILE
    jobs = load_scheduled_jobs(jobs_file) if jobs_file.is_file() else []
    return TerraformRun(
        binary=resolved_binary,
        working_dir=tf_dir,
        command=command,
        var_files=tuple(resolved),
        auto_approve=auto_approve,
        scheduled_jobs=tuple(jobs),
    )


# --- generating the scheduled-jobs file from prefect.yaml ----------------------------------------


def scheduled_jobs_from_prefect_yaml(
    prefect_yaml: Path, deployment_id: Callable[[str], object]
) -> list[ScheduledJob]:
    """The Cloud Scheduler jobs prefect.yaml asks for: one per job deployment tagged
    ``etl-scheduler:cloud-scheduler`` (a job file's ``scheduler: cloud-scheduler``), with its
    cron, time zone and paused state from the deployment and its id from ``deployment_id(name)``
    (the Prefect server's, since Cloud Scheduler needs the id, see the module docstring).

    prefect.yaml is the one source: the file is generated from it, never edited by hand.
    """
    from etl_bigquery.service.prefect_yaml import FLOW_NAME, PrefectYaml

    jobs = []
    for deployed in PrefectYaml(prefect_yaml).jobs():
        settings = deployed.definition.deployment
        if settings.scheduler != "cloud-scheduler":
            continue
        schedule = settings.schedule
        if schedule.cron is None:  # the job file refuses this; a hand-edited prefect.yaml may not
            raise InfraInputError(
                f"{prefect_yaml}: job {deployed.name!r} is driven by Cloud Scheduler but has no "
                "schedule; give it one or remove scheduler: cloud-scheduler."
            )
        jobs.append(
            ScheduledJob(
                name=deployed.name,
                cron=schedule.cron,
                time_zone=schedule.timezone,
                paused=deployed.paused,
                deployment_name=f"{FLOW_NAME}/{deployed.name}",
                deployment_id=str(deployment_id(deployed.name)),
            )
        )
    return jobs
