"""Exactly once, without a state database: the protocol of every load.

The destination table is the only state. A run reads it in ONE query (one BigQuery query job sees
one consistent snapshot of the table, so a load landing meanwhile cannot split the read), derives
a *state token* from it, and names its load job after that token: `etl_<job>_<hash(table,
token)>_<attempt>`. BigQuery refuses a second job with an existing id, so **each state of a table
has at most one successor load** per attempt number, whichever run submits it.

Transactional (append) runs:
1. **Plan** (`plan_increment`). One query returns the watermark `W` (largest cursor value), the
   table's row count, and the (identity, version) pairs (`engine.fingerprint`,
   `engine.row_version`) of every row with cursor ≥ `W - lookback` (the *window*), counted as a
   multiset. The token is `(W, row count)`: every
   non-empty load changes it. A table holding rows without a cursor value, or window rows without
   a fingerprint, cannot say what it holds: the run fails (fail closed), it never reloads
   everything. Jobs already submitted from the same token are settled: one still running (left
   by a killed run) is waited for, then planning starts over from the new state; one that
   finished while the state did not move (it failed) has spent its id: the next attempt number
   is used.
2. **Extract** rows with cursor ≥ `W - lookback` (or ≥ the backfill start on a first run), and
   for a numeric cursor of a settling source ≤ the read's settled bound, which no open
   transaction can still commit below (`engine.cursor_reading`; rows above it wait for the next
   run, so the watermark never passes an uncommitted id). Each
   row's fingerprint is computed from its conformed values; rows whose fingerprint is in the
   window multiset are dropped (k held rows cancel k identical source rows), so rows sharing the
   watermark, and rows committed late with a cursor inside the lookback, are neither lost nor
   duplicated. Rejected (malformed) rows are staged as files, fingerprinted from their source
   values, and dropped when `<table>__rejected` already holds them.
3. **Load**: first the rejected rows (job id derived from the main job's id and the content),
   then the one main load job with the planned id. A 409 on submit means the id exists: the
   same flow run retrying adopts its own job; another run's job carries the same increment, so
   this run stops without loading. Rejected rows go first so that a crash between the two loads
   leaves them recorded before the watermark moves past them.

Catalog (snapshot) runs plan the same way with the token `(run id of the rows in the table, row
count)`: a snapshot can only replace the state it was planned from, so an older run's
WRITE_TRUNCATE can never land after a newer one (both would carry the same id, or the older one's
state would already be gone). Every snapshot is extracted after its predecessor landed, so the
table only moves forward in time.

Crash points and what the next run does (tests/integration/test_exactly_once.py, tests/faults/):
killed while extracting or before submitting → the state is unchanged, no job: a normal run;
killed while a load job runs → the next run waits for that job, then plans from the new state;
killed after the job finished → the state already moved: a normal run from there;
killed between the rejected-rows load and the main load → rejected rows are recognised, the rows
are loaded; a load job that failed → the state is unchanged and that id is spent: next attempt.

Merge and history runs (`engine.merge`) follow the same protocol; the step that changes the
table is one MERGE from a run-scoped staging table, and `settle` probes both ids an attempt may
have submitted (the staging load and the MERGE).

Out of reach, by design: rows committed later than the lookback behind the watermark (raise
`lookback`); deletes and in-place updates in the source (an append load has no way to see them;
use a merge job, or a catalog job); rows with a NULL cursor. A row updated in place without its
cursor changing, inside the lookback, is loaded again as a new version: "already loaded?" is
decided by (identity, content) (`engine.already_loaded`, `engine.row_version`). Rows whose cursor
is in the future are not loaded until their time has come (`engine.clock_rule`), so the
watermark never runs ahead of the clock. An allowed empty snapshot (catalog,
`allow_empty_snapshot: true`) empties the table with one DELETE under the snapshot's job id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl_bigquery.engine.bigquery.clients import classify_google_error
from etl_bigquery.engine.bigquery.tables import TableRef, get_table
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.errors import EtlError, Stage, StateUnavailable, ValidationError
from etl_bigquery.engine.fingerprint import ROW_HASH, KnownRows, from_hex
from etl_bigquery.engine.row_version import NO_VERSION, ROW_VERSION, pair_keys
from etl_bigquery.engine.schema.bqtypes import BqType

MAX_ATTEMPTS = 50
_WAIT_POLL_SECONDS = 2.0
# Rows stamped with a cursor at transaction start (DEFAULT now()) commit up to a transaction's
# length later than their stamp. Ten minutes covers ordinary OLTP transactions and most batch
# jobs while re-reading little: a run re-reads ten minutes of rows and compares fingerprints.
DEFAULT_TIME_LOOKBACK = dt.timedelta(minutes=10)

LookbackValue = dt.timedelta | int | Decimal | float


@dataclass(frozen=True)
class SequenceRule:
    """What a source guarantees for a numeric cursor (`engine.cursor_reading.sequence_rule`):
    sequence values commit in any order, so a run that loads id 8 while id 7 is uncommitted
    loses 7 unless the source settles its reads or the job re-reads behind the watermark."""

    safe: bool
    """A numeric cursor needs no lookback here."""
    why: str
    """Why it is safe (for the validate artifact), or why not (the middle of the refusal)."""
    settles: bool = False
    """Reads are settled (`engine.sources.abilities.SettlesCursor`)."""
    fix: str = ""
    """One more way out for the refusal, e.g. 'or grant the login the PROCESS privilege'."""


def numeric_lookback_refusal(cursor: TargetColumn, rule: SequenceRule | None) -> str:
    why = (
        rule.why
        if rule is not None
        else (
            "this source cannot tell a run which values transactions still open may commit below "
            "the watermark"
        )
    )
    fix = f", {rule.fix}" if rule is not None and rule.fix else ""
    return (
        f"cursor_column '{cursor.source_name}' is a number and {why}, so a value committed "
        "late below the watermark would never be loaded; set lookback: to how many values "
        "transactions still open when a run reads can hold (e.g. lookback: 1000: those rows are "
        "re-read, compared and loaded once), set lookback: 0 to accept that such rows are "
        f"lost{fix}."
    )


@dataclass(frozen=True)
class Lookback:
    """How far behind the watermark a run re-reads, in the cursor's own terms."""

    cursor: TargetColumn
    amount: LookbackValue
    reason: str = ""
    """Why this amount (the validate artifact shows it)."""
    settles: bool = False
    """Numeric cursors of a settling source: reads stop at the settled bound
    (`engine.cursor_reading.settle_read`)."""

    @classmethod
    def for_job(
        cls, value: object, cursor: TargetColumn, rule: SequenceRule | None = None
    ) -> Lookback:
        """The job's `lookback` (text, number or None) for this cursor; a mismatch of kind (a
        duration on a numeric cursor) is a `ValidationError` naming the fix. A numeric cursor
        without a lookback is refused unless `rule` (what the source guarantees) says it needs
        none: a silent default of 0 loses rows committed out of order."""
        from etl_bigquery.engine.jobs.model import parse_lookback_text

        bq_type = cursor.bq_type
        parsed: object = value
        if isinstance(value, str):
            parsed = parse_lookback_text(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = Decimal(str(value))
        by_job = f"lookback {value} set by the job"
        if bq_type in (BqType.TIMESTAMP, BqType.DATETIME, BqType.DATE):
            reason = by_job
            if parsed is None:
                parsed = DEFAULT_TIME_LOOKBACK if bq_type is not BqType.DATE else dt.timedelta(0)
                reason = (
                    "0: the watermark's whole day is re-read"
                    if bq_type is BqType.DATE
                    else "default 10m: rows stamped when their transaction started commit up "
                    "to a transaction's length later"
                )
            if isinstance(parsed, Decimal) and parsed != 0:
                raise ValidationError(
                    f"lookback {value!r} needs a unit for the {bq_type.value} cursor "
                    f"'{cursor.source_name}'; write e.g. '10m', '2h' or '1d'."
                )
            if isinstance(parsed, Decimal):
                parsed = dt.timedelta(0)
            assert isinstance(parsed, dt.timedelta)
            if bq_type is BqType.DATE:
                days = dt.timedelta(days=math.ceil(parsed.total_seconds() / 86400))
                return cls(cursor, days, reason)
            return cls(cursor, parsed, reason)
        if isinstance(parsed, dt.timedelta):
            raise ValidationError(
                f"lookback {value!r} is a duration but the cursor '{cursor.source_name}' is "
                f"{bq_type.value}; give a number of cursor units (e.g. lookback: 1000)."
            )
        settles = rule is not None and rule.settles
        if parsed is None:
            if rule is None or not rule.safe:
                raise ValidationError(numeric_lookback_refusal(cursor, rule))
            parsed, reason = Decimal(0), f"0: {rule.why}"
        elif parsed == 0 and not (rule is not None and rule.safe):
            reason = f"{by_job}: rows committed late below the watermark are not loaded"
        else:
            reason = by_job + (f"; {rule.why}" if settles and rule is not None else "")
        amount = parsed if isinstance(parsed, Decimal) else Decimal(0)
        if bq_type is BqType.INT64:
            if amount != amount.to_integral_value():
                raise ValidationError(
                    f"lookback {value!r} must be a whole number for the INT64 cursor "
                    f"'{cursor.source_name}'."
                )
            return cls(cursor, int(amount), reason, settles)
        if bq_type is BqType.FLOAT64:
            return cls(cursor, float(amount), reason, settles)
        return cls(cursor, amount, reason, settles)

    @property
    def is_zero(self) -> bool:
        return not self.amount

    def window_start(self, watermark: object) -> object:
        """`W - lookback`, computed exactly as the state query computes it in BigQuery."""
        if self.is_zero:
            return watermark
        return watermark - self.amount  # type: ignore[operator]

    def sql(self, watermark_sql: str) -> tuple[str, list[bigquery.ScalarQueryParameter]]:
        """`W - lookback` as BigQuery SQL over `watermark_sql`, with its parameters."""
        if self.is_zero:
            return watermark_sql, []
        bq_type = self.cursor.bq_type
        if isinstance(self.amount, dt.timedelta):
            if bq_type is BqType.DATE:
                days = bigquery.ScalarQueryParameter("lookback", "INT64", self.amount.days)
                return f"DATE_SUB({watermark_sql}, INTERVAL @lookback DAY)", [days]
            micros = bigquery.ScalarQueryParameter(
                "lookback", "INT64", self.amount // dt.timedelta(microseconds=1)
            )
            function = "TIMESTAMP_SUB" if bq_type is BqType.TIMESTAMP else "DATETIME_SUB"
            return f"{function}({watermark_sql}, INTERVAL @lookback MICROSECOND)", [micros]
        parameter_type = {BqType.INT64: "INT64", BqType.FLOAT64: "FLOAT64"}.get(bq_type, bq_type)
        amount = bigquery.ScalarQueryParameter("lookback", str(parameter_type), self.amount)
        return f"({watermark_sql} - @lookback)", [amount]

    def describe(self) -> str:
        if isinstance(self.amount, dt.timedelta):
            return str(self.amount) if self.amount else "0"
        return str(self.amount)


@dataclass(frozen=True)
class StateKey:
    """What the table holds, as far as naming the next load job is concerned."""

    marker: object | None
    """Transactional: the watermark W. Catalog: the run id of the snapshot in the table."""
    rows: int

    @property
    def watermark(self) -> object | None:
        return self.marker

    def token(self) -> str:
        value = self.marker
        if isinstance(value, dt.datetime | dt.date | dt.time):
            value = value.isoformat()
        return json.dumps([str(value) if value is not None else None, self.rows])


@dataclass
class IncrementPlan:
    """What a run loads on top of: the state, the job id, and the rows already held."""

    state: StateKey
    attempt: int
    job_id: str
    known: KnownRows = field(default_factory=KnownRows.empty)
    window_start: object | None = None
    """Rows with cursor ≥ this are re-read and compared (None on a first run)."""


def load_job_id(job_name: str, ref: TableRef, key: str, attempt: int) -> str:
    """Deterministic BigQuery job id: same job, table, state and attempt → same id."""
    digest = hashlib.sha256(f"{ref.id}|{key}".encode()).hexdigest()[:24]
    safe_name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in job_name)
    return f"etl_{safe_name}_{digest}_{attempt}"


def unreadable(error: Exception, ref: TableRef, what: str) -> StateUnavailable:
    cause = classify_google_error(error, Stage.VALIDATION, f"reading {what} of {ref}")
    return StateUnavailable(
        f"Could not read {what} of {ref}, so this run loads nothing (it never falls back to a "
        f"full reload): {cause.message}",
        # A 409 on a read means the client's retry met its own earlier query job (its answer
        # was lost): reading again is safe, so it is retried like any transient error.
        transient=cause.transient or isinstance(error, gexc.Conflict),
    )


def read_window(
    client: bigquery.Client,
    ref: TableRef,
    cursor: TargetColumn,
    lookback: Lookback,
    *,
    location: str | None = None,
    versioned: bool = True,
) -> tuple[StateKey, KnownRows, object | None]:
    """`(W, rows)`, the window's (identity, version) pairs and the window start, from ONE
    query. `versioned=False`: the table has no `_etl_row_version` column yet (it gets one
    before this run loads); its rows are held by identity alone (`engine.row_version`)."""
    column = f"`{cursor.name}`"
    version_sql = f"t.`{ROW_VERSION}`" if versioned else "CAST(NULL AS STRING)"
    version_group = f", t.`{ROW_VERSION}`" if versioned else ""
    start_sql, parameters = lookback.sql("state.w")
    sql = f"""
        WITH state AS (
          SELECT MAX({column}) AS w, COUNT(*) AS total, COUNTIF({column} IS NULL) AS no_cursor
          FROM {ref.sql}
        )
        SELECT 'state' AS kind, CAST(NULL AS STRING) AS h, state.total AS n,
               state.no_cursor AS no_cursor, state.w AS w, CAST(NULL AS STRING) AS v
        FROM state
        UNION ALL
        SELECT 'row', t.`{ROW_HASH}`, COUNT(*), NULL, NULL, {version_sql}
        FROM {ref.sql} AS t CROSS JOIN state
        WHERE t.{column} >= {start_sql}
        GROUP BY t.`{ROW_HASH}`{version_group}
    """
    try:
        result = client.query_and_wait(
            sql,
            job_config=bigquery.QueryJobConfig(query_parameters=parameters),
            location=location,
        ).to_arrow(create_bqstorage_client=False)
    except EtlError:
        raise
    except Exception as error:
        raise unreadable(error, ref, "the watermark") from None
    kinds = result.column("kind").to_pylist()
    state_row = kinds.index("state")
    watermark = result.column("w")[state_row].as_py()
    total = int(result.column("n")[state_row].as_py() or 0)
    without_cursor = int(result.column("no_cursor")[state_row].as_py() or 0)
    if without_cursor:
        raise StateUnavailable(
            f"{ref} holds {without_cursor} rows without a value in {cursor.name}, so what it "
            "holds is unknown and this run loads nothing (it never starts over); fix the table or "
            "load into a new one."
        )
    rows = result.filter(np.array([k == "row" for k in kinds]))
    hashes, counts = rows.column("h"), rows.column("n")
    if hashes.null_count:
        unfingerprinted = sum(
            n for h, n in zip(hashes.to_pylist(), counts.to_pylist(), strict=True) if h is None
        )
        raise StateUnavailable(
            f"{ref} holds {unfingerprinted} rows near its watermark without a row fingerprint "
            f"({ROW_HASH}, loaded by an earlier version or by hand), so this run cannot tell "
            "which rows it already holds and loads nothing; load into a new table."
        )
    versions = [v if v is not None else NO_VERSION.hex() for v in rows.column("v").to_pylist()]
    known = KnownRows(
        pair_keys(from_hex(hashes), from_hex(versions)),
        np.asarray(counts.to_pylist(), dtype=np.int64),
    )
    state = StateKey(watermark, total)
    start = lookback.window_start(watermark) if watermark is not None else None
    return state, known, start


def count_table_rows(client: bigquery.Client, ref: TableRef, location: str | None) -> int:
    """The table's row count by query (`Table.num_rows` can be stale); `StateUnavailable` when
    it cannot be read, so a run never guesses its state."""
    try:
        return next(
            iter(client.query_and_wait(f"SELECT COUNT(*) AS n FROM {ref.sql}", location=location))
        )["n"]
    except Exception as error:
        raise unreadable(error, ref, "the row count") from None


def _require_empty(client: bigquery.Client, ref: TableRef, location: str | None) -> StateKey:
    rows = count_table_rows(client, ref, location)
    if rows:
        raise StateUnavailable(
            f"{ref} holds {rows} rows without row fingerprints ({ROW_HASH}, loaded by an earlier "
            "version or by hand), so this run cannot tell which rows it already holds and loads "
            "nothing; load into a new table."
        )
    return StateKey(None, 0)


def read_snapshot_state(
    client: bigquery.Client, ref: TableRef, *, location: str | None = None, has_run_id: bool = True
) -> StateKey:
    """Catalog: which run's snapshot the table holds (all its rows carry one run id; a table
    created elsewhere may not have the column yet)."""
    sql = f"SELECT MAX(`_etl_run_id`) AS run, COUNT(*) AS total FROM {ref.sql}"
    if not has_run_id:
        sql = f"SELECT 'unmanaged' AS run, COUNT(*) AS total FROM {ref.sql}"
    try:
        row = next(iter(client.query_and_wait(sql, location=location)))
    except Exception as error:
        raise unreadable(error, ref, "the snapshot") from None
    return StateKey(row["run"], int(row["total"]))


def read_known_rejected(
    client: bigquery.Client, ref: TableRef, *, location: str | None = None
) -> KnownRows:
    """Fingerprints of the rejected rows already kept, so a malformed row is kept once."""
    table = get_table(client, ref)
    if table is None or not any(field.name == ROW_HASH for field in table.schema):
        return KnownRows.empty()  # nothing kept yet (or only by version 0.1, unfingerprinted)
    sql = (
        f"SELECT `{ROW_HASH}` AS h, COUNT(*) AS n FROM {ref.sql} "
        f"WHERE `{ROW_HASH}` IS NOT NULL GROUP BY h"
    )
    try:
        result = client.query_and_wait(sql, location=location).to_arrow(
            create_bqstorage_client=False
        )
    except gexc.NotFound:
        return KnownRows.empty()
    except Exception as error:
        raise unreadable(error, ref, "the rejected rows") from None
    counts = np.asarray(result.column("n").to_pylist(), dtype=np.int64)
    return KnownRows(from_hex(result.column("h")), counts)


def settle(
    client: bigquery.Client,
    ref: TableRef,
    job_name: str,
    read: Callable[[], IncrementPlan],
    *,
    location: str | None,
    wait_timeout: float,
    probes: Callable[[str], list[str]] | None = None,
) -> IncrementPlan:
    """Pick the attempt number: wait for a job left running, skip ids already spent.
    `probes(job_id)`: every job id an attempt may have submitted (a merge run submits a staging
    load, then the MERGE, `engine.merge`); any of them found means the attempt was used."""
    deadline = time.monotonic() + wait_timeout
    plan = read()
    while plan.attempt <= MAX_ATTEMPTS:
        plan.job_id = load_job_id(job_name, ref, plan.state.token(), plan.attempt)
        found = [
            job
            for job_id in (probes(plan.job_id) if probes else [plan.job_id])
            if (job := _probe(client, job_id, location)) is not None
        ]
        if not found:
            return plan
        for job in found:
            if job.state != "DONE":
                _wait_for(client, job.job_id, deadline, location)
        fresh = read()
        if fresh.state != plan.state:
            plan = fresh  # an earlier run's load landed: plan from the new state
        else:
            fresh.attempt = plan.attempt + 1  # that id is spent (the job failed)
            plan = fresh
    raise EtlError(
        f"Gave up after {MAX_ATTEMPTS} failed load attempts from the same state of {ref}; "
        "look at the failed load jobs in BigQuery.",
        stage=Stage.VALIDATION,
    )


def plan_increment(
    client: bigquery.Client,
    ref: TableRef,
    job_name: str,
    cursor: TargetColumn,
    lookback: Lookback,
    *,
    location: str | None = None,
    wait_timeout: float = 3600.0,
    fingerprinted: bool = True,
    versioned: bool = True,
) -> IncrementPlan:
    """Step 1 for a transactional run: read the state and window, settle earlier jobs.
    `fingerprinted=False`: the table has no fingerprint column yet (it gets one before this
    run loads), which is only fine while it holds no rows."""

    def read() -> IncrementPlan:
        if not fingerprinted:
            return IncrementPlan(_require_empty(client, ref, location), 1, "")
        state, known, start = read_window(
            client, ref, cursor, lookback, location=location, versioned=versioned
        )
        return IncrementPlan(state, 1, "", known, start)

    return settle(client, ref, job_name, read, location=location, wait_timeout=wait_timeout)


def plan_snapshot(
    client: bigquery.Client,
    ref: TableRef,
    job_name: str,
    *,
    location: str | None = None,
    wait_timeout: float = 3600.0,
    has_run_id: bool = True,
) -> IncrementPlan:
    """Step 1 for a catalog run: the snapshot it replaces names its load job."""

    def read() -> IncrementPlan:
        state = read_snapshot_state(client, ref, location=location, has_run_id=has_run_id)
        return IncrementPlan(StateKey(f"catalog|{state.marker}", state.rows), 1, "")

    return settle(client, ref, job_name, read, location=location, wait_timeout=wait_timeout)


def _probe(client: bigquery.Client, job_id: str, location: str | None) -> Any | None:
    try:
        return client.get_job(job_id, location=location)
    except gexc.NotFound:
        return None
    except Exception as error:
        cause = classify_google_error(error, Stage.VALIDATION, "reading a load job")
        raise StateUnavailable(
            f"Could not check for load jobs left by earlier runs: {cause.message}",
            transient=cause.transient,
        ) from None


def _wait_for(client: bigquery.Client, job_id: str, deadline: float, location: str | None) -> None:
    while time.monotonic() < deadline:
        try:
            if client.get_job(job_id, location=location).state == "DONE":
                return
        except Exception as error:
            cause = classify_google_error(error, Stage.VALIDATION, "reading a load job")
            raise StateUnavailable(
                f"Could not follow load job {job_id} left by an earlier run: {cause.message}",
                transient=cause.transient,
            ) from None
        time.sleep(_WAIT_POLL_SECONDS)
    raise StateUnavailable(
        f"Load job {job_id} left by an earlier run is still running; retry later.",
        transient=True,
    )


def rejected_job_id(main_job_id: str, digest: str) -> str:
    """The rejected rows' load job: tied to the main load's id and to its own content."""
    return f"{main_job_id}_rejected_{digest[:16]}"
