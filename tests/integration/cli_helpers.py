"""Running the installed `etl` command the way a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ETL = str(Path(sys.executable).parent / "etl")


def etl(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ETL, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def write_job(folder: Path, spec: dict[str, Any]) -> Path:
    """A job file as a user writes it (outside any project: `etl job apply` creates the table
    and deploys nothing)."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return path


def etl_here(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """The `etl` command run in this process (typer's runner): the same command and code path,
    without the seconds of imports a new process pays. Returns (exit code, stdout, stderr).
    Tests of what the process itself shows (secrets in its output, exit codes of the installed
    command) use `etl`."""
    import contextlib

    from typer.testing import CliRunner

    from etl_bigquery.cli.main import app

    with contextlib.chdir(cwd or Path.cwd()):
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def apply_job_file(path: Path) -> None:
    """`etl job apply FILE`; fails the test with the command's output when it fails."""
    code, out, err = etl_here("job", "apply", str(path))
    assert code == 0, out + err


def run_job_file(path: Path) -> dict[str, Any]:
    """`etl run FILE --json`: its report (the JSON object on stdout)."""
    code, out, err = etl_here("run", str(path), "--json")
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            report = json.loads(line)
            assert isinstance(report, dict)
            assert (code == 0) == (report["status"] in ("completed", "partial")), (code, report)
            return report
    raise AssertionError(f"no JSON report (exit {code}): {out[-2000:]} {err[-2000:]}")
