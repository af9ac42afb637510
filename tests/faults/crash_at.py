"""`etl run JOB.yaml --json`, with a fault injected when the run reaches a named checkpoint.

    python -m tests.faults.crash_at JOB.yaml CHECKPOINT ACTION [MARKER]

ACTION:
  kill      SIGKILL this process at once (no cleanup, no final state, the slot is kept);
  hold      write MARKER (the checkpoint's name) and sleep, so the test can look at BigQuery and
            then kill the process from outside (e.g. while a load job runs);
  terminate-source
            terminate this run's PostgreSQL reading backend from an admin connection (the
            first time only), as a database restart or a network cut would, and carry on.

Everything else is the `etl` command itself.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _terminate_source() -> int:
    import psycopg

    from tests.conftest import PG_DSN

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'etl-bigquery' AND pid <> pg_backend_pid() "
            "AND state = 'active' AND query ILIKE '%%COPY%%'"
        ).fetchall()
    return len(rows)


def main() -> None:
    job_file, checkpoint, action = sys.argv[1], sys.argv[2], sys.argv[3]
    marker = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    done = False

    def hook() -> None:
        nonlocal done
        if action == "kill":
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "hold":
            if marker is not None:
                marker.write_text(checkpoint)
            time.sleep(3600)
        elif action == "terminate-source" and not done:
            done = True
            terminated = _terminate_source()
            if marker is not None:
                marker.write_text(str(terminated))
        elif action not in ("kill", "hold", "terminate-source"):
            raise SystemExit(f"unknown action {action}")

    from etl_bigquery.engine import checkpoints

    checkpoints.on(checkpoint, hook)

    from etl_bigquery.cli.main import main as etl_main

    sys.argv = ["etl", "run", job_file, "--json"]
    etl_main()


if __name__ == "__main__":
    main()
