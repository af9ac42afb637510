"""The settled bound of a numeric cursor, shared by the readers that can compute it
(`SettlesCursor`: PostgreSQL through `pg_locks`, MySQL/MariaDB through `INNODB_TRX`).

A sequence hands out values in call order, but transactions commit in any order: a run that
loads id 8 while the transaction holding id 7 is still open moves the watermark past 7, and 7
is never read (the issue's "sequence id as cursor" loss). The settled bound closes it for
values drawn by one monotonic generator inside the writing transaction (a sequence or
AUTO_INCREMENT with a cache of 1, the database clock):

1. `M` := the largest cursor value at or after the read's lower bound, in its own statement
   (its snapshot S1);
2. `O` := the transactions open right after that statement;
3. wait until none of `O` is open any more (polling), or until the job's `settle_timeout`;
4. read only `cursor <= M`.

Why nothing is lost: a value drawn after S1 is larger than every value drawn before S1, so
larger than M. A row whose value is at most M was drawn before S1, by a transaction T that had
either committed before S1 (the read, later, sees it) or was still open at step 2: then T is in
`O` and the read starts after T ended (committed: visible; rolled back: no row). So no row at or
below M can commit after the read, and rows above M are read by the next run (M is at least the
watermark this run leaves). It also covers a value taken with nextval() before the transaction's
first write: the transaction is open, so it is in `O`.

When the wait times out, the transactions still open are reported (`Settled.still_open`), and
the engine decides (`engine.cursor_reading`): one that has written may hold any value at or
below M, so the run reads nothing above the watermark BigQuery already holds; one that has not
written is most often a reader left open (it is waited for, then the run proceeds and says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from etl_bigquery.engine.sources.base import CursorValue

POLL_SECONDS = 0.1


@dataclass(frozen=True)
class SettleRefusal:
    """Why a reader cannot settle reads with this login, and what would let it."""

    reason: str
    """A clause, e.g. 'the login lacks the PROCESS privilege'."""
    fix: str
    """How to let it, e.g. 'grant the login the PROCESS privilege'."""


@dataclass(frozen=True)
class OpenTransaction:
    """A transaction of another session, open when the read's bound was taken."""

    key: Hashable
    """Identifies the transaction, not only its session (PostgreSQL: pid and virtualxid)."""
    label: str
    """How a message names it, e.g. 'pid 4711'."""
    wrote: bool
    """It has written (PostgreSQL: it has a transaction id; InnoDB: it modified or locked
    rows), so it may hold a cursor value that is not visible yet."""


@dataclass(frozen=True)
class Settled:
    """What the source said about a read's upper bound."""

    upper: CursorValue | None
    """M: the largest cursor value at or after the lower bound when the bound was taken; None
    when there was no such row."""
    open_at_start: int
    """Transactions that were open when M was taken (each waited for)."""
    seconds: float
    """How long taking M and the wait took."""
    still_open: tuple[OpenTransaction, ...] = ()
    """Transactions still open when the wait timed out."""
    caveats: tuple[str, ...] = ()
    """What the source knows that the bound cannot cover (a sequence handing out values in
    blocks per session), each a sentence for the run's warnings."""

    @property
    def writers(self) -> tuple[OpenTransaction, ...]:
        return tuple(t for t in self.still_open if t.wrote)

    @property
    def idle(self) -> tuple[OpenTransaction, ...]:
        return tuple(t for t in self.still_open if not t.wrote)


def wait_for_open_transactions(
    open_now: Callable[[], list[OpenTransaction]],
    timeout: float,
    *,
    poll: float = POLL_SECONDS,
) -> tuple[int, tuple[OpenTransaction, ...]]:
    """Poll `open_now` until none of the transactions it first listed is listed again (a new
    transaction of the same session has another key), or `timeout` seconds passed. Returns how
    many were open at first, and those still open at the end (as last seen)."""
    first = open_now()
    waiting = {t.key for t in first}
    deadline = time.monotonic() + timeout
    last: dict[Hashable, OpenTransaction] = {t.key: t for t in first}
    while waiting and time.monotonic() < deadline:
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        last = {t.key: t for t in open_now()}
        waiting &= last.keys()
    return len(first), tuple(last[key] for key in sorted(waiting, key=str))
