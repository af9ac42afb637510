"""From a job and its source's columns to the columns that will be loaded.

This is where a job meets reality: selected columns must exist, the cursor must be a date, time
or number, type overrides must name real columns. The result (source name → BigQuery name and
type, with the mapping's confidence and warnings) is what the job stores and shows. A source
column the destination table already holds keeps its table column, found by source name
(`engine.schema.names.resolve_column_names`), whatever order the source lists it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl_bigquery.engine.bigquery.tables import source_description
from etl_bigquery.engine.conform import METADATA_COLUMNS, TargetColumn
from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.jobs.model import JobSpec
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.names import AmbiguousColumn, TableNames, resolve_column_names
from etl_bigquery.engine.schema.typemap import Confidence, TypeProposal, propose
from etl_bigquery.engine.sources.base import ReadColumn, SourceColumn
from etl_bigquery.engine.sources.registry import by_dialect

_JSON_SOURCES = ("json", "jsonb")
ALWAYS_LOADED = ("_etl_source_file", "_etl_source_version", "_etl_source_row")


@dataclass(frozen=True)
class ColumnPlan:
    source: SourceColumn
    name: str
    bq_type: BqType
    proposal: TypeProposal
    overridden: bool
    dialect: str = "postgresql"

    @property
    def trusted(self) -> bool:
        """Whether the source's own type guarantees every value fits the BigQuery type."""
        if not by_dialect(self.dialect).bounded_types or self.overridden:
            return False
        base = self.source.source_type.lower().split("(")[0].strip()
        if self.bq_type is BqType.JSON:
            return base in _JSON_SOURCES or base.endswith("[]") or base.startswith("_")
        return self.bq_type in (BqType.NUMERIC, BqType.BIGNUMERIC) and (
            self.proposal.confidence is Confidence.HIGH
        )

    @property
    def target(self) -> TargetColumn:
        return TargetColumn(
            self.source.name, self.source.source_type, self.name, self.bq_type, self.trusted
        )

    @property
    def read_column(self) -> ReadColumn:
        return ReadColumn(self.source.name, self.source.source_type, self.bq_type)

    def as_row(self) -> dict[str, object]:
        return {
            "source column": self.source.name,
            "source type": self.source.source_type,
            "BigQuery column": self.name,
            "BigQuery type": self.bq_type.value,
            "confidence": "override" if self.overridden else self.proposal.confidence.value,
            "warnings": "; ".join(self.proposal.warnings),
        }


def _names(columns: list[str]) -> str:
    shown = ", ".join(columns[:20])
    return shown + (", ..." if len(columns) > 20 else "")


def plan_columns(
    job: JobSpec,
    source_columns: list[SourceColumn],
    dialect: str,
    detected: dict[str, TypeProposal] | None = None,
    table: TableNames | None = None,
) -> list[ColumnPlan]:
    """`detected` (`engine.schema.detect.detect_for_job`): types found in the sampled values of text
    columns; each replaces the proposal of a text column the job does not override. `table`
    (`engine.bigquery.tables.table_names`): the existing destination's columns, which keep the
    source columns they were loaded from."""
    if not source_columns:
        raise ValidationError(f"Source {job.describe_source()} has no columns.")
    by_name = {c.name: c for c in source_columns}
    available = [c.name for c in source_columns]
    missing = [name for name in job.columns if name not in by_name]
    if missing:
        raise ValidationError(
            f"Column(s) {', '.join(repr(m) for m in missing)} do not exist in "
            f"{job.describe_source()}; available: {_names(available)}."
        )
    unknown_overrides = [name for name in job.column_types if name not in by_name]
    if unknown_overrides:
        raise ValidationError(
            f"column_types names {', '.join(repr(m) for m in unknown_overrides)}, which "
            f"{job.describe_source()} does not have; available: {_names(available)}."
        )
    selected = [by_name[name] for name in job.columns] if job.columns else list(source_columns)
    # A file source's trace columns are loaded whatever `columns` lists: the table's record of
    # which file versions it holds (engine.file_strategies) and the way to trace a row to its file.
    selected += [c for c in source_columns if c.name in ALWAYS_LOADED and c not in selected]
    if job.cursor_column and job.cursor_column not in by_name:
        raise ValidationError(
            f"Cursor column '{job.cursor_column}' does not exist in {job.describe_source()}; "
            f"available: {_names(available)}."
        )
    trace = [c.name for c in selected if c.name in ALWAYS_LOADED]
    try:
        mapping = resolve_column_names(
            [c.name for c in selected if c.name not in ALWAYS_LOADED],
            table,
            taken=[*METADATA_COLUMNS, *trace],
        )
    except AmbiguousColumn as error:
        raise ValidationError(_ambiguity(error, by_name)) from None
    mapping.update({name: name for name in trace})  # our own names, kept as they are
    plans = []
    for column in selected:
        proposal = propose(dialect, column.source_type)
        override = job.column_types.get(column.name)
        found = (detected or {}).get(column.name)
        if found is not None and override is None and proposal.bq_type is BqType.STRING:
            proposal = found
        plans.append(
            ColumnPlan(
                source=column,
                name=mapping[column.name],
                bq_type=override or proposal.bq_type,
                proposal=proposal,
                overridden=override is not None,
                dialect=dialect,
            )
        )
    return plans


def _ambiguity(error: AmbiguousColumn, by_name: dict[str, SourceColumn]) -> str:
    choices = " or ".join(
        repr(source_description(name, by_name[name].source_type)) for name in error.sources
    )
    return (
        f"Columns {', '.join(repr(n) for n in error.sources)} all match table column "
        f"{error.table_column}, whose description does not say which source column it holds; "
        f"set its description in BigQuery to the one it holds ({choices}) and run again."
    )


def cursor_plan(plans: list[ColumnPlan], job: JobSpec) -> ColumnPlan:
    for plan in plans:
        if plan.source.name == job.cursor_column:
            return plan
    raise ValidationError(f"Cursor column '{job.cursor_column}' is not among the loaded columns.")


def low_confidence_warnings(plans: list[ColumnPlan]) -> list[str]:
    return [
        f"{p.source.name} ({p.source.source_type} → {p.bq_type.value}): "
        + "; ".join(p.proposal.warnings or ("low confidence",))
        for p in plans
        if not p.overridden and p.proposal.confidence is not Confidence.HIGH
    ]
