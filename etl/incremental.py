"""Exactly once, without a state database: the protocol of a transactional run.

The destination table is the only state. Its *state key* is `S = (W, n)`: `W` is the largest cursor
value in the table and `n` the number of rows holding it. Every successful non-empty load changes
`S` (it adds rows with cursor ≥ W: either W grows or n does), so `S` names "what has been loaded
so far" exactly.

1. **Plan** (`plan_increment`). Read `S` from BigQuery. If that read fails the run fails: it never
   guesses and never reloads everything (fail closed). Then look for load jobs already submitted
   from this same state: their ids are deterministic, `etl_<job>_<hash(table, S)>_<attempt>`.
   - none → this run will submit attempt 1;
   - one still running (a killed run left it behind) → wait for it, then start over: `S` moved;
   - one finished while `S` is unchanged (it failed, or the table was changed by hand) → that id
     is spent; try the next attempt number.
2. **Extract** rows with cursor ≥ W (or ≥ the backfill start on a first run). Rows with cursor = W
   that BigQuery already holds are dropped by `BoundaryFilter`, comparing whole rows as a multiset,
   so rows sharing the last cursor value are neither lost (as with a strict `>`) nor duplicated.
3. **Load** with the job id of the plan (`etl.bigquery.loader`). BigQuery refuses a second job with
   an existing id (409), which makes submission idempotent:
   - the same flow run retrying its load task finds its own job (label `etl_run`) and adopts it;
   - another run that planned from the same `S` finds a job that is not its own and stops without
     loading (its rows are the same increment);
   The load job is atomic: the table holds all of the increment or none of it.
4. Nothing else is written, so there is no step after the load that a crash could leave half-done;
   staged files of a crashed run are unreferenced and expire with the bucket's lifecycle rule.

Crash points and what the next run does (each is tested in tests/integration/test_exactly_once.py):
killed while extracting or before submitting → `S` unchanged, no job: a normal run;
killed while the load job runs → the next run waits for that job, then plans from the new `S`;
killed after the job finished → `S` already moved: a normal run from there;
load job failed → `S` unchanged and that id is spent: the next attempt number is used.

Limit: a row that appears later with a cursor value *below* W is not loaded (as with any
cursor-based incremental load); NULL cursors are never loaded by transactional jobs.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from etl.bigquery.clients import classify_google_error
from etl.bigquery.tables import TableRef
from etl.conform import TargetColumn
from etl.errors import EtlError, Stage, StateUnavailable
from etl.schema.bqtypes import BqType

MAX_ATTEMPTS = 50
_WAIT_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class StateKey:
    watermark: object | None
    rows_at_watermark: int

    def token(self) -> str:
        value = self.watermark
        if isinstance(value, dt.datetime | dt.date | dt.time):
            value = value.isoformat()
        return json.dumps([str(value) if value is not None else None, self.rows_at_watermark])


@dataclass(frozen=True)
class IncrementPlan:
    state: StateKey
    attempt: int
    job_id: str
    boundary_rows: collections.Counter[tuple[object, ...]] = field(
        default_factory=collections.Counter
    )


def load_job_id(job_name: str, ref: TableRef, key: str, attempt: int) -> str:
    """Deterministic BigQuery job id: same job, table, state and attempt → same id."""
    digest = hashlib.sha256(f"{ref.id}|{key}".encode()).hexdigest()[:24]
    safe_name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in job_name)
    return f"etl_{safe_name}_{digest}_{attempt}"


def read_state(client: bigquery.Client, ref: TableRef, cursor: TargetColumn) -> StateKey:
    """`S` from the table itself. Any failure is `StateUnavailable` (fail closed), and so is a
    table that holds rows without any cursor value: starting over would load everything again."""
    column = f"`{cursor.name}`"
    try:
        top = next(
            iter(
                client.query_and_wait(
                    f"SELECT MAX({column}) AS w, COUNT(*) AS total FROM {ref.sql}"
                )
            )
        )
        watermark, total = top["w"], int(top["total"])
        if watermark is None:
            if total:
                raise StateUnavailable(
                    f"{ref} holds {total} rows but none has a value in {cursor.name}, so the "
                    "watermark is unknown and this run loads nothing (it never starts over); "
                    "fix the table or load into a new one."
                )
            return StateKey(None, 0)
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("w", cursor.bq_type.value, watermark)]
        )
        at_watermark = next(
            iter(
                client.query_and_wait(
                    f"SELECT COUNT(*) AS n FROM {ref.sql} WHERE {column} = @w", job_config=config
                )
            )
        )
    except EtlError:
        raise
    except Exception as error:
        cause = classify_google_error(error, Stage.VALIDATION, f"reading the watermark of {ref}")
        raise StateUnavailable(
            f"Could not read the current watermark of {ref}, so this run loads nothing "
            f"(it never falls back to a full reload): {cause.message}",
            transient=cause.transient,
        ) from None
    return StateKey(watermark, int(at_watermark["n"]))


def _normalise(value: object, bq_type: BqType) -> object:
    """One comparable form for a value read back from BigQuery and the same value conformed from
    the source (JSON text differs in spacing and key order, numbers in trailing zeros)."""
    if value is None:
        return None
    if bq_type is BqType.JSON:
        parsed = json.loads(value) if isinstance(value, str | bytes) else value
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    if bq_type is BqType.GEOGRAPHY and isinstance(value, str):
        return " ".join(value.upper().replace("(", " ( ").replace(")", " ) ").split())
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def row_key(values: Iterable[object], types: list[BqType]) -> tuple[object, ...]:
    return tuple(_normalise(v, t) for v, t in zip(values, types, strict=True))


def read_boundary_rows(
    client: bigquery.Client,
    ref: TableRef,
    columns: list[TargetColumn],
    cursor: TargetColumn,
    state: StateKey,
) -> collections.Counter[tuple[object, ...]]:
    """The rows BigQuery holds at cursor = W, as a multiset of whole-row keys."""
    if state.watermark is None:
        return collections.Counter()
    names = ", ".join(f"`{c.name}`" for c in columns)
    job_config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("w", cursor.bq_type.value, state.watermark)]
    )
    sql = f"SELECT {names} FROM {ref.sql} WHERE `{cursor.name}` = @w"
    types = [c.bq_type for c in columns]
    try:
        rows = client.query_and_wait(sql, job_config=job_config)
        return collections.Counter(row_key(row.values(), types) for row in rows)
    except Exception as error:
        cause = classify_google_error(error, Stage.VALIDATION, f"reading boundary rows of {ref}")
        raise StateUnavailable(
            f"Could not read the rows at the watermark of {ref}: {cause.message}",
            transient=cause.transient,
        ) from None


class BoundaryFilter:
    """Drops source rows BigQuery already holds at cursor = W (each held row cancels one source
    row, so identical rows are counted, not collapsed)."""

    def __init__(
        self,
        cursor_name: str,
        watermark: object | None,
        existing: collections.Counter[tuple[object, ...]],
        columns: list[TargetColumn],
    ) -> None:
        self.cursor_name = cursor_name
        self.watermark = watermark
        self.remaining = collections.Counter(existing)
        self.names = [c.name for c in columns]
        self.types = [c.bq_type for c in columns]
        self.dropped = 0

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.watermark is None or not self.remaining:
            return batch
        values = batch.column(self.cursor_name)
        at_boundary = pc.fill_null(pc.equal(values, pa.scalar(self.watermark, values.type)), False)
        indices = pc.indices_nonzero(at_boundary).to_pylist()
        if not indices:
            return batch
        subset = batch.select(self.names).take(pa.array(indices)).to_pylist()
        drop = set()
        for index, row in zip(indices, subset, strict=True):
            key = row_key((row[n] for n in self.names), self.types)
            if self.remaining[key] > 0:
                self.remaining[key] -= 1
                drop.add(index)
        if not drop:
            return batch
        self.dropped += len(drop)
        keep = pa.array([i not in drop for i in range(batch.num_rows)])
        return batch.filter(keep)


def plan_increment(
    client: bigquery.Client,
    ref: TableRef,
    job_name: str,
    cursor: TargetColumn,
    columns: list[TargetColumn],
    *,
    wait_timeout: float = 3600.0,
) -> IncrementPlan:
    """Step 1 of the protocol: read `S`, settle jobs left by earlier runs, pick the job id."""
    deadline = time.monotonic() + wait_timeout
    state = read_state(client, ref, cursor)
    attempt = 1
    while attempt <= MAX_ATTEMPTS:
        job_id = load_job_id(job_name, ref, state.token(), attempt)
        try:
            job = client.get_job(job_id)
        except gexc.NotFound:
            boundary = read_boundary_rows(client, ref, columns, cursor, state)
            return IncrementPlan(state, attempt, job_id, boundary)
        except Exception as error:
            cause = classify_google_error(error, Stage.VALIDATION, "reading a load job")
            raise StateUnavailable(
                f"Could not check for load jobs left by earlier runs: {cause.message}",
                transient=cause.transient,
            ) from None
        if job.state != "DONE":
            _wait_for(client, job_id, deadline)
        fresh = read_state(client, ref, cursor)
        if fresh != state:
            state, attempt = fresh, 1  # an earlier run's load landed: plan from the new state
        else:
            attempt += 1  # that id is spent (the job failed, or the table was edited by hand)
    raise EtlError(
        f"Gave up after {MAX_ATTEMPTS} failed load attempts from the same state of {ref}; "
        "look at the failed load jobs in BigQuery.",
        stage=Stage.VALIDATION,
    )


def _wait_for(client: bigquery.Client, job_id: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if client.get_job(job_id).state == "DONE":
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
