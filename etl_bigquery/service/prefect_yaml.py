"""prefect.yaml, the one source of truth for the jobs' deployments, edited in place.

`etl job apply|edit|pause|resume|delete` write the job's deployment here first and then register
it with the Prefect server, so `prefect deploy --all` from the repository always gives back what
the server holds. The file is edited as a round trip (ruamel.yaml): comments, key order and the
deployments nobody touched stay as they were.

A job's deployment::

    - name: orders                                  # the job's name
      description: ...
      entrypoint: etl_bigquery.flows.etl_job:etl_job  # the installed package, not a file
      tags: [etl, "etl-job:orders", "etl-max-duration:2h"]
      work_pool: {name: etl-local, job_variables: {}}
      paused: false
      schedules: [{cron: "0 9 * * *", timezone: Europe/Warsaw, active: true}]
      parameters:
        job: {...}                                  # the job file's job fields
      pull: []                                      # only on pools other than a process pool

The entrypoint is a module of the installed package, so a deployment runs wherever etl-bigquery
is installed (the Cloud Run image) and needs no checkout. Pull steps follow the work pool's kind:
a process pool runs on the machine that applied the job, so the deployment keeps Prefect's
default (`set_working_directory` to the project folder); any other pool (Cloud Run) gets
`pull: []`, so no step names a folder of the applying machine.

What Prefect has no field for rides in tags, so the server carries it too (the console and the
automations read it from there): `etl-max-duration:<d>` (the stuck-run alert's limit) and
`etl-scheduler:cloud-scheduler` (Cloud Scheduler starts the runs; the Prefect schedule stays
inactive so no run starts twice).

Pure: no Prefect import.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.service.job_files import (
    DEFAULT_MAX_DURATION,
    DeploymentSettings,
    JobDefinition,
    format_duration,
    job_fields,
    parse_duration,
    parse_job,
)
from etl_bigquery.service.schedule import DEFAULT_TIMEZONE, from_cron

FLOW_NAME = "etl-job"
ENTRYPOINT = "etl_bigquery.flows.etl_job:etl_job"
# What earlier releases wrote; such deployments are still jobs (re-applying rewrites them).
LEGACY_ENTRYPOINTS = ("flows/etl_job.py:etl_job",)
PROCESS_POOL_TYPE = "process"
PROCESS_POOL = "etl-local"
"""The local process pool `etl job apply` creates when a job names it."""
JOB_TAG = "etl-job:"
MAX_DURATION_TAG = "etl-max-duration:"
SCHEDULER_TAG = "etl-scheduler:"
NEW_PROJECT_FILE = """\
# Deployments of etl-bigquery jobs, one per job, written by `etl job apply`.
# `prefect deploy --all` from this folder gives back what the Prefect server holds.
name: etl-bigquery-jobs
prefect-version: 3.8.8

build: null
push: null
pull: null

deployments: []
"""
# The keys this module owns in a job's deployment; others (version, pull, ...) are left alone.
MANAGED_KEYS = (
    "name",
    "description",
    "entrypoint",
    "tags",
    "concurrency_limit",
    "work_pool",
    "paused",
    "schedules",
    "parameters",
    "pull",
)


def _flow_list(items: list[str]) -> CommentedSeq:
    """A short list written on one line, as people write tags."""
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def deployment_tags(definition: JobDefinition) -> list[str]:
    settings = definition.deployment
    tags = ["etl", f"{JOB_TAG}{definition.job.name}"]
    if settings.max_duration != DEFAULT_MAX_DURATION:
        tags.append(f"{MAX_DURATION_TAG}{format_duration(settings.max_duration)}")
    if settings.scheduler != "prefect":
        tags.append(f"{SCHEDULER_TAG}{settings.scheduler}")
    return tags


def deployment_entry(
    definition: JobDefinition, paused: bool = False, pool_type: str | None = None
) -> dict[str, Any]:
    """The job's deployment, as prefect.yaml holds it. `pool_type` is the work pool's type on
    the server (None when unknown: then only a pool that is known to be a process pool keeps
    the project folder)."""
    job, settings = definition.job, definition.deployment
    schedule = settings.schedule
    schedules = []
    if schedule.cron is not None:
        schedules.append(
            {
                "cron": DoubleQuotedScalarString(schedule.cron),
                "timezone": schedule.timezone,
                "active": settings.scheduler == "prefect",
            }
        )
    dataset = job.destination.dataset or "(default dataset)"
    description = settings.description or (
        f"{job.load_type.value.capitalize()} load: {job.connection} {job.describe_source()} "
        f"-> {dataset}.{job.destination_table}"
    )
    entry: dict[str, Any] = {
        "name": job.name,
        "description": description,
        "entrypoint": ENTRYPOINT,
        "tags": _flow_list(deployment_tags(definition)),
        "work_pool": {"name": settings.work_pool, "job_variables": dict(settings.job_variables)},
        "paused": paused,
        "schedules": schedules,
        "parameters": {"job": job_fields(job)},
    }
    if pool_type is None and settings.work_pool == PROCESS_POOL:
        pool_type = PROCESS_POOL_TYPE  # made as a process pool whenever a job names it
    if pool_type != PROCESS_POOL_TYPE:
        # The image holds the code (a module entrypoint): no step may name this machine's folder.
        entry["pull"] = []
    return entry


@dataclass(frozen=True)
class DeployedJob:
    """A job as its prefect.yaml deployment describes it."""

    definition: JobDefinition
    paused: bool

    @property
    def name(self) -> str:
        return self.definition.job.name


def settings_from_deployment(entry: Mapping[str, Any], where: str) -> DeploymentSettings:
    """A deployment's settings (from prefect.yaml or from the server, in the same shape)."""
    tags = [str(t) for t in entry.get("tags") or []]
    max_duration = DEFAULT_MAX_DURATION
    scheduler = "prefect"
    for tag in tags:
        if tag.startswith(MAX_DURATION_TAG):
            max_duration = parse_duration(tag.removeprefix(MAX_DURATION_TAG), where)
        elif tag.startswith(SCHEDULER_TAG):
            scheduler = tag.removeprefix(SCHEDULER_TAG)
    schedules = entry.get("schedules") or []
    first = schedules[0] if schedules else {}
    schedule = from_cron(first.get("cron"), first.get("timezone") or DEFAULT_TIMEZONE)
    pool = entry.get("work_pool") or {}
    return DeploymentSettings(
        schedule=schedule,
        description=entry.get("description"),
        work_pool=pool.get("name") or "etl-local",
        job_variables=dict(pool.get("job_variables") or {}),
        max_duration=max_duration,
        scheduler=scheduler,
    )


def is_job_deployment(entry: Any) -> bool:
    return isinstance(entry, Mapping) and entry.get("entrypoint") in (
        ENTRYPOINT,
        *LEGACY_ENTRYPOINTS,
    )


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (for comparing and validating)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _merge(target: CommentedMap, new: Mapping[str, Any], managed: tuple[str, ...] | None) -> bool:
    """Make `target` hold `new`, keeping comments and order of what stays; True if it changed.

    A new key goes right after the key before it in `new`, so a deployment keeps its order."""
    changed = False
    previous: str | None = None
    for key, value in new.items():
        current = target.get(key)
        if key in target and _plain(current) == _plain(value):
            previous = key
            continue
        shared = isinstance(current, CommentedMap) and current.anchor.value is not None
        if isinstance(value, Mapping) and isinstance(current, CommentedMap) and not shared:
            changed |= _merge(current, value, None)
        elif key in target:
            target[key] = value  # an anchored mapping is replaced, never edited for all its users
        else:
            position = list(target).index(previous) + 1 if previous in target else 0
            target.insert(position, key, value)
        changed = True
        previous = key
    removable = managed if managed is not None else tuple(target)
    for key in [k for k in target if k in removable and k not in new]:
        del target[key]
        changed = True
    return changed


def _represent_none(representer: Any, _data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


class PrefectYaml:
    """prefect.yaml, read and written as a round trip."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        """`create`: a missing file is started as a new project file (an installed product
        applied in an empty folder); otherwise a missing file is an error."""
        self.path = Path(path)
        if create and not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(NEW_PROJECT_FILE, encoding="utf-8")
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._yaml.width = 100
        self._yaml.indent(mapping=2, sequence=4, offset=2)
        self._yaml.representer.add_representer(type(None), _represent_none)
        if not self.path.is_file():
            raise ConfigurationError(
                f"{self.path} does not exist; run from the repository root or pass --prefect-yaml."
            )
        try:
            self.document = self._yaml.load(self.path.read_text(encoding="utf-8"))
        except Exception as error:  # ruamel's errors are many classes
            raise ConfigurationError(
                f"{self.path} is not valid YAML ({type(error).__name__})."
            ) from None
        if not isinstance(self.document, CommentedMap):
            raise ConfigurationError(f"{self.path} must be a mapping with a deployments list.")
        if self.document.get("deployments") is None:
            self.document["deployments"] = CommentedSeq()

    @property
    def deployments(self) -> CommentedSeq:
        return self.document["deployments"]

    def find(self, name: str) -> CommentedMap | None:
        for entry in self.deployments:
            if isinstance(entry, CommentedMap) and entry.get("name") == name:
                return entry
        return None

    def job(self, name: str) -> DeployedJob | None:
        entry = self.find(name)
        if entry is None or not is_job_deployment(entry):
            return None
        return self._deployed(entry)

    def jobs(self) -> list[DeployedJob]:
        return [self._deployed(e) for e in self.deployments if is_job_deployment(e)]

    def _deployed(self, entry: Mapping[str, Any]) -> DeployedJob:
        where = f"{self.path} deployment {entry.get('name')!r}"
        plain = _plain(entry)
        job = parse_job((plain.get("parameters") or {}).get("job") or {}, where)
        settings = settings_from_deployment(plain, where)
        definition = JobDefinition(job, settings, settings.schedule.warnings)
        return DeployedJob(definition, bool(plain.get("paused", False)))

    def upsert(self, entry: Mapping[str, Any]) -> str:
        """Write one deployment; returns created, updated or unchanged."""
        existing = self.find(entry["name"])
        if existing is None:
            self.deployments.append(CommentedMap(entry))
            return "created"
        if existing.get("entrypoint") not in (None, ENTRYPOINT, *LEGACY_ENTRYPOINTS):
            raise ConfigurationError(
                f"Deployment {entry['name']!r} in {self.path} is not an etl-job deployment; "
                "choose another job name."
            )
        return "updated" if _merge(existing, entry, MANAGED_KEYS) else "unchanged"

    def set_paused(self, name: str, paused: bool) -> bool:
        entry = self.find(name)
        if entry is None:
            return False
        entry["paused"] = paused
        return True

    def remove(self, name: str) -> bool:
        for index, entry in enumerate(self.deployments):
            if isinstance(entry, Mapping) and entry.get("name") == name:
                del self.deployments[index]
                return True
        return False

    def dumps(self) -> str:
        buffer = io.StringIO()
        self._yaml.dump(self.document, buffer)
        return buffer.getvalue()

    def save(self) -> None:
        """Atomic: a crash never leaves half a prefect.yaml."""
        text = self.dumps()
        fd, temporary = tempfile.mkstemp(prefix=".prefect.yaml.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
