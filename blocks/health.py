"""Connection tests and their recorded outcome.

A test connects, runs `SELECT 1` and lists tables with row counts; it never changes anything. It
warns when the login could write (a read-only role is the safe choice for ETL).
The outcome is kept in a Prefect variable per connection: the last real status (success / failed),
when, and the message. When the test itself could not run (a timeout, Secret Manager unreachable)
it is recorded as an `error` beside the last real status, never over it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from prefect.variables import Variable

from etl_bigquery.blocks.bigquery import BigQueryDestination
from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.registry import Connection
from etl_bigquery.engine.errors import ConnectionFailed, EtlError
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.abilities import TableCatalog, WarnsOfWriteAccess
from etl_bigquery.engine.sources.base import SourceReader, TableInfo
from etl_bigquery.engine.sources.files.store import FileStore, StoredFile

MAX_TABLES_SHOWN = 100
MAX_FILES_SHOWN = 100


@dataclass
class CheckOutcome:
    status: str
    """success | failed | error"""
    message: str
    tables: list[TableInfo] = field(default_factory=list)
    warning: str | None = None
    """Set when the login could change the database (e.g. a superuser)."""
    files: list[dict[str, Any]] = field(default_factory=list)
    """File connections: up to 100 objects with name, size and last-modified."""
    tested_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True)
class FileInfo:
    name: str
    """Relative to the connection's bucket and prefix."""
    uri: str
    size: int
    modified: str
    """ISO 8601, UTC."""

    @classmethod
    def of(cls, stored: StoredFile) -> FileInfo:
        return cls(stored.name, stored.uri, stored.size, stored.modified.isoformat())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


VARIABLE_PREFIX = "etl_connection_health_"


def _variable_name(connection: str) -> str:
    return VARIABLE_PREFIX + re.sub(r"[^a-z0-9_]", "_", connection.lower())


def _is_system_error(error: EtlError) -> bool:
    # The network or a secret store failing says nothing about the connection's settings.
    if isinstance(error, ConnectionFailed) and error.message == connection_errors.TIMEOUT:
        return True
    return "Secret Manager could not be reached" in error.message


def check_connection(block: Connection) -> CheckOutcome:
    """A source connection's test: databases and document stores ping and list their tables,
    file connections list their objects."""
    if isinstance(block, FileConnection):
        return check_files(block)
    try:
        with block.open_reader() as reader:
            reader.ping()
            tables = reader.list_tables() if isinstance(reader, TableCatalog) else []
            warning = _write_access_warning(reader)
    except EtlError as error:
        return CheckOutcome("error" if _is_system_error(error) else "failed", error.message)
    except Exception as error:  # the test itself broke: not the connection's fault
        return CheckOutcome("error", f"The test could not run ({type(error).__name__}).")
    return CheckOutcome(
        "success",
        f"Connection successful. Found {_tables(len(tables))}.",
        tables[:MAX_TABLES_SHOWN],
        warning,
    )


def _write_access_warning(reader: SourceReader) -> str | None:
    if not isinstance(reader, WarnsOfWriteAccess):
        return None
    try:
        return reader.write_access_warning()
    except Exception:  # the warning is advice: the connection itself works
        return None


def _tables(count: int) -> str:
    return f"{count} table{'s' * (count != 1)}"


def check_files(block: FileConnection) -> CheckOutcome:
    """The connection test: the bucket can be listed; up to 100 objects shown."""
    store = FileStore(block.settings())
    try:
        store.check()
        found = store.list("", "**", limit=MAX_FILES_SHOWN + 1)
    except EtlError as error:
        transient = error.transient
        return CheckOutcome("error" if transient else "failed", error.message)
    except Exception as error:  # the test itself broke: not the connection's fault
        return CheckOutcome("error", f"The test could not run ({type(error).__name__}).")
    shown = found[:MAX_FILES_SHOWN]
    more = " (first 100 shown)" if len(found) > MAX_FILES_SHOWN else ""
    outcome = CheckOutcome(
        "success",
        f"Connection successful. Found {len(shown)}{'+' if more else ''} "
        f"file{'s' * (len(found) != 1)}{more}.",
    )
    outcome.files = [FileInfo.of(f).as_dict() for f in shown]
    return outcome


def check_destination(block: BigQueryDestination) -> CheckOutcome:
    from etl_bigquery.engine.bigquery.clients import classify_google_error
    from etl_bigquery.engine.errors import Stage
    from etl_bigquery.engine.staging import missing_staging_bucket

    clients = block.clients()
    try:
        dataset = f"{block.project}.{block.default_dataset}"
        try:
            listed = list(clients.bigquery.list_tables(dataset, max_results=MAX_TABLES_SHOWN))
        except Exception as error:
            from google.api_core.exceptions import NotFound

            if not isinstance(error, NotFound):
                raise
            list(clients.bigquery.list_datasets(max_results=1))  # reachable and authorised
            listed = None
        # A run stages its files before loading them: a missing bucket would fail it late.
        missing = missing_staging_bucket(block.staging_uri, clients.storage)
        if missing:
            return CheckOutcome("failed", missing)
        if listed is None:
            return CheckOutcome(
                "success",
                f"Connection successful. Dataset {dataset} does not exist yet (jobs create it).",
            )
        tables = [TableInfo(block.default_dataset, t.table_id, None) for t in listed]
        return CheckOutcome(
            "success", f"Connection successful. Found {_tables(len(tables))}.", tables
        )
    except Exception as error:  # classified below
        failure = classify_google_error(error, Stage.INIT, "listing tables")
        status = "error" if failure.transient else "failed"
        return CheckOutcome(status, failure.message)
    finally:
        clients.close()


def record(connection: str, outcome: CheckOutcome) -> dict[str, Any]:
    """Store the outcome; a system error keeps the previous real status."""
    name = _variable_name(connection)
    stored = Variable.get(name, default=None)
    previous: dict[str, Any] = stored if isinstance(stored, dict) else {}
    at = outcome.tested_at.isoformat()
    if outcome.status == "error":
        value = {**previous, "last_error": {"at": at, "message": outcome.message}}
        value.setdefault("status", "unknown")
    else:
        value = {"status": outcome.status, "tested_at": at, "message": outcome.message}
        if outcome.warning:
            value["warning"] = outcome.warning
    Variable.set(name, value, overwrite=True)
    return value


def mark_untested(connection: str, message: str) -> dict[str, Any]:
    """A connection saved without a passing test (`etl connection apply --save-untested`): its
    health says so until a test passes, with the failure that was set aside."""
    value = {
        "status": "untested",
        "tested_at": dt.datetime.now(dt.UTC).isoformat(),
        "message": f"Saved without a passing test: {message}",
    }
    Variable.set(_variable_name(connection), value, overwrite=True)
    return value


def last_status(connection: str) -> dict[str, Any]:
    value = Variable.get(_variable_name(connection), default=None)
    return value if isinstance(value, dict) and value else {"status": "unknown"}


_PAGE = 200  # the Prefect API's default largest page of variables


def all_statuses(client: Any) -> Callable[[str], dict[str, Any]]:
    """Every connection's last recorded test, read in pages of one request each (a list of
    hundreds of connections must not cost a request per connection); returns the lookup
    `connection name -> status` that `last_status` gives for one."""
    found: dict[str, Any] = {}
    offset = 0
    while True:
        page = client.request(
            "POST",
            "/variables/filter",
            json={
                "variables": {"name": {"like_": VARIABLE_PREFIX}},
                "offset": offset,
                "limit": _PAGE,
            },
        ).json()
        found.update({item["name"]: item.get("value") for item in page})
        # Until an empty page, not a short one: a server may cap pages below _PAGE.
        if not page:
            break
        offset += len(page)

    def lookup(connection: str) -> dict[str, Any]:
        value = found.get(_variable_name(connection))
        return value if isinstance(value, dict) and value else {"status": "unknown"}

    return lookup
