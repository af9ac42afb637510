"""How a transactional run reads its cursor on a real MariaDB, through `etl job apply` and
`etl run` (issue 16, items 3, 4 and 9), with a login of the test's own:

- an AUTO_INCREMENT id as cursor without a lookback, with real concurrent connections: a login
  with the PROCESS privilege settles its reads through INNODB_TRX (a writer holding id 6 open
  past the run: nothing above the watermark is read; a writer released only once the run is
  seen waiting for it: both ids load); a login without PROCESS is refused at `etl job apply`
  with the sentence, and with `lookback: 10` the late row loads once;
- a varchar of ISO timestamps with UTC offsets as cursor: the row written at -05:00 that is
  newer than the watermark is loaded (MariaDB compared the text as a local time and skipped it);
- TIME beyond 24 hours or negative: loaded as MySQL's text by default, as signed seconds with
  column_types NUMERIC, as TIME (other values rejected) with column_types TIME; a table created
  with a TIME column keeps it.

INNODB_TRX lists the whole server's transactions (there is no per-database view): another
session's short transaction makes a run wait a moment, which these tests tolerate.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from tests.faults.harness import ETL, cli, finish, kill, start
from tests.integration.conftest_mariadb import *  # noqa: F403
from tests.integration.conftest_mariadb import MariaDb, maria_sql


def _job_file(folder: Path, connection: str, destination: str, dataset: str, **fields) -> Path:
    name = f"m-{uuid.uuid4().hex[:10]}"
    spec = {
        "name": name,
        "connection": connection,
        "source": {"table": fields.pop("table")},
        "destination": {"block": destination, "dataset": dataset, "table": name.replace("-", "_")},
        "load_type": fields.pop("load_type", "transactional"),
        "processing_mode": "standard",
        **fields,
    }
    if spec["load_type"] == "transactional":
        spec["backfill_start"] = "all"
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _settle(job_file: Path, timeout: str) -> Path:
    """The job file with another settle_timeout. INNODB_TRX lists every open transaction of the
    server: runs that must not be held back by another test's writer (on the same MariaDB,
    possibly in another database) get a timeout long enough for such short transactions."""
    spec = yaml.safe_load(job_file.read_text())
    spec["settle_timeout"] = timeout
    job_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    return job_file


def _table(job_file: Path) -> str:
    spec = yaml.safe_load(job_file.read_text())
    return f"local.{spec['destination']['dataset']}.{spec['destination']['table']}"


def _run(job_file: Path) -> dict[str, Any]:
    outcome = cli("run", str(job_file), "--json")
    assert outcome.report is not None, outcome.stdout + outcome.stderr
    return outcome.report


def _ids(bq, job_file: Path) -> list[int]:
    return [
        row["id"] for row in bq.query_and_wait(f"SELECT id FROM `{_table(job_file)}` ORDER BY id")
    ]


def _writer(db: MariaDb) -> pymysql.connections.Connection:
    """A session of the application: root, in the test's database, autocommit off."""
    return pymysql.connect(host=db.host, port=db.port, user="root", password="",
                           database=db.database, autocommit=False)  # fmt: skip


@pytest.fixture()
def seq(maria_admin, maria_db) -> str:
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE seq (id bigint AUTO_INCREMENT PRIMARY KEY, note varchar(20))",
        "INSERT INTO seq (note) VALUES ('a'), ('b'), ('c'), ('d'), ('e')",
    )  # fmt: skip
    return "seq"


@pytest.fixture()
def with_process(maria_admin, maria_db) -> None:
    """The test's login may list other sessions' transactions (INNODB_TRX)."""
    with maria_admin.cursor() as cursor:
        cursor.execute(f"GRANT PROCESS ON *.* TO '{maria_db.user}'@'%'")


# -- sequences: item 3 --------------------------------------------------------------------------


def test_an_id_committed_after_a_later_one_is_loaded_once_with_process(
    seq, with_process, maria_db, maria_connection, destination, dataset, bq, tmp_path
):
    job = _job_file(tmp_path, maria_connection, destination, dataset, table=seq,
                    cursor_column="id", settle_timeout=1)  # fmt: skip
    applied = cli("job", "apply", str(job))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    first = _run(_settle(job, "2m"))
    assert first["rows_loaded"] == 5 and first["read_up_to"] == 5, first

    _settle(job, "1s")
    t1, t2, reader = _writer(maria_db), _writer(maria_db), _writer(maria_db)
    try:
        with t1.cursor() as cursor:
            cursor.execute("INSERT INTO seq (note) VALUES ('late')")  # id 6, not committed
        with t2.cursor() as cursor:
            cursor.execute("INSERT INTO seq (note) VALUES ('early')")  # id 7
        t2.commit()
        with reader.cursor() as cursor:  # a reader left open, as this tool's reads are: no id
            cursor.execute("START TRANSACTION READ ONLY")
            cursor.execute("SELECT COUNT(*) FROM seq")
        held = _run(job)
        assert held["status"] == "completed", held
        assert held["rows_loaded"] == 0 and held["read_up_to"] == 5, held
        thread = f"thread {t1.thread_id()}"
        assert any(thread in w and "settle_timeout" in w for w in held["warnings"]), held
        assert f"thread {reader.thread_id()}" not in " ".join(held["warnings"])
        t1.commit()
    finally:
        t1.close()
        t2.close()
        reader.close()
    after = _run(_settle(job, "2m"))
    assert after["rows_loaded"] == 2 and after["read_up_to"] == 7, after
    assert _run(job)["rows_loaded"] == 0
    assert _ids(bq, job) == [1, 2, 3, 4, 5, 6, 7]


def _wait_until_the_run_waits(db: MariaDb, maria_admin, process) -> None:
    """The run is seen asking INNODB_TRX for the transactions open when it took its bound (the
    statement is visible in PROCESSLIST only while it runs, so the watcher polls quickly)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with maria_admin.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                "WHERE USER = %s AND INFO LIKE '%%INNODB_TRX%%trx_mysql_thread_id%%'",
                (db.user,),
            )
            if cursor.fetchone()[0]:
                return
        if process.poll() is not None:
            outcome = finish(process)
            raise AssertionError(f"the run ended without waiting: {outcome.user_saw()}")
        time.sleep(0.005)
    kill(process)
    raise AssertionError("the run was not seen waiting within 180 s")


def test_a_run_waits_for_the_transaction_that_holds_an_earlier_id(
    seq, with_process, maria_admin, maria_db, maria_connection, destination, dataset, bq,
    tmp_path,
):  # fmt: skip
    job = _job_file(tmp_path, maria_connection, destination, dataset, table=seq,
                    cursor_column="id", settle_timeout="5m")  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    assert _run(job)["rows_loaded"] == 5
    t1, t2 = _writer(maria_db), _writer(maria_db)
    process = None
    try:
        with t1.cursor() as cursor:
            cursor.execute("INSERT INTO seq (note) VALUES ('late')")  # id 6, not committed
        with t2.cursor() as cursor:
            cursor.execute("INSERT INTO seq (note) VALUES ('early')")  # id 7
        t2.commit()
        process = start([ETL, "run", str(job), "--json"])
        _wait_until_the_run_waits(maria_db, maria_admin, process)
        t1.commit()
        outcome = finish(process)
    finally:
        if process is not None and process.poll() is None:
            kill(process)
        t1.close()
        t2.close()
    report = outcome.report
    assert report is not None, outcome.stdout + outcome.stderr
    assert report["rows_loaded"] == 2 and report["read_up_to"] == 7, report
    assert _ids(bq, job) == [1, 2, 3, 4, 5, 6, 7]


def test_without_process_a_numeric_cursor_needs_a_lookback_and_then_loads_late_rows_once(
    seq, maria_db, maria_connection, destination, dataset, bq, tmp_path
):
    bare = _job_file(tmp_path, maria_connection, destination, dataset, table=seq,
                     cursor_column="id")  # fmt: skip
    refused = cli("job", "apply", str(bare))
    assert refused.returncode != 0
    assert (
        "cursor_column 'id' is a number and MySQL/MariaDB cannot tell this run which values "
        "open transactions still hold (the login lacks the PROCESS privilege), so a value "
        "committed late below the watermark would never be loaded; set lookback: to how many "
        "values transactions still open when a run reads can hold (e.g. lookback: 1000: those "
        "rows are re-read, compared and loaded once), set lookback: 0 to accept that such rows "
        "are lost, or grant the login the PROCESS privilege."
    ) in refused.stderr, refused.stderr

    job = _job_file(tmp_path, maria_connection, destination, dataset, table=seq,
                    cursor_column="id", lookback=10)  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    assert _run(job)["rows_loaded"] == 5
    t1, t2 = _writer(maria_db), _writer(maria_db)
    try:
        with t1.cursor() as cursor:
            cursor.execute("INSERT INTO seq (note) VALUES ('late')")  # id 6
        with t2.cursor() as cursor:
            cursor.execute("INSERT INTO seq (note) VALUES ('early')")  # id 7
        t2.commit()
        ahead = _run(job)
        assert ahead["rows_loaded"] == 1 and ahead["read_up_to"] is None, ahead
        t1.commit()
    finally:
        t1.close()
        t2.close()
    assert _run(job)["rows_loaded"] == 1  # 6, re-read inside the lookback
    assert _run(job)["rows_loaded"] == 0
    assert _ids(bq, job) == [1, 2, 3, 4, 5, 6, 7]


# -- text cursors: item 4 -----------------------------------------------------------------------


def test_a_varchar_cursor_of_iso_timestamps_with_offsets_loads_the_row_west_of_utc(
    maria_admin, maria_db, maria_connection, destination, dataset, bq, tmp_path
):
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE ev (id int PRIMARY KEY, ts varchar(40))",
        "INSERT INTO ev VALUES (1, '2026-11-01T09:00:00+02:00'), (2, '2026-11-01T11:00:00Z')",
    )  # fmt: skip
    job = _job_file(tmp_path, maria_connection, destination, dataset, table="ev",
                    cursor_column="ts")  # fmt: skip
    applied = cli("job", "apply", str(job))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _run(job)["rows_loaded"] == 2  # watermark 11:00 UTC
    # 11:30 UTC, written at -05:00: MariaDB read '06:30' as a local time, below 11:00, and
    # skipped it; east of UTC, 13:00+01:00 is 12:00 UTC.
    maria_sql(
        maria_admin, maria_db.database,
        "INSERT INTO ev VALUES (3, '2026-11-01T06:30:00-05:00'), (4, '2026-11-01T13:00:00+01:00')",
    )  # fmt: skip
    second = _run(job)
    assert second["status"] == "completed" and second["rows_loaded"] == 2, second
    assert _run(job)["rows_loaded"] == 0
    assert _ids(bq, job) == [1, 2, 3, 4]


# -- TIME: item 9 -------------------------------------------------------------------------------


@pytest.fixture()
def durations(maria_admin, maria_db) -> str:
    maria_sql(
        maria_admin, maria_db.database,
        "CREATE TABLE durations (id int PRIMARY KEY, d time(6))",
        "INSERT INTO durations VALUES (1, '838:59:59'), (2, '-12:30:00.5'),"
        " (3, '23:59:59.999999'), (4, NULL)",
    )  # fmt: skip
    return "durations"


def _values(bq, job_file: Path) -> list[Any]:
    rows = bq.query_and_wait(f"SELECT d FROM `{_table(job_file)}` ORDER BY id")
    return [row["d"] for row in rows]


def test_time_beyond_a_day_or_negative_loads_as_text_by_default(
    durations, maria_connection, destination, dataset, bq, tmp_path
):
    job = _job_file(tmp_path, maria_connection, destination, dataset, table=durations,
                    load_type="catalog")  # fmt: skip
    applied = cli("job", "apply", str(job))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "MySQL TIME holds -838:59:59 to 838:59:59" in applied.stdout
    report = _run(job)
    assert report["status"] == "completed" and report["rows_loaded"] == 4, report
    assert report["rows_rejected"] == 0
    schema = {f.name: f.field_type for f in bq.get_table(_table(job)).schema}
    assert schema["d"] == "STRING"
    assert _values(bq, job) == ["838:59:59.000000", "-12:30:00.500000", "23:59:59.999999", None]


def test_time_overridden_to_numeric_is_signed_seconds(
    durations, maria_connection, destination, dataset, bq, tmp_path
):
    job = _job_file(tmp_path, maria_connection, destination, dataset, table=durations,
                    load_type="catalog", column_types={"d": "NUMERIC"})  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    report = _run(job)
    assert report["rows_loaded"] == 4 and report["rows_rejected"] == 0, report
    assert _values(bq, job) == [
        Decimal("3020399"), Decimal("-45000.5"), Decimal("86399.999999"), None,
    ]  # fmt: skip


def test_time_overridden_to_time_keeps_times_of_day_and_rejects_the_rest(
    durations, maria_connection, destination, dataset, bq, tmp_path
):
    """Also: a table created with a TIME column (as versions before this one did) keeps it when
    the job no longer says TIME."""
    job = _job_file(tmp_path, maria_connection, destination, dataset, table=durations,
                    load_type="catalog", column_types={"d": "TIME"})  # fmt: skip
    assert cli("job", "apply", str(job)).returncode == 0
    report = _run(job)
    assert report["status"] == "partial", report
    assert report["rows_loaded"] == 2 and report["rows_rejected"] == 2, report
    rejected = bq.query_and_wait(f"SELECT reason FROM `{_table(job)}__rejected` ORDER BY reason")
    reasons = sorted(row["reason"] for row in rejected)
    assert reasons[0].startswith("column 'd': '-12:30:00.500000' is not a valid TIME")

    spec = yaml.safe_load(job.read_text())
    del spec["column_types"]
    job.write_text(yaml.safe_dump(spec, sort_keys=False))
    reapplied = cli("job", "apply", str(job))
    assert reapplied.returncode == 0, reapplied.stdout + reapplied.stderr
    again = _run(job)
    assert again["status"] == "completed" and again["rows_loaded"] == 2, again  # kept already
    assert {f.name: f.field_type for f in bq.get_table(_table(job)).schema}["d"] == "TIME"
