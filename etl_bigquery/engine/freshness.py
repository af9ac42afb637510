"""Freshness: is a job's table as current as its `freshness` (e.g. 2h) promises?

Two clocks, both read from where the state already lives (no state store of our own): the end
of the job's last successful run (Completed or Partial; a Skipped run loaded nothing), and, for a
date or time cursor, the newest cursor value the table holds. The job is stale when either is
older than `freshness`: no load has succeeded lately, or loads succeed but bring nothing new (a
source that stopped receiving rows, a cursor column no longer written). A job that never loaded
is stale once it has existed for longer than `freshness`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from google.cloud import bigquery

from etl_bigquery.engine.bigquery.tables import TableRef

FRESH = "fresh"
STALE = "stale"


@dataclass(frozen=True)
class Freshness:
    job: str
    status: str
    """fresh | stale"""
    limit: str
    reason: str
    last_success: str | None
    newest_cursor: str | None
    checked_at: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_utc(value: object) -> dt.datetime | None:
    """A cursor value as an instant (a DATE counts from the end of its day; DATETIME as UTC);
    None for a numeric cursor, which has no age."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), dt.UTC)
    return None


def _age(now: dt.datetime, then: dt.datetime) -> str:
    seconds = int((now - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def evaluate(
    job: str,
    limit: dt.timedelta,
    limit_text: str,
    *,
    now: dt.datetime,
    last_success: dt.datetime | None,
    newest_cursor: object | None,
    created: dt.datetime | None = None,
) -> Freshness:
    """Fresh or stale, and why in one sentence."""
    newest = _as_utc(newest_cursor)
    reasons = []
    if last_success is None:
        if created is None or now - created > limit:
            reasons.append("no successful load yet")
    elif now - last_success > limit:
        reasons.append(f"last successful load {_age(now, last_success)} ago")
    if newest is not None and now - newest > limit:
        reasons.append(f"newest cursor value {newest_cursor} is {_age(now, newest)} old")
    status = STALE if reasons else FRESH
    reason = (
        "; ".join(reasons) + f" (freshness {limit_text})"
        if reasons
        else f"within freshness {limit_text}"
    )
    return Freshness(
        job=job,
        status=status,
        limit=limit_text,
        reason=reason,
        last_success=last_success.isoformat(timespec="seconds") if last_success else None,
        newest_cursor=str(newest_cursor) if newest_cursor is not None else None,
        checked_at=now.isoformat(timespec="seconds"),
    )


def newest_cursor(
    client: bigquery.Client, ref: TableRef, column: str, location: str | None
) -> object | None:
    """MAX(cursor) of the table (history and soft-deleted rows included: a deleted row was
    still loaded); None for a missing or empty table."""
    try:
        rows = list(
            client.query_and_wait(f"SELECT MAX(`{column}`) AS w FROM {ref.sql}", location=location)
        )
    except Exception:  # a table not created yet has no cursor; the load clock still counts
        return None
    return rows[0]["w"] if rows else None
