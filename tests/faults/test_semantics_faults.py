"""kill -9 on a transactional job while the source changes the way real tables do (issue 16):
updates (cursor to the clock), updates that keep their cursor value, late commits (stamped at
their transaction's start, committed later), and rows stamped in the future (2099).

A transactional job appends every version it reads, so BigQuery is compared with the source
snapshot taken after the last run, version by version (each write gives `note` a suffix of its
own, so (id, note, updated_at) names one version):
- **lost**: a current source row (cursor not in the future) that BigQuery lacks;
- **duplicated**: a version BigQuery holds more than once;
- **phantom**: a row BigQuery holds that the source never had (checked against the writer's
  history of versions);
- every row stamped in the future is in `events__rejected` exactly once and not in the table.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import threading
import time
from typing import Any

import psycopg
import pytest

from tests.faults import harness
from tests.faults.checksum import Comparison
from tests.faults.harness import KILLED, free_slot, record, run_until_complete

pytestmark = pytest.mark.services

Version = tuple[int, str, dt.datetime]


class VersionWriter:
    """Every step one of: update (cursor to the clock), update keeping the cursor (the newest
    row: inside any lookback), insert, late commit, a row stamped in 2099. Each version written
    is also recorded in `<table>_versions` in the same transaction."""

    def __init__(self, dsn: str, table: str, history: str, seed: int) -> None:
        self.dsn, self.table, self.history = dsn, table, history
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.steps = collections.Counter[str]()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> VersionWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                self._step(conn)
                time.sleep(self.rng.uniform(0.02, 0.2))

    def _record(self, conn: psycopg.Connection, row: tuple[Any, ...] | None) -> None:
        if row is not None:
            conn.execute(f"INSERT INTO {self.history} VALUES (%s, %s, %s)", row)

    def _step(self, conn: psycopg.Connection) -> None:
        t, tag = self.table, f"~{self.rng.getrandbits(40):x}"
        now_only = "updated_at < now() + interval '1 minute'"  # not the rows stamped in 2099
        kind = self.rng.choice(["update", "same", "insert", "late", "future"])
        self.steps[kind] += 1
        with conn.transaction():
            top = conn.execute(f"SELECT max(id) FROM {t}").fetchone()[0] or 0
            if kind == "update":
                row = conn.execute(
                    f"UPDATE {t} SET note = note || %s, updated_at = clock_timestamp() "
                    f"WHERE id = (SELECT id FROM {t} WHERE {now_only} ORDER BY random() LIMIT 1)"
                    " RETURNING id, note, updated_at",
                    (tag,),
                ).fetchone()
            elif kind == "same":
                row = conn.execute(
                    f"UPDATE {t} SET note = note || %s, amount = amount + 1 WHERE id = (SELECT "
                    f"id FROM {t} WHERE {now_only} ORDER BY updated_at DESC, id DESC LIMIT 1) "
                    "RETURNING id, note, updated_at",
                    (tag,),
                ).fetchone()
            elif kind == "future":
                row = conn.execute(
                    f"INSERT INTO {t} VALUES (%s, %s, 1, 2, '[2]', true, "
                    "timestamptz '2099-01-01 00:00:00+00') RETURNING id, note, updated_at",
                    (top + 1, "future" + tag),
                ).fetchone()
            else:
                stamp = "now()" if kind == "late" else "clock_timestamp()"
                row = conn.execute(
                    f"INSERT INTO {t} VALUES (%s, %s, 1, 2, '[1]', false, {stamp}) "
                    "RETURNING id, note, updated_at",
                    (top + 1, kind + tag),
                ).fetchone()
            self._record(conn, row)
            if kind == "late":  # now() is the transaction's start: committed later
                time.sleep(self.rng.uniform(0.2, 1.5))


def _versions(bq: Any, table_id: str) -> collections.Counter[Version]:
    rows = bq.query_and_wait(f"SELECT id, note, updated_at FROM `{table_id}`")
    return collections.Counter((r["id"], r["note"], r["updated_at"]) for r in rows)


def _compare(pg_dsn: str, source: Any, history: str, bq: Any, table_id: str) -> dict[str, Any]:
    with psycopg.connect(pg_dsn) as conn:
        current = conn.execute(
            f"SELECT id, note, updated_at FROM {source.qualified} "
            "WHERE updated_at < timestamptz '2099-01-01 00:00:00+00'"
        ).fetchall()
        future = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM {source.qualified} "
                "WHERE updated_at >= timestamptz '2099-01-01 00:00:00+00'"
            ).fetchall()
        ]
        ever = {tuple(r) for r in conn.execute(f"SELECT id, note, updated_at FROM {history}")}
    held = _versions(bq, table_id)
    kept = collections.Counter(
        int(json.loads(r["record"])["id"])
        for r in bq.query_and_wait(
            f"SELECT record FROM `{table_id}__rejected` WHERE STARTS_WITH(reason, 'cursor is in')"
        )
    )
    return {
        "source_rows": len(current),
        "bigquery_rows": sum(held.values()),
        "lost": sum(1 for row in current if tuple(row) not in held),
        "duplicated": sum(n - 1 for n in held.values() if n > 1),
        "phantom": sum(n for row, n in held.items() if row not in ever),
        "future_rows": len(future),
        "future_loaded": sum(1 for row in held if row[0] in set(future)),
        "future_not_kept_once": sum(1 for i in future if kept[i] != 1),
    }


@pytest.mark.faults
def test_transactional_killed_while_rows_update_keep_cursors_commit_late_and_come_from_2099(
    small_table, make_job, bq, pg_dsn
):
    """FAULTS_KILLS (12) runs SIGKILLed after a random delay (seeded by FAULTS_SEED) while the
    writer changes the source; every fourth kill a run is let finish. Then the writer stops and
    the job runs until one run completes."""
    seed = int(os.environ.get("FAULTS_SEED", "7"))
    rng = random.Random(seed)
    wanted = int(os.environ.get("FAULTS_KILLS", "12"))
    source = small_table(2000, per_value=10)
    history = f'"{source.schema}"."{source.name}_versions"'
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {history} (id bigint, note text, updated_at timestamptz)")
        conn.execute(f"INSERT INTO {history} SELECT id, note, updated_at FROM {source.qualified}")
    job = make_job(source)
    started = time.monotonic()
    first = harness.finish(harness.start(job.command()))
    wall = time.monotonic() - started
    assert first.completed, first.user_saw()
    flow = min(float((first.report or {}).get("duration_seconds") or wall), wall)
    startup = max(wall - flow, 0.5)
    kills, runs, finished = 0, 1, []
    with VersionWriter(pg_dsn, source.qualified, history, seed) as writer:
        while kills < wanted and runs < 4 * wanted:
            if kills and kills % 4 == 0 and len(finished) < kills // 4:
                outcome, more = run_until_complete(job)
                runs += more
                finished.append(outcome.user_saw())
            delay = rng.uniform(0.5 * startup, startup + 1.2 * flow)
            process = harness.start(job.command())
            runs += 1
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=delay)
            harness.kill(process)
            outcome = harness.finish(process)
            if outcome.returncode == KILLED:
                kills += 1
                free_slot(job.name)
            else:
                finished.append(outcome.user_saw())
        steps = dict(writer.steps)
    final, reruns = run_until_complete(job)
    figures = _compare(pg_dsn, source, history, bq, job.table_id)
    again = job.run()
    comparison = Comparison(
        source_rows=figures["source_rows"],
        bigquery_rows=figures["bigquery_rows"],
        lost=figures["lost"],
        duplicated=figures["duplicated"],
        checksum_equal=figures["phantom"] == 0,
    )
    record(
        "transactional: kill -9 while rows update (also keeping their cursor), commit late "
        "and arrive stamped 2099",
        runs=runs + reruns + 1, comparison=comparison,
        user_saw=f"{kills} killed runs: nothing; re-run: {final.user_saw()}", final=final,
        kills=kills, source_changes=steps, ended_before_the_kill=finished,
        run_after_convergence=again.user_saw(), **figures,
    )  # fmt: skip
    assert kills >= wanted, f"only {kills} runs were killed: {finished}"
    assert final.completed, final.user_saw()
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["phantom"] == 0 and figures["future_loaded"] == 0, figures
    assert figures["future_not_kept_once"] == 0, figures
    assert again.completed and (again.report or {}).get("rows_loaded") == 0, again.user_saw()
