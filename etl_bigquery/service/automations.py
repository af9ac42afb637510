"""Failure alerts as code: the automations in `automations/*.yaml`, applied to the Prefect server.

Each file is one automation (or, with `for_each_job: true`, one per deployed job, filled in from
prefect.yaml): a Prefect event trigger, and a notification sent through the notification block
named by `notify` (default `etl-alerts`, a webhook block `ensure_webhook_channel` creates).
Applying is idempotent: an automation that already matches its file is left alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.resources import resource_path
from etl_bigquery.service.job_files import format_duration
from etl_bigquery.service.prefect_yaml import PrefectYaml

DEFAULT_CHANNEL = "etl-alerts"
MIN_STUCK_LIMIT = dt.timedelta(seconds=10)
OWNED_PREFIX = "etl-"
_FILE_KEYS = {
    "name", "description", "trigger", "notify", "subject", "body", "for_each_job", "enabled",
}  # fmt: skip


@dataclass
class AppliedAutomations:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def ensure_webhook_channel(url: str, name: str = DEFAULT_CHANNEL) -> bool:
    """A webhook notification block POSTing {"subject", "body"} as JSON; True if it changed."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    wanted = CustomWebhookNotificationBlock(
        name=name,
        url=url,
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
        headers=None,
        cookies=None,
    )
    try:
        current = cast(CustomWebhookNotificationBlock, CustomWebhookNotificationBlock.load(name))
        if current.url == url and current.json_data == wanted.json_data:
            return False
    except ValueError:
        pass
    wanted.save(name, overwrite=True)
    return True


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in values.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, dict):
        return {_fill(k, values): _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def load_definitions(folder: Path, prefect_yaml: Path | None) -> list[dict[str, Any]]:
    """The automations the files describe, with per-job ones expanded."""
    jobs = PrefectYaml(prefect_yaml).jobs() if prefect_yaml and prefect_yaml.is_file() else []
    definitions = []
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ConfigurationError(f"No automation files (*.yaml) in {folder}.")
    for file in files:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not {"name", "trigger"} <= set(document):
            raise ConfigurationError(f"{file}: an automation needs name, trigger and notify.")
        unknown = sorted(set(document) - _FILE_KEYS)
        if unknown:
            raise ConfigurationError(f"{file}: unknown keys {unknown}.")
        if not document.get("for_each_job"):
            definitions.append({**document, "_file": str(file)})
            continue
        for deployed in jobs:
            # Prefect refuses a proactive trigger's `within` under 10 s: a shorter limit alerts
            # after 10 s, and the alert says so.
            limit = max(deployed.definition.deployment.max_duration, MIN_STUCK_LIMIT)
            values = {
                "job": deployed.name,
                "max_duration": format_duration(limit),
                "max_duration_seconds": str(int(limit.total_seconds())),
            }
            definitions.append({**_fill(document, values), "_file": str(file)})
    return definitions


def _automation(definition: dict[str, Any], block_ids: dict[str, Any]) -> AutomationCore:
    channel = definition.get("notify") or DEFAULT_CHANNEL
    if channel not in block_ids:
        raise ConfigurationError(
            f"{definition['_file']}: notification block '{channel}' does not exist; create it "
            "with `etl automations apply --webhook URL` or on the Prefect UI's Blocks page."
        )
    trigger = dict(definition["trigger"])
    if isinstance(trigger.get("within"), str):
        trigger["within"] = int(trigger["within"])
    return AutomationCore(
        name=definition["name"],
        description=definition.get("description") or "",
        enabled=definition.get("enabled", True),
        tags=["etl"],
        trigger=EventTrigger.model_validate(trigger),
        actions=[
            SendNotification(
                block_document_id=block_ids[channel],
                subject=definition.get("subject") or definition["name"],
                body=definition.get("body") or definition.get("description") or "",
            )
        ],
    )


# Fields of a trigger Prefect holds as sets: dumped as lists in the set's iteration order, which
# depends on the process's string hashing and on insertion order (a re-apply that changed nothing
# once reported `updated` for the two events of etl-run-failed).
_SET_FIELDS = ("expect", "after", "for_each")


def _sorted_sets(trigger: Any) -> Any:
    if not isinstance(trigger, dict):
        return trigger
    data = {key: _sorted_sets(value) for key, value in trigger.items()}
    if isinstance(data.get("triggers"), list):  # compound and sequence triggers
        data["triggers"] = [_sorted_sets(t) for t in data["triggers"]]
    for key in _SET_FIELDS:
        if isinstance(data.get(key), list):
            data[key] = sorted(data[key])
    return data


def _comparable(automation: Any) -> dict[str, Any]:
    data = automation.model_dump(mode="json")
    data["trigger"] = _sorted_sets(data.get("trigger"))
    return {
        key: data.get(key)
        for key in ("name", "description", "enabled", "tags", "trigger", "actions")
    }


def default_folder() -> Path:
    """The automations shipped with the package (alerts on failed, partial, stuck runs and on a
    connection that stops working)."""
    return resource_path("automations")


def apply_automations(
    folder: str | Path | None = None, prefect_yaml: str | Path | None = "prefect.yaml"
) -> AppliedAutomations:
    """Create or update the automations of `folder` (default: the shipped ones); remove `etl-`
    automations that no file describes any more (e.g. the stuck-run alert of a deleted job)."""
    folder = Path(folder) if folder else default_folder()
    prefect_file = Path(prefect_yaml) if prefect_yaml and Path(prefect_yaml).exists() else None
    definitions = load_definitions(folder, prefect_file)
    outcome = AppliedAutomations()
    with get_client(sync_client=True) as client:
        channels = {d.get("notify") or DEFAULT_CHANNEL for d in definitions}
        block_ids = {}
        for channel in channels:
            block = _find_notification_block(client, channel)
            if block is not None:
                block_ids[channel] = block
        wanted = [_automation(d, block_ids) for d in definitions]
        existing = {a.name: a for a in client.read_automations() if "etl" in (a.tags or [])}
        for automation in wanted:
            current = existing.pop(automation.name, None)
            if current is None:
                client.create_automation(automation)
                outcome.created.append(automation.name)
            elif _comparable(current) != _comparable(automation):
                client.update_automation(current.id, automation)
                outcome.updated.append(automation.name)
            else:
                outcome.unchanged.append(automation.name)
        for name, stale in existing.items():
            if name.startswith(OWNED_PREFIX):
                client.delete_automation(stale.id)
                outcome.removed.append(name)
    return outcome


def _find_notification_block(client: Any, name: str) -> Any:
    """The id of the notification block (any type that can notify) named `name`."""
    for document in client.read_block_documents(include_secrets=False):
        if document.name != name or document.block_schema is None:
            continue
        if "notify" in (document.block_schema.capabilities or []):
            return document.id
    return None


def names(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"
