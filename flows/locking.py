"""One run per job at a time, with a Prefect global concurrency limit of 1 per job.

A run holds the slot `etl-job-<name>` through a lease of `LEASE_SECONDS`, renewed by a thread
every `RENEW_SECONDS` while it runs. If the process dies, the lease expires and the Prefect
server's repossessor frees the slot within its loop interval (15 s by default); the next run may
start. Correctness never depends on this lock (BigQuery load job ids make loads exactly once, see
`engine.incremental`); it keeps two runs from doing the same work twice.

    with exclusive_run(job.name, flow_run_id) as slot:
        ...              # extract
        slot.check()     # right before submitting a load job: raises SlotLost if it lapsed
        ...              # load

A slot can lapse while its run goes on: the lease was revoked (by an operator, or by the
repossessor after the process stalled), or could not be renewed until it expired (the Prefect API
unreachable). The renewal thread notices (the server answers 410 Gone, or the last confirmed
expiry passes) and logs it; `Slot.check()` confirms the lease with the server, renewing it (so a
load starts with a full lease ahead), and raises `SlotLost` when it is gone or unconfirmed past
its expiry: a run without its slot stops before loading. Prefect's own
`concurrency(..., raise_on_lease_renewal_failure=True)` is not used: after three failed renewal
attempts its thread injects `CancelledError` (a BaseException) into the flow's thread
(PyThreadState_SetAsyncExc: at the next bytecode, wherever that is, never inside a blocking
call) and the flow run ends Crashed, without its classified failure and summary; with `False` it
only logs a warning and stops renewing for good.

Who holds the slot: Prefect 3.8.8 has no API that lists a limit's leases or holders (only
increment-with-lease, renew and decrement-with-lease), so the holder records itself in the Prefect
variable `etl_slot_<job>` (flow run id, lease id, lease expiry), rewritten at each renewal and
deleted before release. A run that cannot get the slot reads it and the holder's flow run to say
who holds the slot and by when it frees if that run was killed; without a current record it says
only that another run is in progress.

A holder that is already Crashed/Failed/Completed keeps its lease until expiry: the waiting run
does not release it, because the server's decrement-with-lease is not atomic (two runs releasing
one stale lease at once can free two slots) and can race with the repossessor. It says when the
slot frees instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    VariableCreate,
    VariableUpdate,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.exceptions import ObjectAlreadyExists

LEASE_SECONDS = 60
RENEW_SECONDS = 20  # three renewals per lease: two may fail before it lapses
RETRY_SECONDS = 5  # after a failed renewal
WAIT_SECONDS = 5  # for a busy slot, before the run is skipped
CHECK_MARGIN_SECONDS = 5  # a lease that cannot be confirmed counts as lapsed this long before


class JobAlreadyRunning(RuntimeError):
    pass


class SlotLost(RuntimeError):
    """The run's slot lapsed: it must not load (another run may be doing the same work)."""

    def __init__(self, job_name: str, lapsed_at: dt.datetime) -> None:
        super().__init__(
            f"The run of job '{job_name}' stopped before loading because its slot lapsed at "
            f"{_clock(lapsed_at)}; the next run loads."
        )
        self.job_name = job_name
        self.lapsed_at = lapsed_at


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _clock(at: dt.datetime) -> str:
    at = at.astimezone(dt.UTC)
    return f"{at:%H:%M:%S} UTC" if at.date() == _now().date() else f"{at:%Y-%m-%d %H:%M:%S} UTC"


def _status(error: BaseException) -> int | None:
    return getattr(getattr(error, "response", None), "status_code", None)


def _logger() -> logging.Logger | logging.LoggerAdapter:
    from prefect import get_run_logger

    try:
        return get_run_logger()
    except Exception:  # outside a run
        return logging.getLogger(__name__)


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


def record_name(job_name: str) -> str:
    """The Prefect variable in which the slot's holder records itself."""
    return f"etl_slot_{job_name}"


class Slot:
    """This run's hold on its job's slot. Call `check()` right before loading."""

    def __init__(
        self, job_name: str, holder_id: str | None, lease_id: uuid.UUID, expires_at: dt.datetime
    ) -> None:
        self.job_name = job_name
        self.holder_id = holder_id
        self.lease_id = lease_id
        self.expires_at = expires_at
        """Until when the server holds the lease, as last confirmed (by this clock, early)."""
        self.lapsed_at: dt.datetime | None = None
        self._lock = threading.Lock()  # one renewal at a time; none after release
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """Confirm with the Prefect server that this run still holds its slot (renewing the
        lease); raise `SlotLost` if it lapsed."""
        with self._lock:
            if self.lapsed_at is None and not self._closed:
                self._renew()
            lapsed_at = self.lapsed_at
        if lapsed_at is not None:
            raise SlotLost(self.job_name, lapsed_at)

    def _renew(self) -> bool:
        """One renewal, under `_lock`; records a lapse. True when the server renewed it."""
        asked = _now()
        try:
            with get_client(sync_client=True) as client:
                client.renew_concurrency_lease(self.lease_id, LEASE_SECONDS)
        except Exception as error:
            margin = dt.timedelta(seconds=CHECK_MARGIN_SECONDS)
            if _status(error) in (404, 410):  # the server no longer has the lease
                self.lapsed_at = min(asked, self.expires_at)
            elif asked >= self.expires_at - margin:  # unconfirmed, and ending or ended
                self.lapsed_at = self.expires_at
            if self.lapsed_at is not None:
                _logger().warning(
                    "The slot of job '%s' lapsed at %s (lease renewal: %s); this run will stop "
                    "before loading.",
                    self.job_name, _clock(self.lapsed_at), type(error).__name__,
                )  # fmt: skip
            else:
                _logger().warning(
                    "Could not renew the slot of job '%s' (%s); it is held until %s.",
                    self.job_name, type(error).__name__, _clock(self.expires_at),
                )  # fmt: skip
            return False
        self.expires_at = asked + dt.timedelta(seconds=LEASE_SECONDS)
        return True

    def _keep(self) -> None:
        delay = RENEW_SECONDS
        while not self._stop.wait(delay):
            with self._lock:
                if self._closed or self.lapsed_at is not None:
                    return
                renewed = self._renew()
                if renewed:
                    _write_record(self)
                elif self.lapsed_at is not None:
                    return
            delay = RENEW_SECONDS if renewed else RETRY_SECONDS

    def _start(self) -> None:
        context = contextvars.copy_context()  # the run's settings (API URL) and logger
        self._thread = threading.Thread(
            target=context.run, args=(self._keep,), daemon=True, name=f"etl-slot-{self.job_name}"
        )
        self._thread.start()

    def _release(self) -> None:
        self._stop.set()
        with self._lock:  # waits for a renewal under way; none after this
            self._closed = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            _delete_record(self)  # before the lease: the next holder's record is never deleted
            with get_client(sync_client=True) as client:
                client.release_concurrency_slots_with_lease(self.lease_id)
        except Exception as error:  # the lease expires on its own
            _logger().warning(
                "Could not release the slot of job '%s' (%s); it frees when its lease expires.",
                self.job_name, type(error).__name__,
            )  # fmt: skip


def _write_record(slot: Slot) -> None:
    """Best effort: the record only serves the message of a run that finds the slot busy."""
    value: dict[str, Any] = {
        "flow_run_id": slot.holder_id,
        "lease_id": str(slot.lease_id),
        "expires_at": slot.expires_at.isoformat(),
    }
    name = record_name(slot.job_name)
    try:
        with get_client(sync_client=True) as client:
            if client.read_variable_by_name(name) is None:
                client.create_variable(VariableCreate(name=name, value=value))
            else:
                client.update_variable(VariableUpdate(name=name, value=value))
    except Exception as error:
        logging.getLogger(__name__).debug("Slot record not written: %s", type(error).__name__)


def _delete_record(slot: Slot) -> None:
    name = record_name(slot.job_name)
    with get_client(sync_client=True) as client:
        current = client.read_variable_by_name(name)
        value = current.value if current is not None else None
        if isinstance(value, dict) and value.get("lease_id") == str(slot.lease_id):
            client.delete_variable_by_name(name)


def _acquire(job_name: str, holder: ConcurrencyLeaseHolder | None) -> Slot | None:
    """The slot, or None when it stayed busy for `WAIT_SECONDS`."""
    deadline = time.monotonic() + WAIT_SECONDS
    with get_client(sync_client=True) as client:
        while True:
            asked = _now()
            try:
                response = client.increment_concurrency_slots_with_lease(
                    names=[limit_name(job_name)],
                    slots=1,
                    mode="concurrency",
                    lease_duration=LEASE_SECONDS,
                    holder=holder,
                )
            except Exception as error:
                if _status(error) != 423:  # 423 Locked: the slot is busy
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                retry_after = float(error.response.headers.get("Retry-After", 1))  # type: ignore[attr-defined]
                time.sleep(min(max(retry_after, 0.2), remaining))
                continue
            body = response.json()
            if not body.get("limits"):
                raise RuntimeError(f"The concurrency limit '{limit_name(job_name)}' is missing.")
            return Slot(
                job_name,
                str(holder.id) if holder else None,
                uuid.UUID(body["lease_id"]),
                asked + dt.timedelta(seconds=LEASE_SECONDS),
            )


def _busy_message(job_name: str) -> str:
    """Who holds the slot and by when it frees, in one sentence; the plain one when unknown."""
    plain = f"Another run of job '{job_name}' is in progress; this run did nothing."
    try:
        from prefect.settings import get_current_settings

        repossessor = get_current_settings().server.services.repossessor.loop_seconds
        with get_client(sync_client=True) as client:
            variable = client.read_variable_by_name(record_name(job_name))
            record = variable.value if variable is not None else None
            if not isinstance(record, dict) or not record.get("expires_at"):
                return plain
            expires_at = dt.datetime.fromisoformat(record["expires_at"])
            frees_by = expires_at + dt.timedelta(seconds=repossessor)
            if frees_by < _now():  # an old holder's record: not the one holding the slot now
                return plain
            holder = record.get("flow_run_id")
            who = f"flow run {holder}" if holder else "holder unknown"
            if holder:
                with contextlib.suppress(Exception):
                    flow_run = client.read_flow_run(uuid.UUID(holder))
                    state = flow_run.state
                    status = f"{state.name} since {_clock(state.timestamp)}" if state else "?"
                    who = f"flow run '{flow_run.name}', {holder}, {status}"
    except Exception:  # the API cannot tell: say what is certain
        return plain
    return (
        f"Another run of job '{job_name}' is in progress ({who}); its slot frees by "
        f"{_clock(frees_by)} at the latest if that run was killed; this run did nothing."
    )


@contextlib.contextmanager
def exclusive_run(job_name: str, holder_id: str | None) -> Iterator[Slot]:
    """Hold the job's slot for the block (see the module docstring); `JobAlreadyRunning` when
    another run keeps it for `WAIT_SECONDS`."""
    ensure_limit(job_name)
    holder = ConcurrencyLeaseHolder(type="flow_run", id=uuid.UUID(holder_id)) if holder_id else None
    slot = _acquire(job_name, holder)
    if slot is None:
        raise JobAlreadyRunning(_busy_message(job_name))
    try:
        _write_record(slot)
        slot._start()
        yield slot
    finally:
        slot._release()
