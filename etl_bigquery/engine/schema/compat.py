"""Which proposed column type may load into which existing BigQuery column type.

Loading into an existing table is allowed when every loaded column is compatible; anything not
listed here blocks (SPEC §4). Same-type loads are always allowed.
"""

from __future__ import annotations

from etl_bigquery.engine.schema.bqtypes import BqType

S = BqType
COMPATIBLE: dict[BqType, frozenset[BqType]] = {
    S.INT64: frozenset({S.INT64, S.FLOAT64, S.NUMERIC, S.STRING}),
    S.FLOAT64: frozenset({S.FLOAT64, S.NUMERIC, S.STRING}),
    S.STRING: frozenset({S.STRING}),
    S.BOOL: frozenset({S.BOOL, S.STRING}),
    S.TIMESTAMP: frozenset({S.TIMESTAMP, S.DATETIME, S.STRING}),
    S.DATE: frozenset({S.DATE, S.STRING}),
}


def can_load(source: BqType, existing: BqType) -> bool:
    """Whether values of type `source` may be written into a column of type `existing`."""
    return existing == source or existing in COMPATIBLE.get(source, frozenset())
