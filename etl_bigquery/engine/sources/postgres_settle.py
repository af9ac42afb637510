"""PostgreSQL's part of the settled bound (`engine.sources.settle`): the SQL that takes M and
lists the transactions open at that moment, readable by a role with SELECT only.

Every transaction, even one that has not written (no transaction id yet, e.g. one that only
took a value with nextval()), holds an ExclusiveLock on its virtualxid for its whole life, and
`pg_locks` shows every session's locks to every role (verified on PostgreSQL 15 with a plain
login role). `pg_stat_activity` hides most columns of other roles' sessions from such a role,
but not `datid`, `usesysid` and `application_name`, which is all this needs:
- `usesysid IS NULL`: autovacuum workers and other background processes (verified: an
  autovacuum worker holds a virtualxid and shows a NULL user to a plain role); they never take
  sequence values for user tables;
- `application_name = 'etl-bigquery'`: this tool's own sessions (every reader connects with it),
  which are read-only and cannot take a sequence value; without this, two jobs reading the same
  database would wait for each other's long reads;
- other databases' sessions cannot write this database's tables.
A transaction prepared for two-phase commit (`PREPARE TRANSACTION`) has no session but holds its
rows until `COMMIT PREPARED`: it is listed from `pg_prepared_xacts`, as a writer.
"""

from __future__ import annotations

from decimal import Decimal

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import CursorValue, ReadColumn
from etl_bigquery.engine.sources.settle import OpenTransaction
from etl_bigquery.engine.sources.sql_text import quote_identifier

APPLICATION_NAME = "etl-bigquery"

_OPEN = """
SELECT 'pid ' || l.pid AS label, l.pid::text || '/' || l.virtualxid AS key, {wrote} AS wrote
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'virtualxid' AND l.granted AND l.pid <> pg_backend_pid()
  AND a.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND a.usesysid IS NOT NULL
  AND a.application_name IS DISTINCT FROM '{application}'
UNION ALL
SELECT 'prepared transaction ' || quote_literal(gid), 'prepared/' || transaction::text, true
FROM pg_prepared_xacts WHERE database = current_database()
"""
_WROTE_ANYWHERE = """EXISTS (SELECT 1 FROM pg_locks x
               WHERE x.pid = l.pid AND x.locktype = 'transactionid'
                 AND x.mode = 'ExclusiveLock' AND x.granted)"""
# INSERT, UPDATE and DELETE hold RowExclusiveLock on their table until the transaction ends (the
# stronger modes are DDL and explicit LOCK TABLE), so this is "has written the source table".
_WROTE_THE_TABLE = """EXISTS (SELECT 1 FROM pg_locks x
               WHERE x.pid = l.pid AND x.locktype = 'relation' AND x.granted
                 AND x.relation = $1::regclass
                 AND x.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock',
                                'ExclusiveLock', 'AccessExclusiveLock'))"""

OPEN_TRANSACTIONS = _OPEN.format(wrote=_WROTE_ANYWHERE, application=APPLICATION_NAME)
"""The transactions of other sessions of this database, open now (`virtualxid` in the text lets
an operator or a test see in `pg_stat_activity` that a run is waiting for them); `wrote`: holds a
transaction id (it has written something). For a query source, whose tables are unknown."""

OPEN_TRANSACTIONS_OF_TABLE = _OPEN.format(wrote=_WROTE_THE_TABLE, application=APPLICATION_NAME)
"""The same list for a table source ($1, the table): `wrote` means it has written THAT table.
A transaction that wrote only other tables is no more likely to hold one of this table's
values than one that has not written at all (both may have taken a value with nextval() before
their insert), so past settle_timeout both are warned about and neither holds the read back:
a long batch writing other tables of the database does not stall this job."""


def max_sql(source_sql: str, cursor: ReadColumn, lower_predicate: str | None) -> str:
    """M as text (numeric and float values keep every digit); NaN is left out, as the engine
    never loads a NaN cursor (it is no bound)."""
    quoted = quote_identifier(cursor.name)
    where = [lower_predicate] if lower_predicate else []
    if cursor.bq_type is BqType.FLOAT64:
        where.append(f"{quoted} <> 'NaN'")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT max({quoted})::text FROM {source_sql}{clause}"


def parse_max(text: str | None, bq_type: BqType) -> CursorValue | None:
    """M in the cursor's Python type."""
    if text is None:
        return None
    if bq_type is BqType.INT64:
        return int(Decimal(text))
    if bq_type is BqType.FLOAT64:
        return float(text)
    if bq_type in (BqType.NUMERIC, BqType.BIGNUMERIC):
        return Decimal(text)
    raise TypeError(f"a {bq_type.value} cursor is not settled")


def open_transactions(rows: list[tuple[object, ...]]) -> list[OpenTransaction]:
    return [OpenTransaction(str(key), str(label), bool(wrote)) for label, key, wrote in rows]


SEQUENCE_CACHE = """
SELECT format('%I.%I', n.nspname, c.relname), s.seqcache
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE s.seqrelid = pg_get_serial_sequence($1, $2)::regclass
"""
"""The sequence that feeds a serial or identity column, and its cache (NULL row: none)."""


def cache_caveat(rows: list[tuple[object, ...]], column: str) -> str | None:
    """A sequence with CACHE > 1 hands each session a block of values: a session can take a value
    from its block after the bound was taken, below values others committed, so the settled
    bound cannot hold it; only a lookback can."""
    if not rows or rows[0][1] is None or int(rows[0][1]) <= 1:  # type: ignore[call-overload]
        return None
    name, cache = rows[0][0], int(rows[0][1])  # type: ignore[call-overload]
    return (
        f"sequence {name} of {column} hands out values in blocks of {cache} per session (CACHE "
        f"{cache}), so a session can commit a value below ones committed before this run read; "
        f"set lookback to at least {cache} times the number of writing sessions, or ALTER "
        f"SEQUENCE {name} CACHE 1"
    )
