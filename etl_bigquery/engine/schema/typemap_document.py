"""Type proposals for the NoSQL sources (dialect `document`).

Document stores declare no column types: a field's source type is the kind of Python value its
driver hands back, found in a sample of documents (`engine.sources.nosql.documents.value_kind`):
`string`, `integer`, `double`, `decimal`, `boolean`, `timestamp`, `date`, `time`, `bytes`,
`map`, `list`, `set`, `objectid`, `uuid`, `geopoint`, `reference`, and `mixed(a,b)` when the
sample holds several. Cassandra declares its columns: its CQL type names (`text`, `bigint`,
`map<text, int>`, `frozen<...>`) are understood here too.

Nested values (maps, lists, sets, tuples, user types) become JSON. Values are checked one by one
at load (the family's `bounded_types` is false): one that does not fit its column goes to the
rejected rows with the reason, as for SQLite.
"""

from __future__ import annotations

import re

from etl_bigquery.engine.schema.bqtypes import BqType as S
from etl_bigquery.engine.schema.typemap import Confidence as C
from etl_bigquery.engine.schema.typemap import TypeProposal, _p

H, M, L = C.HIGH, C.MEDIUM, C.LOW
_NESTED = "nested values are loaded as JSON"
_OVERRIDE = "override the type with column_types if this is not what you want"

DOCUMENT: dict[str, TypeProposal] = {
    "string": _p(S.STRING),
    "integer": _p(S.INT64),
    "double": _p(S.FLOAT64),
    "decimal": _p(S.NUMERIC, M, "decimal values with more than 9 fractional digits are rounded; "
                  "override to BIGNUMERIC or STRING to keep them"),
    "boolean": _p(S.BOOL),
    "timestamp": _p(S.TIMESTAMP),
    "date": _p(S.DATE),
    "time": _p(S.TIME),
    "bytes": _p(S.BYTES),
    "map": _p(S.JSON, M, _NESTED),
    "list": _p(S.JSON, M, _NESTED),
    "set": _p(S.JSON, M, "sets are loaded as JSON arrays (sorted)"),
    "objectid": _p(S.STRING, H, "MongoDB ObjectIds are loaded as their hex text"),
    "uuid": _p(S.STRING),
    "geopoint": _p(S.GEOGRAPHY, M, "geo points are loaded as WKT POINT(longitude latitude)"),
    "reference": _p(S.STRING, M, "document references are loaded as their path"),
    "null": _p(S.STRING, L, "only missing or null values in the sample: loaded as text; "
               + _OVERRIDE),
}  # fmt: skip

CQL: dict[str, TypeProposal] = {
    "ascii": _p(S.STRING), "text": _p(S.STRING), "varchar": _p(S.STRING),
    "tinyint": _p(S.INT64), "smallint": _p(S.INT64), "int": _p(S.INT64), "bigint": _p(S.INT64),
    "counter": _p(S.INT64),
    "varint": _p(S.NUMERIC, M, "varint values beyond 29 digits are rejected; override to "
                 "BIGNUMERIC or STRING to keep them"),
    "float": _p(S.FLOAT64), "double": _p(S.FLOAT64),
    "boolean": _p(S.BOOL), "blob": _p(S.BYTES),
    "timeuuid": _p(S.STRING), "inet": _p(S.STRING),
    "duration": _p(S.STRING, M, "durations are loaded as text"),
    "tuple": _p(S.JSON, M, _NESTED), "frozen": _p(S.JSON, M, _NESTED),
    "vector": _p(S.JSON, M, "vectors are loaded as JSON arrays"),
}  # fmt: skip

_NUMBERS = {"integer", "double", "decimal"}
_TIMES = {"timestamp", "date"}


def _mixed(kinds: list[str]) -> TypeProposal:
    found = set(kinds)
    if found <= _NUMBERS:
        if "double" in found:
            return _p(S.FLOAT64, M, f"the sample mixes {', '.join(kinds)}: loaded as FLOAT64")
        return _p(S.NUMERIC, M, f"the sample mixes {', '.join(kinds)}: loaded as NUMERIC")
    if found <= _TIMES:
        return _p(S.TIMESTAMP, M, "the sample mixes dates and timestamps: dates are midnight UTC")
    if found & {"map", "list", "set"}:
        return _p(S.JSON, L, f"the sample mixes {', '.join(kinds)}: every value is loaded as JSON")
    return _p(S.STRING, L, f"the sample mixes {', '.join(kinds)}: values are loaded as text; "
              + _OVERRIDE)  # fmt: skip


_MIXED = re.compile(r"^mixed\((.*)\)$")


def propose_document(type_text: str) -> TypeProposal:
    text = re.sub(r"\s+", " ", type_text.strip().lower())
    mixed = _MIXED.match(text)
    if mixed:
        return _mixed([kind.strip() for kind in mixed.group(1).split(",") if kind.strip()])
    if text in DOCUMENT:
        return DOCUMENT[text]
    base = text.split("<", 1)[0].strip()
    if base in ("map", "list", "set"):  # CQL collections: map<text, int>, set<uuid>...
        return DOCUMENT[base]
    if base in CQL:
        return CQL[base]
    if base in DOCUMENT:
        return DOCUMENT[base]
    return _p(S.STRING, L, f"unknown type {type_text!r}: loaded as text")
