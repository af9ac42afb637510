"""Run one job and die at a checkpoint, as a killed container would (used by test_exactly_once).

    python -m tests.integration.crash_run JOB.json CHECKPOINT [kill|raise|delete-staged|pause]

`kill` ends the process at once with os._exit (no cleanup, no final state, slot not released);
`raise` makes the step fail with an exception; `delete-staged` removes the staged files so the
BigQuery load job itself fails; `pause` waits at the checkpoint until `JOB.json.go` exists (a
slow run, for tests that let another run overtake it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from etl_bigquery.engine import checkpoints
from etl_bigquery.engine.jobs.model import JobSpec


def main() -> None:
    job_file, checkpoint, action = sys.argv[1], sys.argv[2], sys.argv[3]
    job = JobSpec.model_validate(json.loads(Path(job_file).read_text()))

    def hook() -> None:
        if action == "pause":
            import time

            go = Path(job_file + ".go")
            Path(job_file + ".paused").touch()
            while not go.exists():
                time.sleep(0.2)
            return
        if action == "kill":
            sys.stdout.flush()
            os._exit(137)
        raise RuntimeError(f"injected failure at {checkpoint}")

    if action == "delete-staged":

        def delete_staged() -> None:
            from etl_bigquery.blocks.registry import load_destination

            destination = load_destination(job.destination.block)
            client = destination.clients().storage
            bucket, _, prefix = destination.staging_uri.removeprefix("gs://").partition("/")
            for blob in client.list_blobs(bucket, prefix=f"{prefix}/{job.name}/"):
                blob.delete()

        checkpoints.on(checkpoint, delete_staged)
    else:
        checkpoints.on(checkpoint, hook)

    from etl_bigquery.flows.etl_job import etl_job

    state = etl_job(job=job, return_state=True)
    report = state.result(raise_on_failure=False)
    report = getattr(report, "report", report)  # a failed run's report rides on its exception
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
