"""The job model: one typed, validated description of what a job moves and how."""

from etl.jobs.model import (
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
