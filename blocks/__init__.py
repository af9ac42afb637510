"""Where data lives, as Prefect blocks: connection families and the BigQuery destination.

`prefect block register -m etl_bigquery.blocks` registers every block type defined here.

Each family's module is imported when its block is first used (PEP 562 `__getattr__`): a run
of a PostgreSQL job needs the SQL connection and the destination, not the BigQuery source's
SQL checker or the file and document-store families. `dir()` lists every block, so Prefect's
`block register -m` (which walks the module's members) still imports and registers them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl_bigquery.blocks.bigquery import BigQueryDestination
    from etl_bigquery.blocks.bigquery_source import BigQuerySource
    from etl_bigquery.blocks.files import FileConnection
    from etl_bigquery.blocks.nosql import NoSqlConnection
    from etl_bigquery.blocks.sql import SqlConnection

_MODULES = {
    "BigQueryDestination": "etl_bigquery.blocks.bigquery",
    "BigQuerySource": "etl_bigquery.blocks.bigquery_source",
    "FileConnection": "etl_bigquery.blocks.files",
    "NoSqlConnection": "etl_bigquery.blocks.nosql",
    "SqlConnection": "etl_bigquery.blocks.sql",
}

__all__ = [
    "BigQueryDestination",
    "BigQuerySource",
    "FileConnection",
    "NoSqlConnection",
    "SqlConnection",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
