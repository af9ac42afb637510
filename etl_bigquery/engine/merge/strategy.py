"""The merge and history load strategies (beside `engine.strategies.Catalog`/`Transactional`).

Each owns, like the others: its job ids and state query (`plan`, through
`engine.incremental.settle` with two probes), its table layout (`engine.merge.layout`), its row
filter (`keyed_filter`, the same on the standard and the Beam path) and its apply step (`apply`:
staging table, one MERGE, deletes; `engine.merge.apply`). The protocol is in `engine.merge`.

Unlike the two older strategies, an instance is made per job (`for_job`): creating a table needs
the key and partitioning chosen from the job and its columns (`new_table_identity` keeps them for
`layout`, which only sees the new table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from google.cloud import bigquery

from etl_bigquery.engine.bigquery.merge_sql import MergeShape
from etl_bigquery.engine.bigquery.tables import TableRef
from etl_bigquery.engine.clock_rule import future_watermark_refusal, not_after
from etl_bigquery.engine.conform import TargetColumn
from etl_bigquery.engine.cursor_reading import sequence_rule
from etl_bigquery.engine.errors import ValidationError
from etl_bigquery.engine.fingerprint import Identity
from etl_bigquery.engine.incremental import IncrementPlan, Lookback, StateKey, settle
from etl_bigquery.engine.jobs.model import Deletes, JobSpec, LoadType
from etl_bigquery.engine.merge import layout
from etl_bigquery.engine.merge.deletes import DeletePlan, plan_deletes
from etl_bigquery.engine.merge.keyed_filter import KeyedFilter
from etl_bigquery.engine.merge.window import KeyedState, KeyedWindow, read_keyed_state
from etl_bigquery.engine.plan import ALWAYS_LOADED, ColumnPlan, cursor_plan
from etl_bigquery.engine.schema.bqtypes import CURSOR_TYPES, arrow_type
from etl_bigquery.engine.sources.base import CursorValue, SqlReader
from etl_bigquery.engine.strategies import LoadStrategy, Planned, first_run_bound

if TYPE_CHECKING:
    from etl_bigquery.engine.pipeline.context import Extracted, LoadTarget, RunContext
    from etl_bigquery.engine.pipeline.load import Loaded

STAGE_SUFFIX = "_stage"
WAIT_TIMEOUT = 3600.0


@dataclass(frozen=True)
class KeyedStateKey(StateKey):
    """`marker` is the watermark W (shown as such); the token also holds the clock and live
    rows, so every change a merge run makes names a new successor."""

    clock: str | None = None
    live: int = 0

    def token(self) -> str:
        import json

        base = json.loads(super().token())
        return json.dumps(["keyed", *base, self.clock, self.live])


@dataclass
class KeyedPlanned(Planned):
    shape: MergeShape | None = None
    state: KeyedState | None = None
    window: KeyedWindow | None = None
    stamp: dt.datetime | None = None
    """`_etl_loaded_at` of every version this run stages: the table clock's next tick."""
    deletes: DeletePlan | None = None
    """Set when this run compares keys (deletes on, and this period not checked yet)."""


def _state_key(state: KeyedState) -> KeyedStateKey:
    clock = state.clock.isoformat() if state.clock is not None else None
    return KeyedStateKey(state.watermark, state.rows, clock, state.live)


class KeyedStrategy(LoadStrategy):
    """What merge and history share; `history` picks the statements and layout."""

    write_disposition = bigquery.WriteDisposition.WRITE_APPEND  # staging loads truncate
    uses_cursor = True
    history: ClassVar[bool] = False

    def __init__(self) -> None:
        self._new_table: tuple[list[str], str | None] | None = None

    # -- checks and layout ---------------------------------------------------------------------

    def check_plans(self, job: JobSpec, plans: list[ColumnPlan]) -> None:
        cursor = cursor_plan(plans, job)
        if cursor.bq_type not in CURSOR_TYPES:
            raise ValidationError(
                f"Cursor column '{cursor.source.name}' is {cursor.source.source_type} "
                f"({cursor.bq_type.value} in BigQuery); a cursor must be a date, time or number. "
                "Choose another cursor_column or override its type in column_types."
            )
        layout.choose_keys(job, plans)
        if not self.history:
            layout.partition_plan(job, plans, cursor)

    def new_table_identity(
        self, job: JobSpec, plans: list[ColumnPlan], columns: list[TargetColumn]
    ) -> Identity | None:
        keys = [p.name for p in layout.choose_keys(job, plans)]
        partition = None
        if not self.history:
            found = layout.partition_plan(job, plans, cursor_plan(plans, job))
            partition = found.name if found is not None else None
        self._new_table = (keys, partition)
        return None  # the hashes are merge columns of their own (`layout.lay_out`)

    def layout(self, table: bigquery.Table, cursor: TargetColumn | None) -> None:
        assert self._new_table is not None, "new_table_identity chooses the key first"
        keys, partition = self._new_table
        layout.lay_out(table, keys, partition, self.history)

    def table_identity(
        self, job: JobSpec, plans: list[ColumnPlan], table: bigquery.Table, ref: TableRef,
        resolved: list[TargetColumn],
    ) -> tuple[Identity | None, bool]:  # fmt: skip
        keys = layout.table_keys(table, ref, self.history)
        cursor = cursor_plan(plans, job).target
        if not any(field.name.lower() == cursor.name.lower() for field in table.schema):
            raise ValidationError(
                f"Table {ref} has no column {cursor.name}, so its watermark cannot be read; "
                "restore the column or load into a new table."
            )
        loaded = {c.name for c in resolved if c.source_name is not None}
        missing = [k for k in keys if k not in loaded]
        if missing:
            raise ValidationError(
                f"Column(s) {', '.join(missing)} are the key of {ref}, so this job must keep "
                "loading them; add them back to columns, or start a new job into a new table."
            )
        return None, False

    # -- state ---------------------------------------------------------------------------------

    def plan(
        self, job: JobSpec, client: bigquery.Client, table: bigquery.Table, ref: TableRef,
        columns: list[TargetColumn], plans: list[ColumnPlan], identity: Identity | None,
        *, fingerprinted: bool, location: str | None, now: dt.datetime,
        reader: SqlReader | None = None,
    ) -> Planned:  # fmt: skip
        by_source = {c.source_name: c for c in columns if c.source_name is not None}
        cursor = by_source[cursor_plan(plans, job).source.name]
        shape = layout.shape_of(table, ref, columns, cursor, history=self.history)
        # The same sequence rule as transactional jobs: a numeric cursor is read up to a settled
        # bound where the source can give one (engine.cursor_reading), else needs a lookback.
        rule = sequence_rule(reader, job.source) if reader is not None else None
        lookback = Lookback.for_job(job.lookback, cursor, rule)
        cursor_type = arrow_type(cursor.bq_type)
        reads: dict[str, tuple[KeyedState, KeyedWindow, object | None]] = {}

        def read() -> IncrementPlan:
            state, window, start = read_keyed_state(
                client, shape, lookback, cursor_type, location=location
            )
            key = _state_key(state)
            reads[key.token()] = (state, window, start)
            return IncrementPlan(key, 1, "", window_start=start)

        increment = settle(
            client, ref, job.name, read, location=location, wait_timeout=WAIT_TIMEOUT,
            probes=lambda job_id: [job_id, job_id + STAGE_SUFFIX],
        )  # fmt: skip
        state, window, start = reads[increment.state.token()]
        lower: CursorValue | None
        if start is not None:
            lower = start  # type: ignore[assignment]
        elif job.backfill_start:
            lower = first_run_bound(job, cursor, now)
        else:
            lower = None  # a current-state table mirrors every row by default
        stamp = state.next_stamp(now)
        deletes = None
        if job.deletes is not Deletes.NONE:
            deletes = plan_deletes(
                client, ref, job, state, now, location=location, wait_timeout=WAIT_TIMEOUT
            )
        bound = not_after(cursor.bq_type, now, job.clock_tolerance_delta)
        refusal = future_watermark_refusal(ref.id, cursor.name, state.watermark, bound)
        if refusal:
            raise ValidationError(refusal)
        return KeyedPlanned(
            increment, cursor, lookback, lower, Identity(tuple(k.name for k in shape.keys)),
            not_after=bound, shape=shape, state=state, window=window, stamp=stamp,
            deletes=deletes,
        )  # fmt: skip

    def keyed_filter(self, planned: Planned) -> KeyedFilter:
        assert isinstance(planned, KeyedPlanned) and planned.shape is not None
        assert planned.window is not None and planned.cursor is not None
        shape = planned.shape
        # A file's trace columns say where a row was read, not what it holds: the same row in a
        # re-uploaded or another export file is the same version.
        content = tuple(c for c in shape.loaded if c not in ALWAYS_LOADED)
        return KeyedFilter(
            cursor=planned.cursor.name,
            keys=tuple(k.name for k in shape.keys),
            content=content,
            lower=planned.lower_bound,
            window=planned.window,
            not_after=planned.not_after,
        )

    # -- apply ---------------------------------------------------------------------------------

    def apply(
        self,
        ctx: RunContext,
        target: LoadTarget,
        extracted: Extracted,
        rejected_table: str | None,
        *,
        before_submit: Callable[[], None] | None,
        on_submitted: Callable[[str], None] | None,
    ) -> Loaded:
        from etl_bigquery.engine.merge.apply import apply_keyed

        return apply_keyed(
            ctx, target, extracted, rejected_table,
            before_submit=before_submit, on_submitted=on_submitted,
        )  # fmt: skip


class Merge(KeyedStrategy):
    """The table holds the source's current rows: the newest version of each key."""

    load_type = LoadType.MERGE


class History(KeyedStrategy):
    """Every version of a row, with `_etl_valid_from`, `_etl_valid_to`, `_etl_is_current`."""

    load_type = LoadType.HISTORY
    history = True


def for_job(load_type: LoadType) -> KeyedStrategy:
    """A fresh strategy instance for one job's run or apply."""
    return History() if load_type is LoadType.HISTORY else Merge()
