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


def apply_job_file(path: Path) -> None:
    """`etl job apply FILE`; fails the test with the command's output when it fails."""
    applied = etl("job", "apply", str(path))
    assert applied.returncode == 0, applied.stdout + applied.stderr


def run_job_file(path: Path) -> dict[str, Any]:
    """`etl run FILE --json`: its report (stdout holds the JSON object and nothing else)."""
    ran = etl("run", str(path), "--json")
    assert ran.stdout.strip(), ran.stderr[-3000:]
    report = json.loads(ran.stdout)
    assert isinstance(report, dict)
    return report
