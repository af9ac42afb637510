"""Shared steps of the `etl verify` tests: job files, a run, the verify command's JSON, and
changes made behind the job's back in BigQuery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.cli_helpers import apply_job_file, etl_here, run_job_file, write_job


def job_file(folder: Path, name: str, **fields: Any) -> Path:
    return write_job(folder, {"name": name, **fields})


def apply_and_run(path: Path) -> dict[str, Any]:
    apply_job_file(path)
    report = run_job_file(path)
    assert report["status"] == "completed", report
    return report


def verify(path: Path, mode: str = "full", *options: str) -> tuple[int, dict[str, Any]]:
    """`etl verify FILE --mode MODE --json`: (exit code, the JSON result)."""
    code, out, err = etl_here("verify", str(path), "--mode", mode, "--json", *options)
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return code, json.loads(line)
    raise AssertionError(f"no JSON (exit {code}): {out[-2000:]} {err[-2000:]}")


def verify_text(path: Path, mode: str = "full") -> tuple[int, str]:
    code, out, err = etl_here("verify", str(path), "--mode", mode)
    return code, out + err


def found(result: dict[str, Any], kind: str, column: str) -> list[Any]:
    """The key values (of `column`) of the differences of one kind."""
    return sorted(d["key"][column] for d in result["differences"] if d["kind"] == kind)


def tamper(bq: Any, table: str, key: str, deleted: list[Any], duplicated: list[Any]) -> None:
    """Rows deleted from and duplicated in the BigQuery table, as a bad hand-made fix would."""
    listed = ", ".join(repr(v) for v in deleted)
    bq.query_and_wait(f"DELETE FROM `{table}` WHERE `{key}` IN ({listed})")
    listed = ", ".join(repr(v) for v in duplicated)
    bq.query_and_wait(f"INSERT INTO `{table}` SELECT * FROM `{table}` WHERE `{key}` IN ({listed})")
