"""The job wizard's form → a job file's fields, parsed by the same code as a job file
(service.job_files.parse_job_definition), so the console can create nothing the CLI would refuse.

The form's source is one of the job model's kinds (`source_kind`): a table or collection
(`schema`, `table`), a query (`query`), or files (`prefix`, `glob`, `format` and `csv_*`
options). Each column row may carry a type override (`type:COLUMN`, empty = as proposed) and,
for merge and history jobs, a key mark (`key_columns`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from etl_bigquery.engine.jobs.model import CsvOptions
from etl_bigquery.service.job_files import JobDefinition, parse_job_definition

WHERE = "the new job form"
TYPE_FIELD = "type:"


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
    kind = _text(form, "source_kind") or "table"
    source = source_from_form(form, kind)
    data: dict[str, Any] = {
        "name": _text(form, "name"),
        "connection": _text(form, "connection"),
        "source": source,
        "columns": columns,
        "destination": destination,
        "load_type": _text(form, "load_type") or "catalog",
    }
    types = column_types_from_form(form, columns)
    if types:
        data["column_types"] = types
    # A transactional files job loads new or changed files: no cursor (engine.jobs.model).
    cursor_based = data["load_type"] in ("merge", "history") or (
        data["load_type"] == "transactional" and kind != "files"
    )
    if data["load_type"] in ("merge", "history"):
        keys = [str(k) for k in _list(form, "key_columns") if not columns or k in columns]
        if keys:
            data["key_columns"] = keys
    if cursor_based:
        for key in ("cursor_column", "backfill_start", "lookback"):
            if _text(form, key):
                data[key] = _text(form, key)
    if data["load_type"] in ("merge", "history"):  # keyed by key_columns or the primary key
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


def _list(form: Mapping[str, Any], key: str) -> list[Any]:
    getlist = getattr(form, "getlist", None)
    if getlist is not None:
        return list(getlist(key))
    value = form.get(key)
    return value if isinstance(value, list) else [] if value is None else [value]


def source_from_form(form: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The job's `source:`: only what differs from the job model's defaults is written."""
    if kind == "query":
        return {"kind": "query", "query": _text(form, "query")}
    if kind == "files":
        source: dict[str, Any] = {"kind": "files", "prefix": _text(form, "prefix"),
                                  "glob": _text(form, "glob") or "*",
                                  "format": _text(form, "format") or "csv"}  # fmt: skip
        if source["format"] == "csv":
            csv = csv_options_from_form(form)
            if csv:
                source["csv"] = csv
        if not source["prefix"]:
            source.pop("prefix")
        return source
    table: dict[str, Any] = {"table": _text(form, "table")}
    if _text(form, "schema"):
        table["schema"] = _text(form, "schema")
    return table


def csv_options_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The CSV options the form sets that differ from CsvOptions' defaults."""
    defaults = CsvOptions()
    skip = _text(form, "csv_skip_rows")
    chosen: dict[str, Any] = {
        "delimiter": form.get("csv_delimiter") or defaults.delimiter,
        # Empty means values are never quoted (CsvOptions), so it is kept as None.
        "quote": (form.get("csv_quote") or None) if "csv_present" in form else defaults.quote,
        "encoding": _text(form, "csv_encoding") or defaults.encoding,
        # A checkbox posts "on" when ticked and nothing otherwise; the wizard always shows it.
        "header": _text(form, "csv_header") == "on" if "csv_present" in form else True,
        "skip_rows": int(skip) if skip.isdigit() else defaults.skip_rows,
    }
    if chosen["delimiter"] == "\\t":  # typed as the two characters \t
        chosen["delimiter"] = "\t"
    return {k: v for k, v in chosen.items() if v != getattr(defaults, k)}


def column_types_from_form(form: Mapping[str, Any], columns: list[str]) -> dict[str, str]:
    """Type overrides (`type:COLUMN` fields with a value) of the loaded columns."""
    return {
        key[len(TYPE_FIELD) :]: str(value)
        for key, value in form.items()
        if key.startswith(TYPE_FIELD) and str(value).strip()
        and (not columns or key[len(TYPE_FIELD) :] in columns)
    }  # fmt: skip


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
