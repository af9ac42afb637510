"""Text columns whose values are really dates, timestamps, integers or booleans.

From a sample of a text column (its first rows, e.g. 1000), propose DATE, DATETIME, TIMESTAMP,
INT64 or BOOL when every non-null sampled value is of that kind, with medium confidence and the
reason. Nothing is proposed for an empty sample or for mixed values. The rules:

- DATE: `YYYY-MM-DD`.
- TIMESTAMP / DATETIME: `YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]`; TIMESTAMP when every value carries
  a UTC offset (`Z`, `+02`, `+0200`, `+02:00`), DATETIME when none does (a wall-clock time), and
  TIMESTAMP with a warning when only some do (those without are taken as UTC).
- INT64: `-?digits` within INT64's range, without leading zeros: `007` is an identifier (a code,
  a postcode), and loading it as 7 would lose the zeros, so such a column stays STRING.
- BOOL: `true/false`, `t/f` (PostgreSQL's text form) and `yes/no`, in any case. Not `y/n` (single
  letters are as often codes) and not `0/1` (those are integers).

Every proposal is also checked with the cast the load itself uses (`engine.conform.casts`), so a
detected column loads; a later value that does not fit goes to the rejected-rows table, and the
job can override the type with `column_types`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pyarrow as pa

from etl_bigquery.engine.jobs.model import FilesSource, JobSpec, QuerySource, TableSource
from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import Confidence, TypeProposal, propose
from etl_bigquery.engine.sources.abilities import SamplesColumns
from etl_bigquery.engine.sources.base import SourceColumn, SourceReader

SAMPLE_ROWS = 1000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(?P<offset>[Zz]|[+-]\d{2}(:?\d{2})?)?"
)
_INTEGER = re.compile(r"-?(0|[1-9]\d*)")
_BOOLEANS = ({"true", "false"}, {"t", "f"}, {"yes", "no"})
_TEXT_TYPE = re.compile(r"char|text|clob|string")
OVERRIDE_HINT = (
    "values that do not fit go to the rejected-rows table; column_types overrides the type "
    "(STRING keeps the text)"
)


def _as_strings(values: pa.Array | pa.ChunkedArray) -> list[str] | None:
    """The non-null values, whitespace trimmed as the load trims them; None when not text."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    if isinstance(values.type, pa.BaseExtensionType):
        values = values.storage
    if not (
        pa.types.is_string(values.type)
        or pa.types.is_large_string(values.type)
        or pa.types.is_string_view(values.type)
    ):
        return None
    return [value.strip() for value in values.to_pylist() if value is not None]


def _loads_as(values: list[str], bq_type: BqType) -> bool:
    """Whether the load's own cast accepts every value."""
    from etl_bigquery.engine.conform.casts import cast_array

    try:
        cast_array(pa.array(values, pa.string()), bq_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        return False
    return True


def _proposal(bq_type: BqType, reason: str, *more: str) -> TypeProposal:
    return TypeProposal(bq_type, Confidence.MEDIUM, (reason, *more, OVERRIDE_HINT))


def detect_text_type(values: pa.Array | pa.ChunkedArray) -> TypeProposal | None:
    """The type every non-null value of this text sample has, or None (empty, mixed, not text)."""
    texts = _as_strings(values)
    if not texts:
        return None
    count = len(texts)
    nulls = len(values) - count
    sampled = f"all {count} sampled values" + (f" (and {nulls} NULLs)" if nulls else "")
    lowered = {text.lower() for text in texts}
    if any(lowered <= words for words in _BOOLEANS):
        return _proposal(BqType.BOOL, f"{sampled} are booleans ({'/'.join(sorted(lowered))})")
    if all(_INTEGER.fullmatch(text) for text in texts):
        if all(INT64_MIN <= int(text) <= INT64_MAX for text in texts):
            return _proposal(BqType.INT64, f"{sampled} are integers")
        return None
    if all(_DATE.fullmatch(text) for text in texts):
        if _loads_as(texts, BqType.DATE):
            return _proposal(BqType.DATE, f"{sampled} are ISO dates")
        return None
    matches = [_TIMESTAMP.fullmatch(text) for text in texts]
    if not all(matches):
        return None
    with_offset = sum(1 for match in matches if match and match["offset"])
    if with_offset == count:
        proposal = _proposal(BqType.TIMESTAMP, f"{sampled} are ISO timestamps with a UTC offset")
    elif with_offset == 0:
        proposal = _proposal(
            BqType.DATETIME, f"{sampled} are ISO timestamps without a UTC offset (wall-clock time)"
        )
    else:
        proposal = _proposal(
            BqType.TIMESTAMP,
            f"{sampled} are ISO timestamps, {with_offset} of them with a UTC offset",
            "values without an offset are taken as UTC",
        )
    return proposal if _loads_as(texts, proposal.bq_type) else None


def detect_columns(sample: pa.Table, columns: list[str] | None = None) -> dict[str, TypeProposal]:
    """Detected types of the sample's text columns (or of `columns`), by column name."""
    detected = {}
    for name in columns if columns is not None else sample.column_names:
        if name not in sample.column_names:
            continue
        proposal = detect_text_type(sample.column(name))
        if proposal is not None:
            detected[name] = proposal
    return detected


def is_text_column(dialect: str, column: SourceColumn) -> bool:
    """A column the type mapping loads as STRING because it is declared as text (or, in SQLite,
    not declared at all): the only columns detection looks at."""
    declared = column.source_type.strip().lower()
    if propose(dialect, column.source_type).bq_type is not BqType.STRING:
        return False
    return bool(_TEXT_TYPE.search(declared)) or (dialect == "sqlite" and not declared)


def _quote(dialect: str, name: str) -> str:
    from etl_bigquery.engine.sources.sql_text import quote_identifier

    return quote_identifier(name, "`" if dialect in ("mysql", "mariadb") else '"')


def sample(
    reader: SourceReader, source: TableSource, columns: list[str], limit: int = SAMPLE_ROWS
) -> pa.Table:
    """The first `limit` rows of `columns` only (wide tables stay cheap), read as a checked
    read-only query under the reader's validation timeout."""
    if isinstance(reader, SamplesColumns):  # columns read without SQL (BigQuery: tabledata.list)
        return reader.sample_columns(source, columns, limit)
    dialect = reader.dialect
    schema = source.schema_name or ("public" if dialect == "postgresql" else None)
    table = _quote(dialect, source.table)
    if schema:
        table = f"{_quote(dialect, schema)}.{table}"
    selected = ", ".join(_quote(dialect, name) for name in columns)
    return reader.preview(QuerySource(query=f"SELECT {selected} FROM {table}"), limit=limit)


def detect_source_columns(
    reader: SourceReader,
    source: TableSource | QuerySource | FilesSource,
    columns: list[SourceColumn],
    *,
    skip: Mapping[str, object] | None = None,
    limit: int = SAMPLE_ROWS,
) -> dict[str, TypeProposal]:
    """Sample the text columns of a table (except those in `skip`) and detect their types.

    Detection is advice: a sample that cannot be read (a login without SELECT on every column,
    a query source, whose sampling would run the query) gives no proposals rather than an error.
    """
    if isinstance(source, QuerySource):
        return {}
    candidates = [
        c.name for c in columns if c.name not in (skip or {}) and is_text_column(reader.dialect, c)
    ]
    if not candidates:
        return {}
    from etl_bigquery.engine.errors import EtlError

    try:
        # A file source samples the first rows of its newest file (at most 5 MB of it).
        if isinstance(source, FilesSource):
            rows = reader.preview(source, limit)
        else:
            rows = sample(reader, source, candidates, limit)
    except EtlError:
        return {}
    return detect_columns(rows, candidates)


def detect_for_job(
    reader: SourceReader, job: JobSpec, columns: list[SourceColumn]
) -> dict[str, TypeProposal]:
    """Detected types for the text columns a job loads and does not override, for
    `engine.plan.plan_columns(..., detected=...)`."""
    selected = set(job.columns) if job.columns else None
    loaded = [c for c in columns if selected is None or c.name in selected]
    return detect_source_columns(reader, job.source, loaded, skip=job.column_types)
