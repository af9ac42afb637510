"""BigQuery table fields as source type text (`etl.schema.typemap_bigquery` maps it)."""

from __future__ import annotations

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
