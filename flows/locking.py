"""One run per job at a time, with a Prefect global concurrency limit of 1 per job.

The slot is a lease: if the process holding it dies, the lease expires after `LEASE_SECONDS` and
the next run may start. Correctness never depends on this lock (see `etl.incremental`); it keeps
two runs from doing the same work twice.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists

LEASE_SECONDS = 60
WAIT_SECONDS = 5


class JobAlreadyRunning(RuntimeError):
    pass


def limit_name(job_name: str) -> str:
    return f"etl-job-{job_name}"


def ensure_limit(job_name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(limit_name(job_name))
            return
        except Exception:  # missing (404) or unreadable: try to create it
            pass
        with contextlib.suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=limit_name(job_name), limit=1)
            )


@contextlib.contextmanager
def exclusive_run(job_name: str, holder_id: str | None) -> Iterator[None]:
    ensure_limit(job_name)
    holder = ConcurrencyLeaseHolder(type="flow_run", id=uuid.UUID(holder_id)) if holder_id else None
    try:
        manager = concurrency(
            limit_name(job_name),
            occupy=1,
            timeout_seconds=WAIT_SECONDS,
            lease_duration=LEASE_SECONDS,
            strict=True,
            holder=holder,
            raise_on_lease_renewal_failure=False,
        )
        manager.__enter__()
    except TimeoutError:
        raise JobAlreadyRunning(
            f"Another run of job '{job_name}' is in progress; this run did nothing."
        ) from None
    try:
        yield
    finally:
        manager.__exit__(None, None, None)
