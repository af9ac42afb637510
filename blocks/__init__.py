"""Where data lives, as Prefect blocks: connection families and the BigQuery destination.

`prefect block register -m etl_bigquery.blocks` registers every block type defined here.
"""

from etl_bigquery.blocks.bigquery import BigQueryDestination
from etl_bigquery.blocks.bigquery_source import BigQuerySource
from etl_bigquery.blocks.files import FileConnection
from etl_bigquery.blocks.nosql import NoSqlConnection
from etl_bigquery.blocks.sql import SqlConnection

__all__ = [
    "BigQueryDestination",
    "BigQuerySource",
    "FileConnection",
    "NoSqlConnection",
    "SqlConnection",
]
