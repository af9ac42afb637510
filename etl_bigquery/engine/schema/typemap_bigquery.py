"""Type proposals for BigQuery sources: a BigQuery type becomes itself.

Type text is as `engine.sources.bigquery_types.type_text` prints a table field: standard SQL names
(`INT64`, `NUMERIC(12, 2)`, `ARRAY<STRING>`, `STRUCT<a INT64>`, `RANGE<DATE>`); the legacy names
the API reports (INTEGER, FLOAT, BOOLEAN, RECORD) are accepted too. Nested and range values have no
flat column type this tool writes, so they load as JSON (arrays as JSON arrays, structs as
objects, ranges as {"start", "end"}), with a warning; INTERVAL loads as its text.
"""

from __future__ import annotations

import re

from etl_bigquery.engine.schema.bqtypes import BqType as S
from etl_bigquery.engine.schema.typemap import _UNKNOWN, TypeProposal, _p
from etl_bigquery.engine.schema.typemap import Confidence as C

_NESTED = {
    "ARRAY": "arrays are loaded as JSON arrays (the destination column is JSON, not REPEATED)",
    "STRUCT": "structs are loaded as JSON objects (the destination column is JSON, not RECORD)",
    "RECORD": "structs are loaded as JSON objects (the destination column is JSON, not RECORD)",
    "RANGE": 'ranges are loaded as JSON objects {"start": ..., "end": ...}',
}


def propose_bigquery(type_text: str) -> TypeProposal:
    text = re.sub(r"\s+", " ", type_text.strip().upper())
    base = re.split(r"[<( ]", text, maxsplit=1)[0]
    if base in _NESTED:
        return _p(S.JSON, C.MEDIUM, _NESTED[base])
    if base == "INTERVAL":
        return _p(S.STRING, C.MEDIUM, "intervals are loaded as text (e.g. '0-0 1 2:0:0')")
    try:
        return _p(S.parse(base))
    except ValueError:
        return _UNKNOWN
