"""MySQL/MariaDB's part of the settled bound (`engine.sources.settle`), through
`information_schema.INNODB_TRX`, which needs the PROCESS privilege.

An AUTO_INCREMENT value is assigned inside the inserting statement, and that statement registers
its transaction in INNODB_TRX (verified on MariaDB 10.11: an open transaction that inserted is
listed with `trx_rows_modified` 1; one that only read is listed with 0 modified rows and no
lock structures; `BEGIN` alone and autocommit SELECTs are not listed). A transaction started
READ ONLY (`trx_is_read_only`), as every read of this tool is,
cannot insert, so it holds no id and is not waited for (verified: an INSERT there fails with
1792). A transaction is named by its session and start (`trx_mysql_thread_id`,
`trx_started`): the session's next transaction starts later, or is waited for one more second.
Not covered: a MariaDB SEQUENCE value taken with NEXTVAL() before the transaction's first InnoDB
statement (that transaction is not listed yet), and values the application takes itself; such
jobs need `lookback`.
"""

from __future__ import annotations

from decimal import Decimal

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.sources.base import CursorValue, ReadColumn
from etl_bigquery.engine.sources.settle import OpenTransaction

NO_PROCESS_PRIVILEGE = 1227  # "Access denied; you need (at least one of) the PROCESS privilege"
CHECK_ACCESS = "SELECT COUNT(*) FROM information_schema.INNODB_TRX"
OPEN_TRANSACTIONS = """
SELECT trx_mysql_thread_id, CAST(trx_started AS CHAR),
       trx_rows_modified > 0 OR trx_lock_structs > 0 OR trx_state = 'LOCK WAIT'
FROM information_schema.INNODB_TRX
WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_is_read_only = 0
"""


def max_sql(source_sql: str, quoted_cursor: str, lower_predicate: str | None) -> str:
    """M as text, so DECIMAL values keep every digit."""
    clause = f" WHERE {lower_predicate}" if lower_predicate else ""
    return f"SELECT CAST(MAX({quoted_cursor}) AS CHAR) FROM {source_sql}{clause}"


def parse_max(text: str | bytes | None, cursor: ReadColumn) -> CursorValue | None:
    if text is None:
        return None
    value = text.decode() if isinstance(text, bytes) else str(text)
    if cursor.bq_type is BqType.INT64:
        return int(Decimal(value))
    if cursor.bq_type is BqType.FLOAT64:
        return float(value)
    if cursor.bq_type in (BqType.NUMERIC, BqType.BIGNUMERIC):
        return Decimal(value)
    raise TypeError(f"a {cursor.bq_type.value} cursor is not settled")


def open_transactions(rows: list[tuple[object, ...]]) -> list[OpenTransaction]:
    return [
        OpenTransaction((str(thread), str(started)), f"thread {thread}", bool(wrote))
        for thread, started, wrote in rows
    ]
