"""Shared steps of the file-source tests that go through the `etl` command as a user runs it:
job files on disk, `etl job apply`, `etl run FILE --json`, and BigQuery read back."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    @property
    def report(self) -> dict[str, Any]:
        for line in reversed(self.stdout.strip().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise AssertionError(f"no JSON report in: {self.text[-2000:]}")


def etl(*args: str) -> Outcome:
    """The `etl` command in this process (the same typer app the console script runs)."""
    from typer.testing import CliRunner

    from etl_bigquery.cli.main import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def job_file(
    folder: Path, connection: str, destination: str, dataset: str, table: str,
    source: dict[str, Any], load_type: str = "transactional",
) -> Path:  # fmt: skip
    """A job YAML file (outside any project: `etl job apply` validates and creates the table)."""
    data = {
        "name": f"f-{uuid.uuid4().hex[:10]}",
        "connection": connection,
        "source": {"kind": "files", **source},
        "destination": {"block": destination, "dataset": dataset, "table": table},
        "load_type": load_type,
    }
    path = folder / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def apply(path: Path) -> Outcome:
    applied = etl("job", "apply", str(path))
    assert applied.code == 0, applied.text[-3000:]
    return applied


def run(path: Path) -> dict[str, Any]:
    """`etl run FILE --json`: the run's report."""
    return etl("run", str(path), "--json").report


def rows(bq: Any, dataset: str, table: str, order: str = "_etl_source_file, _etl_source_row"):
    sql = f"SELECT * FROM `local.{dataset}.{table}` ORDER BY {order}"
    return [dict(r.items()) for r in bq.query_and_wait(sql)]
