"""Type proposals for Redshift and the SQLAlchemy dialects (SQL Server and Synapse, Oracle,
Snowflake, Db2, Teradata). Type text is as the dialect prints a reflected type (`NVARCHAR(max)`,
`NUMBER(12, 2)`, `TIMESTAMP WITH TIME ZONE`); case and spacing do not matter.
"""

from __future__ import annotations

import re

from etl_bigquery.engine.schema.bqtypes import BqType as S
from etl_bigquery.engine.schema.typemap import (
    _UNKNOWN,
    TypeProposal,
    _numeric,
    _p,
    propose_postgres,
)
from etl_bigquery.engine.schema.typemap import Confidence as C

H, M, L = C.HIGH, C.MEDIUM, C.LOW
_NAIVE = "the source has no time zone: values load as DATETIME (wall-clock time)"
_TEXT_TZ = "kept as text: BigQuery TIME has no time zone"
_WKT = "spatial values are loaded as WKT; they must be in WGS 84"
_MODIFIERS = re.compile(r"\s*\(([^)]*)\)")


def _split(type_text: str) -> tuple[str, list[int], str]:
    """`NUMBER(12, 2)` → (`number`, [12, 2], `12, 2`); `nvarchar(max)` → (`nvarchar`, [], `max`)."""
    text = re.sub(r"\s+", " ", type_text.strip().lower())
    match = _MODIFIERS.search(text)
    inner = match.group(1).strip() if match else ""
    base = _MODIFIERS.sub("", text).strip()
    return base, [int(n) for n in re.findall(r"\d+", inner)], inner


def _decimal(numbers: list[int], *, unbounded: TypeProposal | None = None) -> TypeProposal:
    """DECIMAL/NUMBER(p, s): INT64 for integers of up to 18 digits, else NUMERIC or BIGNUMERIC by
    precision; no precision at all: `unbounded`."""
    if not numbers:
        return unbounded or _numeric(None)
    precision, scale = numbers[0], numbers[1] if len(numbers) > 1 else 0
    if scale == 0 and precision <= 18:
        return _p(S.INT64)
    return _numeric(f"{precision},{scale}")


REDSHIFT: dict[str, TypeProposal] = {
    "super": _p(S.JSON, M, "SUPER is loaded as JSON"),
    "geometry": _p(S.GEOGRAPHY, M, _WKT),
    "geography": _p(S.GEOGRAPHY),
    "varbyte": _p(S.BYTES), "varbinary": _p(S.BYTES), "binary varying": _p(S.BYTES),
    "time with time zone": _p(S.STRING, M, _TEXT_TZ), "timetz": _p(S.STRING, M, _TEXT_TZ),
    "hllsketch": _p(S.STRING, L, "HyperLogLog sketches are loaded as their text form"),
}  # fmt: skip


def propose_redshift(type_text: str) -> TypeProposal:
    base, _, _ = _split(type_text)
    return REDSHIFT.get(base) or propose_postgres(type_text)


SQLSERVER: dict[str, TypeProposal] = {
    "tinyint": _p(S.INT64), "smallint": _p(S.INT64), "int": _p(S.INT64),
    "integer": _p(S.INT64), "bigint": _p(S.INT64),
    "bit": _p(S.BOOL), "float": _p(S.FLOAT64), "real": _p(S.FLOAT64),
    "money": _p(S.NUMERIC, H, "money is loaded as its amount (4 decimal places)"),
    "smallmoney": _p(S.NUMERIC, H, "money is loaded as its amount (4 decimal places)"),
    "char": _p(S.STRING), "varchar": _p(S.STRING), "nchar": _p(S.STRING),
    "nvarchar": _p(S.STRING), "text": _p(S.STRING), "ntext": _p(S.STRING),
    "sysname": _p(S.STRING), "uniqueidentifier": _p(S.STRING),
    "xml": _p(S.STRING, M, "XML is loaded as text"),
    "binary": _p(S.BYTES), "varbinary": _p(S.BYTES), "image": _p(S.BYTES),
    "timestamp": _p(S.BYTES, M, "SQL Server timestamp is rowversion, a binary counter"),
    "rowversion": _p(S.BYTES, M, "rowversion is a binary counter"),
    "date": _p(S.DATE), "time": _p(S.TIME),
    "datetime": _p(S.DATETIME, H, _NAIVE), "datetime2": _p(S.DATETIME, H, _NAIVE),
    "smalldatetime": _p(S.DATETIME, H, _NAIVE),
    "datetimeoffset": _p(S.TIMESTAMP, H, "the offset is applied: values load in UTC"),
    "geography": _p(S.GEOGRAPHY, M, _WKT),
    "geometry": _p(S.GEOGRAPHY, L, "planar geometry loaded as WKT; it must be in WGS 84"),
    "hierarchyid": _p(S.STRING, L, "hierarchyid is loaded as its driver text"),
    "sql_variant": _p(S.STRING, L, "sql_variant values are loaded as text"),
}  # fmt: skip


def propose_sqlserver(type_text: str) -> TypeProposal:
    base, numbers, _ = _split(type_text)
    if base in ("decimal", "numeric"):
        return _numeric(",".join(map(str, numbers or [18, 0])))
    return SQLSERVER.get(base, _UNKNOWN)


ORACLE: dict[str, TypeProposal] = {
    "integer": _p(S.INT64, M, "Oracle INTEGER is NUMBER(38): values beyond INT64 are rejected "
                  "(override to BIGNUMERIC)"),
    "smallint": _p(S.INT64, M), "float": _p(S.FLOAT64, M, "Oracle FLOAT is decimal; as FLOAT64"),
    "binary_float": _p(S.FLOAT64), "binary_double": _p(S.FLOAT64),
    "double precision": _p(S.FLOAT64), "real": _p(S.FLOAT64),
    "char": _p(S.STRING), "nchar": _p(S.STRING), "varchar": _p(S.STRING),
    "varchar2": _p(S.STRING), "nvarchar2": _p(S.STRING), "clob": _p(S.STRING),
    "nclob": _p(S.STRING), "long": _p(S.STRING, M, "LONG is loaded as text"),
    "rowid": _p(S.STRING), "urowid": _p(S.STRING),
    "xmltype": _p(S.STRING, M, "XML is loaded as text"),
    "json": _p(S.JSON),
    "blob": _p(S.BYTES), "raw": _p(S.BYTES), "long raw": _p(S.BYTES),
    "date": _p(S.DATETIME, H, "Oracle DATE holds a time of day: loaded as DATETIME"),
    "timestamp": _p(S.DATETIME, H, _NAIVE),
    "timestamp with time zone": _p(S.TIMESTAMP),
    "timestamp with local time zone": _p(S.TIMESTAMP),
    "interval day to second": _p(S.STRING, M, "intervals are loaded as text"),
    "interval year to month": _p(S.STRING, M, "intervals are loaded as text"),
    "sdo_geometry": _p(S.GEOGRAPHY, M, _WKT),
    "boolean": _p(S.BOOL),
}  # fmt: skip


def propose_oracle(type_text: str) -> TypeProposal:
    base, numbers, _ = _split(type_text)
    if base in ("number", "decimal", "numeric"):
        return _decimal(numbers, unbounded=_p(
            S.BIGNUMERIC, M, "NUMBER without precision: values with more than 38 decimal places "
            "are rounded, values beyond BIGNUMERIC rejected"))  # fmt: skip
    if base.startswith("interval day"):
        return ORACLE["interval day to second"]
    if base.startswith("interval year"):
        return ORACLE["interval year to month"]
    return ORACLE.get(base, _UNKNOWN)


_SNOWFLAKE_SEMI = "semi-structured value loaded as JSON"
SNOWFLAKE: dict[str, TypeProposal] = {
    "int": _p(S.INT64), "integer": _p(S.INT64), "bigint": _p(S.INT64), "smallint": _p(S.INT64),
    "tinyint": _p(S.INT64), "byteint": _p(S.INT64),
    "float": _p(S.FLOAT64), "float4": _p(S.FLOAT64), "float8": _p(S.FLOAT64),
    "double": _p(S.FLOAT64), "double precision": _p(S.FLOAT64), "real": _p(S.FLOAT64),
    "varchar": _p(S.STRING), "char": _p(S.STRING), "string": _p(S.STRING), "text": _p(S.STRING),
    "boolean": _p(S.BOOL), "binary": _p(S.BYTES), "varbinary": _p(S.BYTES),
    "date": _p(S.DATE), "time": _p(S.TIME),
    "timestamp_ntz": _p(S.DATETIME, H, _NAIVE), "datetime": _p(S.DATETIME, H, _NAIVE),
    "timestamp": _p(S.DATETIME, M, "TIMESTAMP is TIMESTAMP_NTZ unless the account maps it "
                    "otherwise: " + _NAIVE),
    "timestamp_ltz": _p(S.TIMESTAMP), "timestamp_tz": _p(S.TIMESTAMP),
    "variant": _p(S.JSON, M, _SNOWFLAKE_SEMI), "object": _p(S.JSON, M, _SNOWFLAKE_SEMI),
    "array": _p(S.JSON, M, _SNOWFLAKE_SEMI),
    "geography": _p(S.GEOGRAPHY), "geometry": _p(S.GEOGRAPHY, L, _WKT),
}  # fmt: skip


def propose_snowflake(type_text: str) -> TypeProposal:
    base, numbers, _ = _split(type_text)
    if base in ("number", "decimal", "numeric"):
        if numbers[:2] in ([38, 0], [38]):  # Snowflake's INTEGER is NUMBER(38,0)
            return _p(S.INT64, M, "NUMBER(38,0) is Snowflake's integer: values beyond INT64 are "
                      "rejected (override to BIGNUMERIC)")  # fmt: skip
        return _decimal(numbers or [38, 0])
    return SNOWFLAKE.get(base, _UNKNOWN)


DB2: dict[str, TypeProposal] = {
    "smallint": _p(S.INT64), "integer": _p(S.INT64), "int": _p(S.INT64), "bigint": _p(S.INT64),
    "real": _p(S.FLOAT64), "double": _p(S.FLOAT64), "float": _p(S.FLOAT64),
    "decfloat": _p(S.BIGNUMERIC, L, "DECFLOAT values beyond BIGNUMERIC are rejected"),
    "char": _p(S.STRING), "varchar": _p(S.STRING), "character": _p(S.STRING),
    "clob": _p(S.STRING), "dbclob": _p(S.STRING), "graphic": _p(S.STRING),
    "vargraphic": _p(S.STRING), "long varchar": _p(S.STRING),
    "blob": _p(S.BYTES), "binary": _p(S.BYTES), "varbinary": _p(S.BYTES),
    "char for bit data": _p(S.BYTES), "varchar for bit data": _p(S.BYTES),
    "date": _p(S.DATE), "time": _p(S.TIME), "timestamp": _p(S.DATETIME, H, _NAIVE),
    "boolean": _p(S.BOOL), "xml": _p(S.STRING, M, "XML is loaded as text"),
}  # fmt: skip


def propose_db2(type_text: str) -> TypeProposal:
    base, numbers, _ = _split(type_text)
    if base in ("decimal", "numeric", "dec"):
        return _decimal(numbers or [5, 0])
    return DB2.get(re.sub(r"\s*\(\d+\)", "", base), _UNKNOWN)


TERADATA: dict[str, TypeProposal] = {
    "byteint": _p(S.INT64), "smallint": _p(S.INT64), "integer": _p(S.INT64),
    "bigint": _p(S.INT64), "float": _p(S.FLOAT64), "real": _p(S.FLOAT64),
    "double precision": _p(S.FLOAT64),
    "char": _p(S.STRING), "varchar": _p(S.STRING), "clob": _p(S.STRING),
    "byte": _p(S.BYTES), "varbyte": _p(S.BYTES), "blob": _p(S.BYTES),
    "date": _p(S.DATE), "time": _p(S.TIME), "time with time zone": _p(S.STRING, M, _TEXT_TZ),
    "timestamp": _p(S.DATETIME, H, _NAIVE), "timestamp with time zone": _p(S.TIMESTAMP),
    "json": _p(S.JSON), "xml": _p(S.STRING, M, "XML is loaded as text"),
    "st_geometry": _p(S.GEOGRAPHY, M, _WKT),
}  # fmt: skip


def propose_teradata(type_text: str) -> TypeProposal:
    base, numbers, _ = _split(type_text)
    if base in ("decimal", "numeric", "number"):
        return _decimal(numbers or [5, 0])
    if base.startswith("interval") or base.startswith("period"):
        return _p(S.STRING, M, f"{base.split()[0]} values are loaded as text")
    return TERADATA.get(base, _UNKNOWN)
