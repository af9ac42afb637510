"""Source column types → proposed BigQuery types, with a confidence and warnings.

Covers every built-in PostgreSQL and MySQL/MariaDB type and SQLite's declared-type affinities.
`high` means the values load unchanged; `medium` means they load, but in a representation the user
should know about (an array as JSON, an interval as text); `low` means information may be lost or
the type is a guess, and a user override is worth considering.

Each source type names its mapper in the registry (`engine.sources.registry.SourceType`); the
other families' mappers are in `typemap_*.py`. `propose(dialect, type_text)` goes through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from etl_bigquery.engine.schema.bqtypes import (
    BIGNUMERIC_PRECISION,
    BIGNUMERIC_SCALE,
    NUMERIC_PRECISION,
    NUMERIC_SCALE,
    BqType,
)


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class TypeProposal:
    bq_type: BqType
    confidence: Confidence = Confidence.HIGH
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _p(bq: BqType, confidence: Confidence = Confidence.HIGH, *warnings: str) -> TypeProposal:
    return TypeProposal(bq, confidence, tuple(warnings))


H, M, L = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW
S = BqType

_NAIVE = "the source has no time zone: values are taken as UTC"
_GEOMETRIC = "geometric type kept as text (GEOGRAPHY needs longitude/latitude)"
_ZERO_DATES = "zero dates ('0000-00-00') load as NULL and are counted"

POSTGRES: dict[str, TypeProposal] = {
    # integers
    "smallint": _p(S.INT64), "int2": _p(S.INT64), "smallserial": _p(S.INT64),
    "integer": _p(S.INT64), "int": _p(S.INT64), "int4": _p(S.INT64), "serial": _p(S.INT64),
    "bigint": _p(S.INT64), "int8": _p(S.INT64), "bigserial": _p(S.INT64),
    "oid": _p(S.INT64), "xid": _p(S.INT64), "cid": _p(S.INT64), "regclass": _p(S.STRING),
    # floating point
    "real": _p(S.FLOAT64), "float4": _p(S.FLOAT64),
    "double precision": _p(S.FLOAT64), "float8": _p(S.FLOAT64),
    "money": _p(S.NUMERIC, H, "money is loaded as its numeric amount, without currency"),
    # text
    "text": _p(S.STRING), "character varying": _p(S.STRING), "varchar": _p(S.STRING),
    "character": _p(S.STRING), "char": _p(S.STRING), "bpchar": _p(S.STRING),
    "name": _p(S.STRING), "citext": _p(S.STRING), "\"char\"": _p(S.STRING),
    "uuid": _p(S.STRING),
    # boolean, binary
    "boolean": _p(S.BOOL), "bool": _p(S.BOOL),
    "bytea": _p(S.BYTES),
    # date and time
    "date": _p(S.DATE),
    "timestamp without time zone": _p(S.TIMESTAMP, H, _NAIVE),
    "timestamp": _p(S.TIMESTAMP, H, _NAIVE),
    "timestamp with time zone": _p(S.TIMESTAMP), "timestamptz": _p(S.TIMESTAMP),
    "time without time zone": _p(S.TIME), "time": _p(S.TIME),
    "time with time zone": _p(S.STRING, M, "BigQuery TIME has no time zone; kept as text"),
    "timetz": _p(S.STRING, M, "BigQuery TIME has no time zone; kept as text"),
    "interval": _p(S.STRING, M, "intervals are loaded as text (e.g. '1 day 02:00:00')"),
    # json and documents
    "json": _p(S.JSON), "jsonb": _p(S.JSON),
    "hstore": _p(S.STRING, M, "hstore is loaded as its text form"),
    "xml": _p(S.STRING, M, "XML is loaded as text"),
    # network
    "inet": _p(S.STRING), "cidr": _p(S.STRING), "macaddr": _p(S.STRING), "macaddr8": _p(S.STRING),
    # bit strings
    "bit": _p(S.STRING, M, "bit strings are loaded as text of 0 and 1"),
    "bit varying": _p(S.STRING, M, "bit strings are loaded as text of 0 and 1"),
    "varbit": _p(S.STRING, M, "bit strings are loaded as text of 0 and 1"),
    # full text search, system
    "tsvector": _p(S.STRING, L, "full-text vectors are loaded as text"),
    "tsquery": _p(S.STRING, L, "full-text queries are loaded as text"),
    "pg_lsn": _p(S.STRING), "txid_snapshot": _p(S.STRING, L), "pg_snapshot": _p(S.STRING, L),
    # geometry
    "point": _p(S.STRING, L, _GEOMETRIC), "line": _p(S.STRING, L, _GEOMETRIC),
    "lseg": _p(S.STRING, L, _GEOMETRIC), "box": _p(S.STRING, L, _GEOMETRIC),
    "path": _p(S.STRING, L, _GEOMETRIC), "polygon": _p(S.STRING, L, _GEOMETRIC),
    "circle": _p(S.STRING, L, _GEOMETRIC),
    "geometry": _p(S.GEOGRAPHY, M, "PostGIS geometry is loaded as WKT; it must be in WGS 84"),
    "geography": _p(S.GEOGRAPHY),
    # ranges
    "int4range": _p(S.STRING, M, "ranges are loaded as text"),
    "int8range": _p(S.STRING, M, "ranges are loaded as text"),
    "numrange": _p(S.STRING, M, "ranges are loaded as text"),
    "tsrange": _p(S.STRING, M, "ranges are loaded as text"),
    "tstzrange": _p(S.STRING, M, "ranges are loaded as text"),
    "daterange": _p(S.STRING, M, "ranges are loaded as text"),
}  # fmt: skip

MYSQL: dict[str, TypeProposal] = {
    "tinyint": _p(S.INT64), "smallint": _p(S.INT64), "mediumint": _p(S.INT64),
    "int": _p(S.INT64), "integer": _p(S.INT64), "bigint": _p(S.INT64),
    "bigint unsigned": _p(S.NUMERIC, H, "unsigned 64-bit values can exceed INT64"),
    "year": _p(S.INT64),
    "bool": _p(S.BOOL), "boolean": _p(S.BOOL),
    "float": _p(S.FLOAT64), "double": _p(S.FLOAT64), "double precision": _p(S.FLOAT64),
    "real": _p(S.FLOAT64),
    "char": _p(S.STRING), "varchar": _p(S.STRING), "tinytext": _p(S.STRING),
    "text": _p(S.STRING), "mediumtext": _p(S.STRING), "longtext": _p(S.STRING),
    "enum": _p(S.STRING), "set": _p(S.STRING, M, "SET values are loaded as comma-separated text"),
    "binary": _p(S.BYTES), "varbinary": _p(S.BYTES), "tinyblob": _p(S.BYTES),
    "blob": _p(S.BYTES), "mediumblob": _p(S.BYTES), "longblob": _p(S.BYTES),
    "date": _p(S.DATE, H, _ZERO_DATES),
    "datetime": _p(S.TIMESTAMP, H, _NAIVE, _ZERO_DATES),
    "timestamp": _p(S.TIMESTAMP, H, _ZERO_DATES),
    "time": _p(S.TIME, M, "MySQL TIME may exceed 24 hours or be negative: such rows are rejected "
               "with the reason (override the column to STRING to keep them as text)"),
    "json": _p(S.JSON),
    "uuid": _p(S.STRING), "inet4": _p(S.STRING), "inet6": _p(S.STRING),
    "geometry": _p(S.GEOGRAPHY, M, "spatial values are loaded as WKT; they must be in WGS 84"),
    "point": _p(S.GEOGRAPHY, M), "linestring": _p(S.GEOGRAPHY, M),
    "polygon": _p(S.GEOGRAPHY, M), "multipoint": _p(S.GEOGRAPHY, M),
    "multilinestring": _p(S.GEOGRAPHY, M), "multipolygon": _p(S.GEOGRAPHY, M),
    "geometrycollection": _p(S.GEOGRAPHY, M),
}  # fmt: skip

_UNKNOWN = _p(S.STRING, L, "unknown source type: loaded as text")
_MODIFIERS = re.compile(r"\s*\(([^)]*)\)")


def _numeric(modifiers: str | None) -> TypeProposal:
    """NUMERIC holds 29 integer and 9 fractional digits, BIGNUMERIC 38 and 38."""
    if not modifiers:
        return _p(
            S.BIGNUMERIC,
            M,
            "unconstrained numeric: values with more than 38 decimal places are rounded",
        )
    parts = [int(part) for part in re.findall(r"\d+", modifiers)]
    precision = parts[0]
    scale = parts[1] if len(parts) > 1 else 0
    if scale <= NUMERIC_SCALE and precision - scale <= NUMERIC_PRECISION - NUMERIC_SCALE:
        return _p(S.NUMERIC)
    if scale <= BIGNUMERIC_SCALE and precision - scale <= BIGNUMERIC_PRECISION - BIGNUMERIC_SCALE:
        return _p(S.BIGNUMERIC)
    return _p(S.STRING, L, f"numeric({precision},{scale}) does not fit BIGNUMERIC; kept as text")


def propose_postgres(type_text: str) -> TypeProposal:
    """`type_text` as `format_type()` prints it, e.g. `numeric(12,2)` or `integer[]`."""
    text = type_text.strip().lower()
    if text.endswith("[]") or text.startswith("_"):
        return _p(S.JSON, M, "arrays are loaded as JSON arrays")
    modifiers = _MODIFIERS.search(text)
    base = _MODIFIERS.sub("", text).strip()
    if base in ("numeric", "decimal"):
        return _numeric(modifiers.group(1) if modifiers else None)
    if base.startswith("geometry") or base.startswith("geography"):
        return POSTGRES[base.split("(")[0]]
    return POSTGRES.get(base, _UNKNOWN)


def propose_mysql(type_text: str) -> TypeProposal:
    """`type_text` as `information_schema.columns.column_type` prints it, e.g. `tinyint(1)`."""
    text = type_text.strip().lower()
    unsigned = " unsigned" in text
    text = text.replace(" zerofill", "").replace(" unsigned", "").strip()
    modifiers = _MODIFIERS.search(text)
    base = _MODIFIERS.sub("", text).strip()
    if base == "tinyint" and modifiers and modifiers.group(1).strip() == "1":
        return _p(S.BOOL, H, "tinyint(1) is MySQL's boolean")
    if base == "bit":
        width = int(modifiers.group(1)) if modifiers else 1
        if width == 1:
            return _p(S.BOOL)
        if width == 64:  # an unsigned 64-bit value can exceed INT64, as bigint unsigned does
            return _p(S.NUMERIC, M, "bit(64) loaded as an unsigned integer (it can exceed INT64)")
        return _p(S.INT64, M, f"bit({width}) loaded as an integer")
    if base in ("decimal", "numeric", "dec", "fixed"):
        return _numeric(modifiers.group(1) if modifiers else "10,0")
    if base == "bigint" and unsigned:
        return MYSQL["bigint unsigned"]
    return MYSQL.get(base, _UNKNOWN)


def propose_sqlite(declared: str) -> TypeProposal:
    """SQLite keeps whatever type name a table declares; map it by SQLite's affinity rules, with
    the common date/time and boolean names recognised first."""
    text = declared.strip().lower()
    base = _MODIFIERS.sub("", text).strip()
    named = {
        "date": _p(S.DATE, M, "SQLite stores dates as text; values must be YYYY-MM-DD"),
        "datetime": _p(S.TIMESTAMP, M, "SQLite stores timestamps as text; " + _NAIVE),
        "timestamp": _p(S.TIMESTAMP, M, "SQLite stores timestamps as text; " + _NAIVE),
        "time": _p(S.TIME, M, "SQLite stores times as text"),
        "boolean": _p(S.BOOL, M), "bool": _p(S.BOOL, M),
        "json": _p(S.JSON, M),
    }  # fmt: skip
    if base in named:
        return named[base]
    if "int" in base:
        return _p(S.INT64)
    if any(word in base for word in ("char", "clob", "text")):
        return _p(S.STRING)
    if "blob" in base:
        return _p(S.BYTES)
    if any(word in base for word in ("real", "floa", "doub")):
        return _p(S.FLOAT64)
    if base in ("numeric", "decimal") or base.startswith("decimal"):
        modifiers = _MODIFIERS.search(text)
        return _numeric(modifiers.group(1) if modifiers else "38,9")
    if not base:
        return _p(S.STRING, L, "no declared type: loaded as text")
    return _UNKNOWN


def propose(dialect: str, type_text: str) -> TypeProposal:
    """The proposal of the source type whose readers report `dialect`: each source type names
    its type mapper in the registry (`engine.sources.registry.SourceType.type_mapper`)."""
    from etl_bigquery.engine.sources.registry import by_dialect

    return by_dialect(dialect).propose(type_text)
