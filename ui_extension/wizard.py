"""The job wizard's form → a job file's fields, parsed by the same code as a job file
(service.job_files.parse_job_definition), so the console can create nothing the CLI would refuse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl_bigquery.service.job_files import JobDefinition, parse_job_definition

WHERE = "the new job form"


def _text(form: Mapping[str, Any], key: str) -> str:
    value = form.get(key)
    return str(value).strip() if value is not None else ""


def schedule_from_form(form: Mapping[str, Any]) -> Any:
    kind = _text(form, "schedule_kind") or "manual"
    at = _text(form, "at") or "00:00"
    if kind == "manual":
        return "manual"
    if kind == "hourly":
        minute = _text(form, "minute") or "0"
        return {"hourly": {"minute": int(minute) if minute.isdigit() else minute}}
    if kind == "daily":
        return {"daily": {"at": at}}
    if kind == "weekly":
        return {"weekly": {"on": _text(form, "weekday") or "mon", "at": at}}
    if kind == "monthly":
        day = _text(form, "day") or "1"
        return {"monthly": {"day": int(day) if day.isdigit() else day, "at": at}}
    return {"cron": _text(form, "cron")}


def job_fields_from_form(form: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    """The job file the form describes (what `etl job edit NAME --show` would print back)."""
    table = (
        _text(form, "dest_table_existing")
        if _text(form, "dest_mode") == "existing"
        else _text(form, "dest_table_new")
    )
    destination: dict[str, Any] = {"block": _text(form, "destination")}
    if _text(form, "dataset"):
        destination["dataset"] = _text(form, "dataset")
    if table:
        destination["table"] = table
    source: dict[str, Any] = {"table": _text(form, "table")}
    if _text(form, "schema"):
        source["schema"] = _text(form, "schema")
    data: dict[str, Any] = {
        "name": _text(form, "name"),
        "connection": _text(form, "connection"),
        "source": source,
        "columns": columns,
        "destination": destination,
        "load_type": _text(form, "load_type") or "catalog",
    }
    if data["load_type"] in ("transactional", "merge", "history"):
        for key in ("cursor_column", "backfill_start", "lookback"):
            if _text(form, key):
                data[key] = _text(form, key)
    if data["load_type"] in ("merge", "history"):  # keyed by the table's primary key
        for key in ("deletes", "delete_check"):
            if _text(form, key):
                data[key] = _text(form, key)
        if data.get("deletes") in (None, "none"):
            data.pop("delete_check", None)
    data["schedule"] = schedule_from_form(form)
    data["timezone"] = _text(form, "timezone") or "UTC"
    if _text(form, "description"):
        data["description"] = _text(form, "description")
    return data


def definition_from_form(form: Mapping[str, Any], columns: list[str]) -> JobDefinition:
    """Raises the job file's one-sentence ConfigurationError when something is wrong."""
    return parse_job_definition(job_fields_from_form(form, columns), WHERE)


# Types a cursor can be read by, and the column names that say "changed at" / "created at".
_CURSOR_TYPES = {"TIMESTAMP": 0, "DATETIME": 0, "DATE": 1, "INT64": 2, "NUMERIC": 3}
_UPDATED = ("updated", "modified", "changed", "last_update", "mtime")
_CREATED = ("created", "inserted", "added")


def cursor_choice(name: str, bq_type: str, nullable: bool = True) -> tuple[int, str] | None:
    """(rank, reason) when the column can serve as a transactional job's cursor, lower ranks
    first: an updated/modified timestamp sees every changed row, a created one every new row,
    another timestamp or a growing number only what its values say. None when it cannot."""
    base = bq_type.split("(")[0].upper()
    if base not in _CURSOR_TYPES:
        return None
    lowered = name.lower()
    when = "timestamp" if _CURSOR_TYPES[base] == 0 else base.lower()
    null = "" if not nullable else " (nullable: rows with no value are never read)"
    if base != "INT64" and any(w in lowered for w in _UPDATED):
        return 0, f"recommended: an updated/modified {when} sees new and changed rows{null}"
    if base != "INT64" and any(w in lowered for w in _CREATED):
        return 10, f"a created {when}: new rows only, changes to old rows are missed{null}"
    if _CURSOR_TYPES[base] <= 1:
        return 20 + _CURSOR_TYPES[base], f"a {when}: rows are read in order of its values{null}"
    return 30 + _CURSOR_TYPES[base], (
        f"a growing number ({base}): new rows only, if it only ever grows{null}"
    )
