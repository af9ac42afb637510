"""Find blocks by name: connections of any family, and BigQuery destinations."""

from __future__ import annotations

from typing import TypeAlias, cast

from prefect.blocks.core import Block

from etl_bigquery.blocks.bigquery import BigQueryDestination
from etl_bigquery.blocks.bigquery_source import BigQuerySource
from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.nosql import NoSqlConnection
from etl_bigquery.blocks.sql import SqlConnection
from etl_bigquery.engine.errors import ConfigurationError

# Every connection family; names are unique across all of them.
CONNECTION_TYPES: tuple[type[Block], ...] = (
    SqlConnection,
    BigQuerySource,
    FileConnection,
    NoSqlConnection,
)
Connection: TypeAlias = SqlConnection | BigQuerySource | FileConnection | NoSqlConnection
# Every block type the connections catalog lists, tests and deletes.
ALL_BLOCK_TYPES: tuple[type[Block], ...] = (*CONNECTION_TYPES, BigQueryDestination)


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
    for block_type in CONNECTION_TYPES:
        block = load_block(block_type, name)
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
    block = load_block(BigQueryDestination, name)
    if block is None:
        raise ConfigurationError(
            f"BigQuery destination block '{name}' does not exist; create it with "
            "`etl connection apply` (kind: bigquery-destination)."
        )
    return block  # type: ignore[return-value]
