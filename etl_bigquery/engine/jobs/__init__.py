"""The job model: one typed, validated description of what a job moves and how."""

from etl_bigquery.engine.jobs.model import (
    Backfill,
    DestinationSpec,
    JobSpec,
    LoadType,
    ProcessingMode,
    QuerySource,
    TableSource,
)

__all__ = [
    "Backfill",
    "DestinationSpec",
    "JobSpec",
    "LoadType",
    "ProcessingMode",
    "QuerySource",
    "TableSource",
]
