"""Type mapping of file sources (dialect `files`): CSV text, JSON kinds and Arrow types.

CSV values are text (`text`: STRING, then sampled for dates, timestamps, integers and booleans
like any text column); JSON values by the kind seen in the sampled objects (`json integer` ...);
Parquet columns by their Arrow type name (`int64`, `timestamp[us, tz=UTC]`, `decimal128(12, 2)`).
"""

from __future__ import annotations

import re

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import Confidence, TypeProposal

S = BqType
H, M, L = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW
_NAIVE = "the file's timestamps have no time zone: values are taken as UTC"
_NESTED = "nested values are loaded as JSON"

_FIXED: dict[str, TypeProposal] = {
    "text": TypeProposal(S.STRING),
    "file path": TypeProposal(S.STRING),
    "file version": TypeProposal(S.STRING),
    "record number": TypeProposal(S.INT64),
    "json string": TypeProposal(S.STRING),
    "json integer": TypeProposal(
        S.INT64, M, ("from the sampled values; larger ones are rejected",)
    ),
    "json number": TypeProposal(S.FLOAT64, M, ("from the sampled values",)),
    "json boolean": TypeProposal(S.BOOL),
    "json object": TypeProposal(S.JSON, H, (_NESTED,)),
    "json array": TypeProposal(S.JSON, H, (_NESTED,)),
    "json null": TypeProposal(S.STRING, L, ("only nulls in the sample: loaded as text",)),
    "json mixed": TypeProposal(S.STRING, L, ("values of several kinds: loaded as text",)),
    "bool": TypeProposal(S.BOOL),
    "float": TypeProposal(S.FLOAT64),
    "halffloat": TypeProposal(S.FLOAT64),
    "double": TypeProposal(S.FLOAT64),
    "string": TypeProposal(S.STRING),
    "large_string": TypeProposal(S.STRING),
    "string_view": TypeProposal(S.STRING),
    "binary": TypeProposal(S.BYTES),
    "large_binary": TypeProposal(S.BYTES),
    "date32[day]": TypeProposal(S.DATE),
    "date64[ms]": TypeProposal(S.DATE),
    "null": TypeProposal(S.STRING, L, ("an all-null column: loaded as text",)),
}
_DECIMAL = re.compile(r"decimal(?:32|64|128|256)\((\d+), (-?\d+)\)")


def propose_files(type_text: str) -> TypeProposal:
    name = type_text.strip().lower()
    if name in _FIXED:
        return _FIXED[name]
    if re.fullmatch(r"u?int(8|16|32)", name) or name == "int64":
        return TypeProposal(S.INT64)
    if name == "uint64":
        return TypeProposal(S.NUMERIC, H, ("unsigned 64-bit integers exceed INT64",))
    if name.startswith("timestamp["):
        if "tz=" in name:
            return TypeProposal(S.TIMESTAMP)
        return TypeProposal(S.TIMESTAMP, H, (_NAIVE,))
    if name.startswith("time32") or name.startswith("time64"):
        return TypeProposal(S.TIME)
    if match := _DECIMAL.fullmatch(name):
        precision, scale = int(match.group(1)), int(match.group(2))
        if scale <= 9 and precision - scale <= 29:
            return TypeProposal(S.NUMERIC)
        return TypeProposal(S.BIGNUMERIC)
    if name.startswith(("list<", "large_list<", "struct<", "map<", "fixed_size_list<")):
        return TypeProposal(S.JSON, H, (_NESTED,))
    if name.startswith("dictionary<values=string"):
        return TypeProposal(S.STRING)
    if name.startswith("duration["):
        return TypeProposal(S.INT64, M, ("durations are loaded as their count of units",))
    return TypeProposal(S.STRING, L, (f"unknown file type {type_text!r}: loaded as text",))
