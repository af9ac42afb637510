"""Running the installed `etl` command the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
