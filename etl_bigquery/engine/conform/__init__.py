"""Conforming: reader batches → destination names, types and metadata columns."""

from etl_bigquery.engine.conform.batch import (
    LOADED_AT,
    METADATA_COLUMNS,
    RUN_ID,
    Conformer,
    RejectedRow,
    RunStamp,
    TargetColumn,
    destination_schema,
)

__all__ = [
    "LOADED_AT",
    "METADATA_COLUMNS",
    "RUN_ID",
    "Conformer",
    "RejectedRow",
    "RunStamp",
    "TargetColumn",
    "destination_schema",
]
