"""The SQL of merge and history tables (engine.merge), rendered in one place.

Every statement is a pure function of its inputs: the table's shape, the staging table and, for
the MERGE, the literal partition list computed by the plan query. So a MERGE's text is fixed by
what its deterministic job id names, and can be read back from the job (`get_job(id).query`).

The versions of a key are totally ordered by `(cursor, _etl_loaded_at, _etl_row_hash)`: the
staging table is deduplicated with that order (`QUALIFY`), and a target row is replaced only by a
version that is greater in it (`WHEN MATCHED AND <S wins>`), so applying a MERGE twice changes
nothing the second time and an older version never overwrites a newer one.

Rules of this builder, each also valid production SQL:
- NULLs are written typed (`CAST(NULL AS TIMESTAMP)`): the emulator (local-bigquery 0.3.2)
  rejects a bare `SET col = NULL` inside a MERGE ("Syntax error: Unexpected NULL").
- No `BEGIN TRANSACTION`: one DML statement is one atomic transaction in BigQuery; the emulator
  fails a MERGE inside a transaction ("Current transaction is aborted").
- `WHERE TRUE` before `QUALIFY`: BigQuery has required a WHERE, GROUP BY or HAVING beside QUALIFY.
- The partition filter is a set of constant ranges on the partitioning column placed in `ON`:
  BigQuery prunes only on constants (a subquery is evaluated later and prunes nothing), and a
  condition in a `WHEN` clause is evaluated after the join.

Emulator notes (why tests look at statements and `dml_stats`, never at bytes): the emulator
reports 0 for every byte figure (also on dry runs), keeps `INFORMATION_SCHEMA.PARTITIONS` without
byte columns, and refuses `FOR SYSTEM_TIME AS OF`; none of it changes the SQL here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from google.cloud import bigquery

from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.schema.bqtypes import BqType

LOADED_AT = "_etl_loaded_at"
RUN_ID = "_etl_run_id"
KEY_HASH = "_etl_key_hash"
ROW_HASH = "_etl_row_hash"
DELETED_AT = "_etl_deleted_at"
VALID_FROM = "_etl_valid_from"
VALID_TO = "_etl_valid_to"
IS_CURRENT = "_etl_is_current"
_MERGE_KEY = "_etl_mk_"
_FROM = "_etl_from"
_DAY = dt.timedelta(days=1)


def q(name: str) -> str:
    """A column name quoted; names are sanitized BigQuery names (no backtick can occur)."""
    return f"`{name}`"


@dataclass(frozen=True)
class Col:
    name: str
    bq_type: BqType


@dataclass(frozen=True)
class MergeShape:
    """What the statements of one merge or history table depend on."""

    target: TableRef
    keys: tuple[Col, ...]
    cursor: Col
    loaded: tuple[str, ...]
    """The data columns this job writes (UPDATE SET and INSERT); others keep their values."""
    partition: Col | None
    """Merge: the DAY partitioning column (None: unpartitioned). History: `_etl_valid_from`."""
    history: bool = False


@dataclass(frozen=True)
class Partitions:
    """Partitions (UTC days) a statement may touch, and whether the NULL partition is one."""

    days: tuple[dt.date, ...] = ()
    null: bool = False

    @property
    def count(self) -> int:
        return len(self.days) + int(self.null)


# -- small pieces ------------------------------------------------------------------------------


def _day_of(expression: str, bq_type: BqType) -> str:
    """The UTC day a value of the partitioning column falls in (its partition)."""
    return expression if bq_type is BqType.DATE else f"DATE({expression})"


def valid_from(alias: str, cursor: Col) -> str:
    """When a history version starts: its cursor when that is a date or time (DATETIME read as
    UTC, DATE as midnight), else the stamp of the read (`_etl_loaded_at`)."""
    if cursor.bq_type is BqType.TIMESTAMP:
        return f"{alias}.{q(cursor.name)}"
    if cursor.bq_type in (BqType.DATETIME, BqType.DATE):
        return f"TIMESTAMP({alias}.{q(cursor.name)})"
    return f"{alias}.{LOADED_AT}"


def _bound(day: dt.date, bq_type: BqType) -> str:
    if bq_type is BqType.DATE:
        return f"DATE '{day.isoformat()}'"
    if bq_type is BqType.DATETIME:
        return f"DATETIME '{day.isoformat()} 00:00:00'"
    return f"TIMESTAMP '{day.isoformat()} 00:00:00+00'"


def _runs(days: Sequence[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days joined into [first, last] runs (a shorter statement, same partitions)."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + _DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def partition_filter(alias: str, column: Col, partitions: Partitions) -> str:
    """Constant ranges on the partitioning column: the form BigQuery prunes partitions by."""
    target = f"{alias}.{q(column.name)}"
    parts = []
    for first, last in _runs(partitions.days):
        if column.bq_type is BqType.DATE:
            if first == last:
                parts.append(f"{target} = {_bound(first, BqType.DATE)}")
            else:
                parts.append(
                    f"{target} BETWEEN {_bound(first, BqType.DATE)} AND {_bound(last, BqType.DATE)}"
                )
            continue
        lower = f"{target} >= {_bound(first, column.bq_type)}"
        if last == dt.date.max:
            parts.append(lower)
        else:
            parts.append(f"({lower} AND {target} < {_bound(last + _DAY, column.bq_type)})")
    if partitions.null:
        parts.append(f"{target} IS NULL")
    if not parts:
        return "FALSE"
    return "(" + " OR ".join(parts) + ")"


def _keys_equal(left: str, right: str, keys: Sequence[Col], prefix: str = "") -> str:
    # Key values are never NULL (rows with a NULL key are rejected), so plain `=` is exact.
    return " AND ".join(f"{left}.{q(k.name)} = {right}.{q(prefix + k.name)}" for k in keys)


def _key_list(keys: Sequence[Col], alias: str = "") -> str:
    dot = f"{alias}." if alias else ""
    return ", ".join(f"{dot}{q(k.name)}" for k in keys)


def _newest_first(cursor: Col, alias: str = "") -> str:
    dot = f"{alias}." if alias else ""
    return f"ORDER BY {dot}{q(cursor.name)} DESC, {dot}{LOADED_AT} DESC, {dot}{ROW_HASH} DESC"


def wins(new: str, old: str, cursor: Col) -> str:
    """`new` is a later version than `old` in the total order (cursor, stamp, row hash)."""
    c = q(cursor.name)
    return (
        f"({new}.{c} > {old}.{c}"
        f" OR ({new}.{c} = {old}.{c} AND {new}.{LOADED_AT} > {old}.{LOADED_AT})"
        f" OR ({new}.{c} = {old}.{c} AND {new}.{LOADED_AT} = {old}.{LOADED_AT}"
        f" AND {new}.{ROW_HASH} > {old}.{ROW_HASH}))"
    )


def _deduplicated(shape: MergeShape, staging: TableRef) -> str:
    return (
        f"SELECT * FROM {staging.sql} WHERE TRUE\n"
        f"  QUALIFY ROW_NUMBER() OVER (PARTITION BY {_key_list(shape.keys)} "
        f"{_newest_first(shape.cursor)}) = 1"
    )


# -- state -------------------------------------------------------------------------------------


def state_sql(shape: MergeShape, window_start_sql: str) -> str:
    """ONE query: the state aggregates, then the window's rows (key hash, row hash, cursor,
    stamp, deleted) with cursor ≥ `window_start_sql` (an expression over `state.w`). History:
    only the latest version of each key (current, or closed by a delete)."""
    c = q(shape.cursor.name)
    live = f"{IS_CURRENT}" if shape.history else f"{DELETED_AT} IS NULL"
    latest = ""
    if shape.history:
        latest = (
            f"\n    AND (T.{IS_CURRENT} OR T.{DELETED_AT} IS NOT NULL)"
            f"\n    QUALIFY ROW_NUMBER() OVER (PARTITION BY T.{KEY_HASH} "
            f"ORDER BY T.{VALID_FROM} DESC, T.{LOADED_AT} DESC) = 1"
        )
    return f"""
WITH state AS (
  SELECT MAX({c}) AS w, COUNT(*) AS n, MAX({LOADED_AT}) AS l, MAX({DELETED_AT}) AS d,
         COUNTIF({live}) AS live,
         COUNTIF({c} IS NULL OR {KEY_HASH} IS NULL OR {ROW_HASH} IS NULL
                 OR {LOADED_AT} IS NULL) AS untraced
  FROM {shape.target.sql}
)
SELECT 'state' AS kind, CAST(NULL AS STRING) AS k, CAST(NULL AS STRING) AS h, state.w AS c,
       state.l AS l, state.d AS d, state.n AS n, state.live AS live, state.untraced AS u
FROM state
UNION ALL
SELECT 'row', r.k, r.h, r.c, r.l, r.d, NULL, NULL, NULL
FROM (
  SELECT T.{KEY_HASH} AS k, T.{ROW_HASH} AS h, T.{c} AS c, T.{LOADED_AT} AS l,
         T.{DELETED_AT} AS d
  FROM {shape.target.sql} AS T CROSS JOIN state
  WHERE T.{c} >= {window_start_sql}{latest}
) AS r
"""


# -- plan --------------------------------------------------------------------------------------


def plan_sql(shape: MergeShape, staging: TableRef, *, strict_keys: bool) -> str:
    """Read-only, one job: the partitions the staged keys live in now (`old`), the partitions
    their new versions go to (`new`; history also `reopen`: where a deleted key's version was
    closed), keys that do not identify a row (`dup`), and the range of an INT64 first key.

    `strict_keys`: the staged rows come from one consistent read, so one key read with two
    different contents is a key that is not unique. Otherwise (units read at different times)
    only two contents with the same cursor are: a row updated between two reads has moved on."""
    parts: list[str] = []
    distinct_keys = f"(SELECT DISTINCT {_key_list(shape.keys)} FROM {staging.sql})"
    on = _keys_equal("T", "S", shape.keys)
    joined = f"{shape.target.sql} AS T JOIN {distinct_keys} AS S ON {on}"
    if shape.partition is not None:
        old_day = _day_of(f"T.{q(shape.partition.name)}", shape.partition.bq_type)
        current = f" WHERE T.{IS_CURRENT} OR T.{DELETED_AT} IS NOT NULL" if shape.history else ""
        parts.append(
            f"SELECT 'old' AS kind, CAST({old_day} AS STRING) AS v, COUNT(*) AS n\n"
            f"FROM {joined}{current}\nGROUP BY v"
        )
        if shape.history:
            new_day = f"DATE({valid_from('S', shape.cursor)})"
            parts.append(
                f"SELECT 'reopen', CAST(DATE(T.{VALID_TO}) AS STRING), COUNT(*)\n"
                f"FROM {joined} WHERE T.{DELETED_AT} IS NOT NULL\nGROUP BY 2"
            )
        else:
            new_day = _day_of(f"S.{q(shape.partition.name)}", shape.partition.bq_type)
        parts.append(
            f"SELECT 'new', CAST({new_day} AS STRING), COUNT(*) FROM {staging.sql} AS S GROUP BY 2"
        )
    key_json = ", ".join(f"S.{q(k.name)} AS {q(k.name)}" for k in shape.keys)
    group = _key_list(shape.keys, "S") + ("" if strict_keys else f", S.{q(shape.cursor.name)}")
    parts.append(
        f"SELECT 'dup', TO_JSON_STRING(STRUCT({key_json})), COUNT(*) FROM {staging.sql} AS S\n"
        f"GROUP BY {group} HAVING MIN(S.{ROW_HASH}) != MAX(S.{ROW_HASH})"
    )
    first = shape.keys[0]
    if first.bq_type is BqType.INT64:
        parts.append(
            f"SELECT 'range', CONCAT(CAST(MIN(S.{q(first.name)}) AS STRING), ':', "
            f"CAST(MAX(S.{q(first.name)}) AS STRING)), COUNT(*) FROM {staging.sql} AS S"
        )
    return "\nUNION ALL\n".join(parts)


# -- the MERGE statements ----------------------------------------------------------------------


def _on_filter(
    shape: MergeShape, partitions: Partitions | None, key_range: tuple[int, int] | None
) -> str:
    extra = ""
    if shape.partition is not None and partitions is not None:
        extra += "\n   AND " + partition_filter("T", shape.partition, partitions)
    if key_range is not None:
        # Clustered on the key: a constant range lets BigQuery skip blocks of other keys.
        extra += f"\n   AND T.{q(shape.keys[0].name)} BETWEEN {key_range[0]} AND {key_range[1]}"
    return extra


def merge_sql(
    shape: MergeShape,
    staging: TableRef,
    partitions: Partitions | None,
    key_range: tuple[int, int] | None = None,
) -> str:
    """The current-state MERGE: newest version per key, never an older one over a newer one, a
    soft-deleted key that comes back is undeleted."""
    keys = {k.name for k in shape.keys}
    meta = (ROW_HASH, KEY_HASH, LOADED_AT, RUN_ID)
    updates = [c for c in shape.loaded if c not in keys] + list(meta)
    sets = ",\n  ".join(f"{q(c)} = S.{q(c)}" for c in updates)
    inserted = [*shape.loaded, *meta]
    return f"""MERGE {shape.target.sql} AS T
USING (
  {_deduplicated(shape, staging)}
) AS S
ON {_keys_equal("T", "S", shape.keys)}{_on_filter(shape, partitions, key_range)}
WHEN MATCHED AND ({wins("S", "T", shape.cursor)}
     OR (T.{DELETED_AT} IS NOT NULL AND S.{LOADED_AT} > T.{DELETED_AT})) THEN UPDATE SET
  {sets},
  {DELETED_AT} = CAST(NULL AS TIMESTAMP)
WHEN NOT MATCHED BY TARGET THEN INSERT
  ({", ".join(q(c) for c in inserted)}, {DELETED_AT})
  VALUES ({", ".join("S." + q(c) for c in inserted)}, CAST(NULL AS TIMESTAMP))"""


def history_sql(
    shape: MergeShape,
    staging: TableRef,
    partitions: Partitions | None,
    key_range: tuple[int, int] | None = None,
) -> str:
    """History (SCD type 2) in one MERGE: the winners twice, once keyed (closes the current
    version at the new one's start) and once with NULL merge keys (never matches: inserts it)."""
    keys = _key_list(shape.keys)
    assert shape.partition is not None
    flt = partition_filter("T", shape.partition, partitions) if partitions is not None else "TRUE"
    cursor = q(shape.cursor.name)
    start = valid_from("inc", shape.cursor)
    keyed = ", ".join(f"{q(k.name)} AS {q(_MERGE_KEY + k.name)}" for k in shape.keys)
    unkeyed = ", ".join(
        f"CAST(NULL AS {k.bq_type.value}) AS {q(_MERGE_KEY + k.name)}" for k in shape.keys
    )
    meta = (ROW_HASH, KEY_HASH, LOADED_AT, RUN_ID)
    inserted = [*shape.loaded, *meta]
    return f"""MERGE {shape.target.sql} AS T
USING (
  WITH inc AS (
    {_deduplicated(shape, staging)}
  ), latest AS (
    SELECT {keys}, {cursor}, {LOADED_AT}, {ROW_HASH}, {VALID_TO}, {DELETED_AT}
    FROM {shape.target.sql} AS T
    WHERE (T.{IS_CURRENT} OR T.{DELETED_AT} IS NOT NULL) AND {flt}
    QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys}
      ORDER BY T.{VALID_FROM} DESC, T.{LOADED_AT} DESC) = 1
  ), fresh AS (
    SELECT inc.*,
           GREATEST({start}, COALESCE(IF(l.{DELETED_AT} IS NOT NULL, l.{VALID_TO}, NULL),
                                      {start})) AS {_FROM}
    FROM inc LEFT JOIN latest AS l USING ({keys})
    WHERE l.{ROW_HASH} IS NULL
       OR (l.{DELETED_AT} IS NOT NULL AND inc.{LOADED_AT} > l.{DELETED_AT})
       OR (l.{DELETED_AT} IS NULL AND {wins("inc", "l", shape.cursor)})
  )
  SELECT {keyed}, fresh.* FROM fresh
  UNION ALL
  SELECT {unkeyed}, fresh.* FROM fresh
) AS S
ON {_keys_equal("T", "S", shape.keys, _MERGE_KEY)} AND T.{IS_CURRENT}
   AND {flt}{_on_filter(shape, None, key_range)}
WHEN MATCHED THEN UPDATE SET {VALID_TO} = S.{_FROM}, {IS_CURRENT} = FALSE
WHEN NOT MATCHED BY TARGET AND S.{q(_MERGE_KEY + shape.keys[0].name)} IS NULL THEN INSERT
  ({", ".join(q(c) for c in inserted)}, {VALID_FROM}, {VALID_TO}, {IS_CURRENT}, {DELETED_AT})
  VALUES ({", ".join("S." + q(c) for c in inserted)}, S.{_FROM}, CAST(NULL AS TIMESTAMP), TRUE,
          CAST(NULL AS TIMESTAMP))"""


def delete_sql(shape: MergeShape, keys_table: TableRef, *, hard: bool) -> str:
    """Rows whose key the source no longer has: soft (`_etl_deleted_at`), hard (removed), or
    history (the current version closed; hard: every version removed). `@checked_at` is when the
    key read started: a version stamped at or after it was read later than the key set, which
    proves its key existed, so a stale or concurrent key set never deletes it."""
    on = _keys_equal("T", "K", shape.keys)
    guard = f"T.{LOADED_AT} < @checked_at"
    if hard:
        condition, action = guard, "DELETE"
    elif shape.history:
        condition = f"T.{IS_CURRENT} AND {guard}"
        action = (
            f"UPDATE SET {IS_CURRENT} = FALSE, {VALID_TO} = @checked_at, {DELETED_AT} = @checked_at"
        )
    else:
        condition = f"T.{DELETED_AT} IS NULL AND {guard}"
        action = f"UPDATE SET {DELETED_AT} = @checked_at"
    # DISTINCT: a target row matched by two source rows fails a MERGE (the emulator even when
    # no clause acts on matches).
    return f"""MERGE {shape.target.sql} AS T
USING (SELECT DISTINCT {_key_list(shape.keys)} FROM {keys_table.sql}) AS K
ON {on}
WHEN NOT MATCHED BY SOURCE AND {condition} THEN {action}"""


def checked_at_parameter(checked_at: dt.datetime) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter("checked_at", "TIMESTAMP", checked_at)
