"""BigQuery table fields as source type text (`engine.schema.typemap_bigquery` maps it)."""

from __future__ import annotations

import pyarrow as pa
from google.cloud.bigquery import SchemaField

# The API reports legacy names; discovery and job plans show the standard SQL ones.
_STANDARD = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT",
             "BIGDECIMAL": "BIGNUMERIC", "DECIMAL": "NUMERIC"}  # fmt: skip


def type_text(field: SchemaField, *, with_mode: bool = True) -> str:
    """`NUMERIC(12, 2)`, `ARRAY<STRING>`, `STRUCT<a INT64, b ARRAY<DATE>>`, `RANGE<DATE>`."""
    kind = (field.field_type or "STRING").upper()
    kind = _STANDARD.get(kind, kind)
    if kind == "STRUCT":
        inner = ", ".join(f"{f.name} {type_text(f)}" for f in field.fields)
        text = f"STRUCT<{inner}>"
    elif kind == "RANGE":
        element = getattr(field.range_element_type, "element_type", None) or "TIMESTAMP"
        text = f"RANGE<{element}>"
    elif kind in ("NUMERIC", "BIGNUMERIC") and field.precision:
        text = f"{kind}({field.precision}" + (f", {field.scale})" if field.scale else ")")
    elif kind in ("STRING", "BYTES") and field.max_length:
        text = f"{kind}({field.max_length})"
    else:
        text = kind
    if with_mode and (field.mode or "").upper() == "REPEATED":
        return f"ARRAY<{text}>"
    return text


def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """BigQuery's canonical INTERVAL text, e.g. `1-2 3 4:05:06.5` (years-months days h:m:s)."""
    sign = "-" if months < 0 else ""
    years, rest = divmod(abs(months), 12)
    time_sign = "-" if nanoseconds < 0 else ""
    micros = abs(nanoseconds) // 1000
    seconds, fraction = divmod(micros, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{years}-{rest} {days} {time_sign}{hours}:{minute:02d}:{second:02d}"
    return text + (f".{fraction:06d}".rstrip("0") if fraction else "")


def intervals_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The Storage Read API sends INTERVAL as Arrow month_day_nano intervals, which have no cast
    to text; they load as BigQuery's own text form (the type map proposes STRING for them)."""
    kind = pa.month_day_nano_interval()
    if not any(field.type == kind for field in batch.schema):
        return batch
    arrays = []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if field.type == kind:
            column = pa.array(
                [None if v is None else interval_text(v.months, v.days, v.nanoseconds)
                 for v in column.to_pylist()],
                type=pa.string(),
            )  # fmt: skip
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
