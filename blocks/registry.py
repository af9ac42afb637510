"""Find blocks by name: connections of any family, and BigQuery destinations."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from prefect.blocks.core import Block

from etl_bigquery.engine.errors import ConfigurationError

if TYPE_CHECKING:
    from etl_bigquery.blocks.bigquery import BigQueryDestination
    from etl_bigquery.blocks.bigquery_source import BigQuerySource
    from etl_bigquery.blocks.files import FileConnection
    from etl_bigquery.blocks.nosql import NoSqlConnection
    from etl_bigquery.blocks.sql import SqlConnection

    Connection: TypeAlias = SqlConnection | BigQuerySource | FileConnection | NoSqlConnection
else:
    Connection: TypeAlias = Block  # at run time: any connection block (typing needs no import)

# Every connection family, in the order a name is looked up (names are unique across all of
# them); each module is imported only when its family is tried, so a run of a SQL job never
# imports the others (`etl_bigquery.blocks`).
_CONNECTION_CLASSES = (
    ("etl_bigquery.blocks.sql", "SqlConnection"),
    ("etl_bigquery.blocks.bigquery_source", "BigQuerySource"),
    ("etl_bigquery.blocks.files", "FileConnection"),
    ("etl_bigquery.blocks.nosql", "NoSqlConnection"),
)


def _block_class(module: str, name: str) -> type[Block]:
    return cast(type[Block], getattr(importlib.import_module(module), name))


def _destination_type() -> type[Block]:
    return _block_class("etl_bigquery.blocks.bigquery", "BigQueryDestination")


def __getattr__(name: str) -> Any:
    """`CONNECTION_TYPES` (every connection family) and `ALL_BLOCK_TYPES` (those and the
    destination: what the connections catalog lists, tests and deletes), imported on use."""
    if name == "CONNECTION_TYPES":
        return tuple(_block_class(module, cls) for module, cls in _CONNECTION_CLASSES)
    if name == "ALL_BLOCK_TYPES":
        return (*__getattr__("CONNECTION_TYPES"), _destination_type())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_block(block_type: type[Block], name: str) -> Block | None:
    """The block of `block_type` named `name`, or None when there is none."""
    try:
        # `Block.load` is typed "block or coroutine" (it serves async callers too); this
        # module calls it synchronously, outside any event loop.
        return cast(Block, block_type.load(name))
    except ValueError as error:
        if "Unable to find block document" in str(error):
            return None
        raise


def find_connection(name: str) -> Connection | None:
    for module, cls in _CONNECTION_CLASSES:
        block = load_block(_block_class(module, cls), name)
        if block is not None:
            return block  # type: ignore[return-value]
    return None


def load_connection(name: str) -> Connection:
    block = find_connection(name)
    if block is None:
        raise ConfigurationError(
            f"Connection '{name}' does not exist; `etl connection list` shows the existing ones."
        )
    return block


def load_destination(name: str) -> BigQueryDestination:
    block = load_block(_destination_type(), name)
    if block is None:
        raise ConfigurationError(
            f"BigQuery destination block '{name}' does not exist; create it with "
            "`etl connection apply` (kind: bigquery-destination)."
        )
    return block  # type: ignore[return-value]
