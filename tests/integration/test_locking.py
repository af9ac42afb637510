"""One run per job at a time (flows.locking), against the real Prefect server of the tests.

A run whose slot lapsed is refused before loading; a run that finds the slot busy says which run
holds it and by when it frees.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import select
import signal
import subprocess
import sys
import time
import uuid

import pytest

from etl_bigquery.flows import locking
from etl_bigquery.flows.locking import (
    JobAlreadyRunning,
    SlotLost,
    exclusive_run,
    limit_name,
    record_name,
)

# A run in another process that takes the job's slot, says so, and works until it is killed.
HOLDER = """
import sys, time
from prefect import flow, runtime
from etl_bigquery.flows.locking import exclusive_run

@flow(name="slot-holder")
def hold(job: str) -> None:
    with exclusive_run(job, str(runtime.flow_run.id)) as slot:
        print("held", runtime.flow_run.id, slot.lease_id, flush=True)
        time.sleep(600)

hold(sys.argv[1])
"""


@pytest.fixture()
def job(services):
    from prefect.client.orchestration import get_client

    name = f"lock-{uuid.uuid4().hex[:8]}"
    yield name
    with get_client(sync_client=True) as client:
        with contextlib.suppress(Exception):
            client.delete_global_concurrency_limit_by_name(limit_name(name))
        with contextlib.suppress(Exception):
            client.delete_variable_by_name(record_name(name))


def _revoke(lease_id: uuid.UUID) -> None:
    """What the server's repossessor does to an expired lease (or an operator to a stuck one)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.release_concurrency_slots_with_lease(lease_id)


def _record(job: str) -> dict | None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        variable = client.read_variable_by_name(record_name(job))
    return variable.value if variable is not None else None


def test_a_run_whose_lease_was_revoked_is_refused_before_loading(job):
    with exclusive_run(job, None) as slot:
        assert _record(job)["lease_id"] == str(slot.lease_id)
        slot.check()  # held: nothing raised
        _revoke(slot.lease_id)
        with pytest.raises(SlotLost) as lost:
            slot.check()
    message = str(lost.value)
    assert message.startswith(f"The run of job '{job}' stopped before loading because its slot ")
    assert f"lapsed at {lost.value.lapsed_at:%H:%M:%S} UTC; the next run loads." in message
    assert _record(job) is None  # released: the record is gone with it
    with exclusive_run(job, None) as again:  # and the slot is free for the next run
        again.check()


def test_the_renewal_thread_notices_a_lapse_by_itself(job, monkeypatch):
    monkeypatch.setattr(locking, "RENEW_SECONDS", 0.2)
    with exclusive_run(job, None) as slot:
        _revoke(slot.lease_id)
        deadline = time.monotonic() + 60
        while slot.lapsed_at is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert slot.lapsed_at is not None
        with pytest.raises(SlotLost):
            slot.check()


def test_a_slot_the_server_cannot_confirm_is_lost_once_its_lease_ends(job, monkeypatch):
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from tests.conftest import free_port

    unreachable = f"http://127.0.0.1:{free_port()}/api"
    with exclusive_run(job, None) as slot:
        with temporary_settings({PREFECT_API_URL: unreachable, PREFECT_CLIENT_MAX_RETRIES: 0}):
            slot.check()  # not renewed, but the lease confirmed a moment ago still runs
            ends = slot.expires_at
            monkeypatch.setattr(locking, "_now", lambda: ends + dt.timedelta(seconds=1))
            with pytest.raises(SlotLost) as lost:
                slot.check()
        monkeypatch.undo()
    assert lost.value.lapsed_at == ends


def _wait_for_line(process: subprocess.Popen, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            return process.stdout.readline()
    return ""


def test_a_killed_holder_is_named_with_the_time_its_slot_frees(job, repo_root, tmp_path):
    from prefect.client.orchestration import get_client

    log = tmp_path / "holder.log"
    with log.open("w") as stderr:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, job],
            cwd=repo_root, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        line = _wait_for_line(holder, 180)
    finally:
        holder.send_signal(signal.SIGKILL)  # as a killed container: no cleanup, slot kept
        holder.wait(timeout=30)
    assert line.startswith("held "), log.read_text()[-3000:]
    _, flow_run_id, lease_id = line.split()
    record = _record(job)
    assert record["flow_run_id"] == flow_run_id and record["lease_id"] == lease_id

    with pytest.raises(JobAlreadyRunning) as busy, exclusive_run(job, None):
        pytest.fail("the slot of a killed run was taken before its lease expired")

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(uuid.UUID(flow_run_id))
    frees_by = dt.datetime.fromisoformat(record["expires_at"]) + dt.timedelta(seconds=15)
    message = str(busy.value)
    assert message.startswith(
        f"Another run of job '{job}' is in progress (flow run '{flow_run.name}', {flow_run_id}, "
        "Running since "
    ), message
    assert message.endswith(
        f"its slot frees by {frees_by:%H:%M:%S} UTC at the latest if that run was killed; "
        "this run did nothing."
    ), message
