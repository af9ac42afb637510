"""Steps shared by the fault scenarios: source tables, job files, runs of `etl run` in child
processes, killing them, freeing the slot a killed run kept, and the results file.

Everything goes through the public surfaces: PostgreSQL, the `etl` command (or the same command
started by `tests.faults.crash_at` with a checkpoint hook), Prefect's API and BigQuery tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tests.faults.checksum import Comparison, compare

ROOT = Path(__file__).resolve().parents[2]
ETL = str(Path(sys.executable).parent / "etl")
RESULTS = Path(os.environ.get("ETL_FAULTS_RESULTS", ROOT / ".etl" / "faults" / "results.jsonl"))
RUN_TIMEOUT = 900
EXIT_SKIPPED = 3
KILLED = -signal.SIGKILL

# The columns of every fault table; `specials` adds NaN/±Infinity doubles and JSON scalars;
# `rejects` adds a text column `doc` loaded as JSON, invalid on every MALFORMED_EVERY-th id.
_COLUMNS = """
    id bigint PRIMARY KEY,
    note text,
    amount numeric(12,2),
    score double precision,
    payload jsonb,
    active boolean,
    updated_at timestamptz NOT NULL
"""
_EPOCH = "timestamptz '2026-01-01 00:00:00.123456+00'"
MALFORMED_EVERY = 50


def _select(first: int, last: int, cursor: str, specials: bool, rejects: bool = False) -> str:
    score = "((g % 1000) * 1.25 + 0.1)::float8"
    payload = "jsonb_build_object('id', g, 'tags', jsonb_build_array('a', g % 7), 'ok', g % 2 = 0)"
    if specials:
        score = (
            "CASE WHEN g % 100003 = 11 THEN 'NaN'::float8 WHEN g % 100003 = 12 THEN "
            "'Infinity'::float8 WHEN g % 100003 = 13 THEN '-Infinity'::float8 "
            f"ELSE {score} END"
        )
        payload = (
            "CASE WHEN g % 100019 = 21 THEN 'null'::jsonb WHEN g % 100019 = 22 THEN "
            "to_jsonb('text ' || g) WHEN g % 100019 = 23 THEN to_jsonb(g * 1.5) "
            f"ELSE {payload} END"
        )
    doc = (
        f", CASE WHEN g % {MALFORMED_EVERY} = 0 THEN 'not json {{' || g "
        "ELSE jsonb_build_object('n', g)::text END"
        if rejects
        else ""
    )
    return f"""
        SELECT g,
               'row ' || g || CASE WHEN g % 7 = 0 THEN ' ünïcødé ✓ ' || chr(10) ELSE '' END,
               ((g % 100000) / 100.0)::numeric(12,2),
               {score},
               {payload},
               g % 3 = 0,
               {cursor}
               {doc}
        FROM generate_series({first}, {last}) g
    """


@dataclass
class SourceTable:
    """A PostgreSQL table of the fault suite, with many rows per cursor value."""

    dsn: str
    schema: str
    name: str
    per_value: int = 10
    specials: bool = False
    rejects: bool = False

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    def _execute(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(sql.encode())  # bytes: no placeholders (`g % 7` is SQL)
            return cursor.fetchall() if cursor.description else []

    @property
    def columns(self) -> str:
        return _COLUMNS + (", doc text" if self.rejects else "")

    def _rows(self, first: int, last: int, cursor: str) -> str:
        return _select(first, last, cursor, self.specials, self.rejects)

    def create(self, rows: int) -> SourceTable:
        """Rows 1..rows; cursor values one second apart, `per_value` rows on each."""
        cursor = f"{_EPOCH} + ((g - 1) / {self.per_value}) * interval '1 second'"
        self._execute(f"CREATE TABLE {self.qualified} ({self.columns})")
        self._execute(f"INSERT INTO {self.qualified} {self._rows(1, rows, cursor)}")
        self._execute(f"ANALYZE {self.qualified}")
        if self.rejects:
            self._execute(
                f'CREATE VIEW "{self.schema}"."{self.name}_fit" AS '
                "SELECT id, note, amount, score, payload, active, updated_at, doc::jsonb AS doc "
                f"FROM {self.qualified} WHERE id % {MALFORMED_EVERY} <> 0"
            )
        return self

    @property
    def expected(self) -> tuple[str, str]:
        """What BigQuery's table should equal: the table, or with `rejects` the rows that fit."""
        return (self.schema, f"{self.name}_fit" if self.rejects else self.name)

    def malformed_ids(self) -> list[int]:
        if not self.rejects:
            return []
        rows = self._execute(f"SELECT id FROM {self.qualified} WHERE id % {MALFORMED_EVERY} = 0")
        return [int(row[0]) for row in rows]

    def copy_of(self, other: SourceTable) -> SourceTable:
        self._execute(f"CREATE TABLE {self.qualified} ({self.columns})")
        self._execute(f"INSERT INTO {self.qualified} SELECT * FROM {other.qualified}")
        self._execute(f"ANALYZE {self.qualified}")
        return self

    def last(self) -> tuple[int, dt.datetime]:
        top_id, top_cursor = self._execute(
            f"SELECT max(id), max(updated_at) FROM {self.qualified}"
        )[0]
        return int(top_id or 0), top_cursor

    def add(self, new_values: int, at_last: int = 0) -> int:
        """`at_last` rows sharing the current last cursor value, then `new_values` cursor values
        past it with `per_value` rows each; returns how many rows were added."""
        top_id, top_cursor = self.last()
        last = f"timestamptz '{top_cursor.isoformat()}'"
        added = 0
        if at_last:
            self._execute(
                f"INSERT INTO {self.qualified} {self._rows(top_id + 1, top_id + at_last, last)}"
            )
            added += at_last
        if new_values:
            first = top_id + added + 1
            count = new_values * self.per_value
            cursor = f"{last} + (1 + (g - {first}) / {self.per_value}) * interval '1s'"
            self._execute(
                f"INSERT INTO {self.qualified} {self._rows(first, first + count - 1, cursor)}"
            )
            added += count
        return added

    def count(self) -> int:
        return int(self._execute(f"SELECT count(*) FROM {self.qualified}")[0][0])


@dataclass
class RunOutcome:
    returncode: int
    report: dict[str, Any] | None
    stdout: str = ""
    stderr: str = ""

    @property
    def completed(self) -> bool:
        return self.status in ("completed", "partial")

    @property
    def status(self) -> str:
        if self.returncode == KILLED:
            return "killed"
        return (self.report or {}).get("status") or f"exit {self.returncode}"

    def user_saw(self) -> str:
        """What the person running the job saw: the final state and its message."""
        if self.returncode == KILLED:
            return "nothing (process killed)"
        report = self.report or {}
        if not report:
            tail = (self.stderr or self.stdout).strip().splitlines()[-1:] or [""]
            return f"exit {self.returncode}: {tail[0][:300]}"
        state = report.get("state_name") or report.get("status")
        if report.get("error"):
            return f"{state}: [{report.get('error_type')}] {report['error']}"
        return f"{state}: {report.get('rows_loaded', 0):,} rows loaded"


def parse_report(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(line)
    return None


@dataclass
class FaultJob:
    """One transactional job of the suite: its YAML file, source table and destination."""

    source: SourceTable
    connection: str
    block: str
    dataset: str
    folder: Path
    name: str = field(default_factory=lambda: f"f-{uuid.uuid4().hex[:10]}")
    table: str = "events"
    project: str = "local"
    column_types: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.folder / f"{self.name}.yaml"

    @property
    def table_id(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table}"

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "connection": self.connection,
            "source": {"schema": self.source.schema, "table": self.source.name},
            "destination": {"block": self.block, "dataset": self.dataset, "table": self.table},
            "load_type": "transactional",
            "cursor_column": "updated_at",
            "backfill_start": "all",
            "processing_mode": "standard",
        } | ({"column_types": self.column_types} if self.column_types else {})

    def write(self) -> FaultJob:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file.write_text(yaml.safe_dump(self.spec(), sort_keys=False))
        return self

    def apply(self) -> RunOutcome:
        self.write()
        return cli("job", "apply", str(self.file))

    def command(self) -> list[str]:
        return [ETL, "run", str(self.file), "--json"]

    def crash_command(self, checkpoint: str, action: str, marker: Path | None = None) -> list[str]:
        extra = [str(marker)] if marker else []
        return [sys.executable, "-m", "tests.faults.crash_at", str(self.file), checkpoint, action,
                *extra]  # fmt: skip

    def run(self, env: dict[str, str] | None = None) -> RunOutcome:
        """`etl run FILE --json`: in this process (the same command, without the 3 s of
        imports a new process pays) unless `env` asks for a child process."""
        if env is None:
            return cli("run", str(self.file), "--json")
        return finish(start(self.command(), env=env))

    def compare(self, pg_dsn: str, bq: Any) -> Comparison:
        return compare(pg_dsn, self.source.expected, bq, self.table_id)

    def rejected_ids(self, bq: Any) -> list[int]:
        """Source ids kept in `<table>__rejected` (its `record` column holds the row as JSON)."""
        from google.api_core.exceptions import NotFound

        try:
            rows = bq.query_and_wait(f"SELECT record FROM `{self.table_id}__rejected`")
            return [int(json.loads(row["record"])["id"]) for row in rows]
        except NotFound:
            return []


def cli(*args: str) -> RunOutcome:
    """The `etl` command, run in this process with typer's runner."""
    from typer.testing import CliRunner

    from etl_bigquery.cli.main import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return RunOutcome(result.exit_code, parse_report(result.stdout), result.stdout, result.stderr)


def etl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `etl` command in a child process."""
    return subprocess.run(
        [ETL, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
        env={**os.environ, **(env or {})}, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def start(
    command: list[str], env: dict[str, str] | None = None, **options: Any
) -> subprocess.Popen:
    """A child in its own process group (a kill reaches everything it started), its output in
    files (a pipe nobody reads could block it)."""
    out = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by finish)
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115
    process = subprocess.Popen(
        command, stdout=out, stderr=err, text=True, cwd=ROOT, env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL, start_new_session=True, **options,
    )  # fmt: skip
    process.output_files = (out, err)  # type: ignore[attr-defined]
    return process


def kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> RunOutcome:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(process)
        process.wait()
        raise AssertionError(f"run did not end within {timeout}s") from None
    out, err = process.output_files  # type: ignore[attr-defined]
    texts = []
    for file in (out, err):
        file.seek(0)
        texts.append(file.read())
        file.close()
    return RunOutcome(process.returncode, parse_report(texts[0]), texts[0], texts[1])


def free_slot(job_name: str) -> None:
    """A killed run keeps the job's Prefect concurrency slot until its lease expires (60 s);
    free it as an operator would, by deleting the job's limit (the next run recreates it)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for limit in client.read_global_concurrency_limits(limit=200):
            if limit.name.endswith(job_name):
                with contextlib.suppress(Exception):
                    client.delete_global_concurrency_limit_by_name(limit.name)


def run_until_complete(job: FaultJob, *, attempts: int = 4) -> tuple[RunOutcome, int]:
    """Re-run until a run completes (at most `attempts`); returns the last run and how many
    ran. It never raises: a job that does not converge is a result to record, then fail on."""
    outcome = job.run()
    runs = 1
    while not outcome.completed and runs < attempts:
        if outcome.status == "skipped":
            free_slot(job.name)
        outcome = job.run()
        runs += 1
    return outcome, runs


def converge(job: FaultJob, faulted: RunOutcome) -> tuple[RunOutcome, int]:
    """The faulted run if it completed, else re-runs until one does: (last run, re-runs)."""
    if faulted.completed:
        return faulted, 0
    return run_until_complete(job)


def record(
    scenario: str,
    *,
    runs: int,
    comparison: Comparison,
    user_saw: str,
    final: RunOutcome | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One line of `.etl/faults/results.jsonl` (the README's reliability table). `final` is the
    last run of the scenario; when it did not complete, the job did not converge."""
    converged = final is None or final.completed
    if not converged:
        user_saw = f"{user_saw}; did not converge, last run: {final.user_saw()}"
    line = {
        "scenario": scenario,
        "runs": runs,
        "converged": converged,
        "rows_lost": comparison.lost,
        "rows_duplicated": comparison.duplicated,
        "rows_changed": comparison.changed,
        "checksum_equal": comparison.checksum_equal,
        "source_rows": comparison.source_rows,
        "bigquery_rows": comparison.bigquery_rows,
        "user_saw": user_saw,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        **extra,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(line, default=str) + "\n")
    return line


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
            timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        return ""


def assert_exact(comparison: Comparison, what: str, final: RunOutcome | None = None) -> None:
    if final is not None:
        assert final.completed, f"{what}: no run completed; the last one: {final.user_saw()}"
    assert comparison.lost == 0 and comparison.duplicated == 0, (
        f"{what}: {comparison.lost} rows lost, {comparison.duplicated} duplicated ({comparison})"
    )
    assert comparison.checksum_equal and comparison.changed == 0, (
        f"{what}: same keys but {comparison.changed} rows differ in content ({comparison})"
    )
    assert comparison.source_rows == comparison.bigquery_rows, comparison


def bigquery_count(bq: Any, table_id: str) -> int:
    return int(next(iter(bq.query_and_wait(f"SELECT COUNT(*) AS n FROM `{table_id}`")))["n"])


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
