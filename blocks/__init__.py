"""Where data lives, as Prefect blocks: connection families and the BigQuery destination.

`prefect block register -m blocks` registers every block type defined here.
"""

from blocks.bigquery import BigQueryDestination
from blocks.bigquery_source import BigQuerySource
from blocks.files import FileConnection
from blocks.nosql import NoSqlConnection
from blocks.sql import SqlConnection

__all__ = [
    "BigQueryDestination",
    "BigQuerySource",
    "FileConnection",
    "NoSqlConnection",
    "SqlConnection",
]
