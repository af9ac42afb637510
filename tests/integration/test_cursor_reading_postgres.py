"""How a transactional run reads its cursor on a real PostgreSQL, through `etl job apply` and
`etl run` (issue 16, items 3 and 4):

- a sequence id as cursor, without a lookback: transactions that took their id before another
  one but commit after a run are never lost, proved with real concurrent connections (a writer
  holding its inserted row open past the run; a writer that took nextval() before writing,
  released only once the run is seen waiting for it, never after a sleep);
- a text column of ISO timestamps with UTC offsets as cursor: every run reads it (no "operator
  does not exist: text >= timestamp" from the second run on) and loads every row once;
- a text cursor whose values are not ISO times is refused before anything is created.

Each test has a database and a SELECT-only login of its own: the settled bound waits for every
transaction open in the database, so other engineers' sessions on the shared server (in other
databases) never make these tests wait, and the role checks that a plain login sees what the
settled bound needs (`pg_locks`, `pg_stat_activity`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.conftest import PG_DSN
from tests.faults.harness import ETL, cli, finish, kill, start


@dataclass(frozen=True)
class PgSource:
    database: str
    role: str
    connection: str
    dsn: str

    def connect(self, application: str = "writer") -> psycopg.Connection:
        return psycopg.connect(f"{self.dsn}?application_name={application}")


@pytest.fixture()
def pg_source(services, pg_admin) -> Iterator[PgSource]:
    """A fresh database owned by the test, a login role that may only SELECT in it, and a
    connection block for that login."""
    from etl_bigquery.blocks import SqlConnection

    suffix = uuid.uuid4().hex[:10]
    database, role = f"etl_cursor_{suffix}", f"etl_ro_{suffix}"
    pg_admin.execute(f"CREATE DATABASE {database}")
    pg_admin.execute(f"CREATE ROLE {role} LOGIN")
    dsn = PG_DSN.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        admin.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}")
    name = f"pg-cursor-{suffix}"
    SqlConnection(
        type="postgresql", host="127.0.0.1", port=5432, database=database, username=role
    ).save(name, overwrite=True)
    yield PgSource(database, role, name, dsn)
    pg_admin.execute(f"DROP DATABASE {database} WITH (FORCE)")
    pg_admin.execute(f"DROP ROLE {role}")


def _sql(source: PgSource, *statements: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(source.dsn, autocommit=True) as conn:
        rows: list[tuple[Any, ...]] = []
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
        return rows


def _job_file(folder: Path, source: PgSource, destination: str, dataset: str, **fields) -> Path:
    name = f"c-{uuid.uuid4().hex[:10]}"
    spec = {
        "name": name,
        "connection": source.connection,
        "source": {"table": fields.pop("table")},
        "destination": {"block": destination, "dataset": dataset, "table": name.replace("-", "_")},
        "load_type": "transactional",
        "backfill_start": "all",
        "processing_mode": "standard",
        **fields,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _table(bq, job_file: Path) -> str:
    spec = yaml.safe_load(job_file.read_text())
    return f"local.{spec['destination']['dataset']}.{spec['destination']['table']}"


def _run(job_file: Path) -> dict[str, Any]:
    outcome = cli("run", str(job_file), "--json")
    assert outcome.report is not None, outcome.stdout + outcome.stderr
    return outcome.report


def _ids(bq, job_file: Path) -> list[int]:
    rows = bq.query_and_wait(f"SELECT id FROM `{_table(bq, job_file)}` ORDER BY id")
    return [row["id"] for row in rows]


# -- sequences: item 3 --------------------------------------------------------------------------


def test_a_row_whose_transaction_commits_after_a_later_id_is_loaded_once(
    pg_source, destination, dataset, bq, tmp_path
):
    """T1 inserts id 6 and stays open past the run's settle_timeout while T2 commits id 7: the
    run reads nothing above what BigQuery holds and names T1; once T1 commits, 6 and 7 load.
    (Before: the run loaded 7, the next read `id >= 7`, and 6 was lost.)"""
    _sql(
        pg_source,
        "CREATE TABLE seq (id bigserial PRIMARY KEY, note text)",
        "INSERT INTO seq (note) SELECT 'n' || g FROM generate_series(1, 5) g",
    )
    job = _job_file(
        tmp_path, pg_source, destination, dataset, table="seq", cursor_column="id",
        settle_timeout="1s",
    )  # fmt: skip
    applied = cli("job", "apply", str(job))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    first = _run(job)
    assert first["status"] == "completed" and first["rows_loaded"] == 5, first
    assert first["read_up_to"] == 5
    assert "settled" in first["cursor_reading"]

    t1, t2 = pg_source.connect("t1"), pg_source.connect("t2")
    try:
        t1.execute("INSERT INTO seq (note) VALUES ('late')")  # id 6, not committed
        t1_pid = t1.info.backend_pid
        t2.execute("INSERT INTO seq (note) VALUES ('early')")  # id 7
        t2.commit()
        held = _run(job)
        assert held["status"] == "completed", held
        assert held["rows_loaded"] == 0 and held["read_up_to"] == 5, held
        assert any(f"pid {t1_pid}" in w and "settle_timeout" in w for w in held["warnings"]), held
        t1.commit()
    finally:
        t1.close()
        t2.close()
    after = _run(job)
    assert after["status"] == "completed" and after["rows_loaded"] == 2, after
    assert after["read_up_to"] == 7 and not after["warnings"]
    assert _run(job)["rows_loaded"] == 0
    assert _ids(bq, job) == [1, 2, 3, 4, 5, 6, 7]


def test_a_long_transaction_writing_another_table_does_not_hold_the_read_back(
    pg_source, destination, dataset, bq, tmp_path
):
    """A batch that wrote another table of the database stays open past settle_timeout: only a
    transaction that has written the job's own table holds the read back (it is then warned
    about, like one that has not written), so a long job elsewhere does not stall this one."""
    _sql(
        pg_source,
        "CREATE TABLE seq (id bigserial PRIMARY KEY, note text)",
        "CREATE TABLE other (id bigserial PRIMARY KEY, note text)",
        "INSERT INTO seq (note) SELECT 'n' || g FROM generate_series(1, 5) g",
    )
    job = _job_file(
        tmp_path, pg_source, destination, dataset, table="seq", cursor_column="id",
        settle_timeout="1s",
    )  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    assert _run(job)["rows_loaded"] == 5
    batch, app = pg_source.connect("batch"), pg_source.connect("app")
    try:
        batch.execute("INSERT INTO other (note) VALUES ('long batch')")  # open, other table
        batch_pid = batch.info.backend_pid
        app.execute("INSERT INTO seq (note) VALUES ('new')")  # id 6
        app.commit()
        outcome = _run(job)
        assert outcome["status"] == "completed" and outcome["rows_loaded"] == 1, outcome
        assert outcome["read_up_to"] == 6, outcome
        warned = " ".join(outcome["warnings"])
        assert f"pid {batch_pid}" in warned and "had not written the source" in warned, outcome
    finally:
        batch.rollback()
        batch.close()
        app.close()
    assert _ids(bq, job) == [1, 2, 3, 4, 5, 6]


def _wait_until_the_run_waits(source: PgSource, process) -> None:
    """The run is seen polling pg_locks for the transactions open when it took its bound (its
    session's last statement lists virtualxids), so it has taken M already."""
    deadline = time.monotonic() + 180
    with psycopg.connect(PG_DSN, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            (waiting,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s "
                "AND application_name = 'etl-bigquery' AND query LIKE '%%virtualxid%%'",
                (source.database, source.role),
            ).fetchone()
            if waiting:
                return
            if process.poll() is not None:
                outcome = finish(process)
                raise AssertionError(f"the run ended without waiting: {outcome.user_saw()}")
            time.sleep(0.05)
    kill(process)
    raise AssertionError("the run was not seen waiting within 180 s")


def test_an_id_taken_before_its_transaction_writes_is_waited_for_by_the_run(
    pg_source, destination, dataset, bq, tmp_path
):
    """T1 takes id 4 with nextval() and has not written (no transaction id, invisible to an
    xmin horizon) while T2 commits id 5. The run (its own process, `etl run`) takes its bound
    (5) and waits; only when it is seen waiting does T1 insert 4 and commit: the run loads both."""
    _sql(
        pg_source,
        "CREATE TABLE seq (id bigserial PRIMARY KEY, note text)",
        "INSERT INTO seq (note) SELECT 'n' || g FROM generate_series(1, 3) g",
    )
    job = _job_file(
        tmp_path, pg_source, destination, dataset, table="seq", cursor_column="id",
        settle_timeout="5m",
    )  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    assert _run(job)["rows_loaded"] == 3

    t1, t2 = pg_source.connect("t1"), pg_source.connect("t2")
    process = None
    try:
        (taken,) = t1.execute("SELECT nextval('seq_id_seq')").fetchone()  # opens T1
        assert taken == 4
        t2.execute("INSERT INTO seq (note) VALUES ('early')")  # id 5
        t2.commit()
        process = start([ETL, "run", str(job), "--json"])
        _wait_until_the_run_waits(pg_source, process)
        t1.execute("INSERT INTO seq (id, note) VALUES (%s, 'drawn first')", (taken,))
        t1.commit()
        outcome = finish(process)
    finally:
        if process is not None and process.poll() is None:
            kill(process)
        t1.close()
        t2.close()
    report = outcome.report
    assert report is not None, outcome.stdout + outcome.stderr
    assert report["status"] == "completed" and report["rows_loaded"] == 2, report
    assert report["read_up_to"] == 5
    assert _run(job)["rows_loaded"] == 0
    assert _ids(bq, job) == [1, 2, 3, 4, 5]


def test_a_query_source_with_a_numeric_cursor_is_settled_too(
    pg_source, destination, dataset, bq, tmp_path
):
    _sql(
        pg_source,
        "CREATE TABLE seq (id bigserial PRIMARY KEY, note text)",
        "INSERT INTO seq (note) SELECT 'n' || g FROM generate_series(1, 4) g",
    )
    name = f"c-{uuid.uuid4().hex[:10]}"
    job = tmp_path / f"{name}.yaml"
    job.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "connection": pg_source.connection,
                "source": {"query": "SELECT id, upper(note) AS note FROM seq WHERE id % 2 = 0"},
                "destination": {"block": destination, "dataset": dataset, "table": "evens"},
                "load_type": "transactional",
                "cursor_column": "id",
                "backfill_start": "all",
            }
        )
    )
    assert cli("job", "apply", str(job)).returncode == 0
    report = _run(job)
    assert report["rows_loaded"] == 2 and report["read_up_to"] == 4, report
    assert _ids(bq, job) == [2, 4]


def test_a_sequence_that_hands_out_ids_in_blocks_is_named_with_the_fix(
    pg_source, destination, dataset, bq, tmp_path
):
    """With CACHE 20 a session takes ids from its own block, after another session committed
    higher ones: no bound can hold that, so every run says so, with the fix."""
    _sql(
        pg_source,
        "CREATE TABLE blocks (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 20), note text)",
        "INSERT INTO blocks (note) VALUES ('a'), ('b')",
    )
    job = _job_file(tmp_path, pg_source, destination, dataset, table="blocks",
                    cursor_column="id")  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    report = _run(job)
    assert report["rows_loaded"] == 2, report
    assert any(
        "hands out values in blocks of 20 per session (CACHE 20)" in w
        and "ALTER SEQUENCE public.blocks_id_seq CACHE 1" in w
        for w in report["warnings"]
    ), report["warnings"]


# -- text cursors: item 4 -----------------------------------------------------------------------


def test_a_text_cursor_of_iso_timestamps_with_offsets_loads_every_row_once(
    pg_source, destination, dataset, bq, tmp_path
):
    """Detected as TIMESTAMP; the second run used to fail ("operator does not exist: text >=
    timestamp without time zone"). The bound is now a bytewise text prefix a day wider, and the
    engine keeps the exact rows."""
    _sql(
        pg_source,
        "CREATE TABLE ev (id int PRIMARY KEY, ts text)",
        "INSERT INTO ev VALUES (1, '2026-11-01T09:00:00+02:00'), (2, '2026-11-01T06:00:00-05:00'),"
        " (3, '2026-10-31T23:30:00Z')",
    )
    job = _job_file(tmp_path, pg_source, destination, dataset, table="ev", cursor_column="ts")
    applied = cli("job", "apply", str(job))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "TIMESTAMP" in applied.stdout
    assert _run(job)["rows_loaded"] == 3  # watermark 2026-11-01 11:00 UTC (row 2)
    _sql(
        pg_source,
        # 12:30 UTC, written west of UTC: its text sorts before the watermark's date-time.
        "INSERT INTO ev VALUES (4, '2026-11-01T07:30:00-05:00'),"
        # 12:00 UTC, written east of UTC; 11:00 UTC exactly, the watermark in another spelling.
        " (5, '2026-11-01T13:00:00+01:00'), (6, '2026-11-01 11:00:00+00')",
    )
    second = _run(job)
    assert second["status"] == "completed", second
    assert second["rows_loaded"] == 3, second
    assert "text" in second["cursor_reading"]
    assert _run(job)["rows_loaded"] == 0
    assert _ids(bq, job) == [1, 2, 3, 4, 5, 6]


def test_a_text_cursor_with_values_that_are_not_iso_times_is_refused_before_anything(
    pg_source, destination, dataset, bq, tmp_path
):
    _sql(
        pg_source,
        "CREATE TABLE ev (id int PRIMARY KEY, ts text)",
        "INSERT INTO ev VALUES (1, '2026-11-01T09:00:00Z'), (2, '01/11/2026 10:00'),"
        " (3, '2026-11-02T09:00:00Z')",
    )
    job = _job_file(
        tmp_path, pg_source, destination, dataset, table="ev", cursor_column="ts",
        column_types={"ts": "TIMESTAMP"},
    )  # fmt: skip
    refused = cli("job", "apply", str(job))
    assert refused.returncode != 0
    assert (
        "cursor_column 'ts' is text and 1 of 3 sampled values are not ISO timestamp values "
        "(e.g. '01/11/2026 10:00'), so runs could not order them; choose another cursor or fix "
        "the column."
    ) in refused.stderr, refused.stderr
    assert not _dataset_exists(bq, dataset)  # refused before anything was created


def test_a_text_column_read_as_a_number_cannot_be_the_cursor(
    pg_source, destination, dataset, bq, tmp_path
):
    _sql(pg_source, "CREATE TABLE codes (code text, note text)",
         "INSERT INTO codes VALUES ('9', 'a'), ('10', 'b')")  # fmt: skip
    job = _job_file(tmp_path, pg_source, destination, dataset, table="codes",
                    cursor_column="code")  # fmt: skip
    refused = cli("job", "apply", str(job))
    assert refused.returncode != 0
    assert "cursor_column 'code' is text (text) read as INT64" in refused.stderr, refused.stderr
    assert "use a numeric column as the cursor" in refused.stderr


def _dataset_exists(bq, dataset: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        bq.get_dataset(f"local.{dataset}")
    except NotFound:
        return False
    return True
