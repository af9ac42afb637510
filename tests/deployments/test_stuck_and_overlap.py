"""A run made to hang past its job's limit fires the stuck-run alert, and two triggers of one job
at the same moment through the deployment (`prefect deployment run` twice) give one Completed run
and one Skipped: on the real Prefect server, process worker and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

from prefect.client.orchestration import get_client

from etl_bigquery.service.automations import default_folder
from tests.deployments.conftest import PREFECT, cli, wait_until

# Runs about 20 s (4 rows, 5 s each): past the job's limit (5 s, which Prefect's proactive
# triggers round up to their 10 s minimum), and long enough that the second trigger finds the
# first still holding the job's slot (`0 * g` makes PostgreSQL sleep once per row, not once).
# PostgreSQL only plans it when the job is applied.
SLOW_QUERY = "SELECT g AS id FROM generate_series(1, 4) g, LATERAL (SELECT pg_sleep(5 + 0 * g)) s"


def _deployment_run(name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PREFECT, "deployment", "run", f"etl-job/{name}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip


def test_a_hanging_run_alerts_and_a_second_trigger_is_skipped(
    project, worker, pg_connection, shop, dataset, receiver, repo_root
):
    url, received = receiver
    name = f"slow-{uuid.uuid4().hex[:6]}"
    job_file = project / f"{name}.yaml"
    job_file.write_text(
        f"name: {name}\nconnection: {pg_connection}\nsource:\n  query: {SLOW_QUERY}\n"
        f"destination:\n  block: {shop['destination']}\n  dataset: {dataset}\n  table: slow\n"
        "load_type: catalog\nmax_duration: 5s\n"
    )
    cli("job", "apply", str(job_file), cwd=project)
    applied = cli("automations", "apply", "--webhook", url, "--folder",
                  str(default_folder()), "--prefect-yaml",
                  str(project / "prefect.yaml"), cwd=project)  # fmt: skip
    assert f"etl-run-stuck-{name}" in applied

    # Two triggers at the same moment, through the deployment.
    triggers = [_deployment_run(name), _deployment_run(name)]
    outputs = [p.communicate(timeout=120)[0] for p in triggers]
    assert all(p.returncode == 0 for p in triggers), outputs
    run_ids = [uuid.UUID(re.search(r"UUID: ([0-9a-f-]{36})", o).group(1)) for o in outputs]

    def final_states():
        with get_client(sync_client=True) as client:
            states = [client.read_flow_run(r).state for r in run_ids]
        return states if all(s is not None and s.is_final() for s in states) else None

    # The stuck-run alert arrives while the first run is still sleeping past its limit.
    def stuck_alert():
        return [a for a in received if name in str(a) and "still running" in a.get("subject", "")]

    alerts = wait_until(stuck_alert, timeout=60)
    if not alerts:
        with get_client(sync_client=True) as client:
            seen = [(client.read_flow_run(r).state_name, client.read_flow_run(r).state.message)
                    for r in run_ids]  # fmt: skip
        raise AssertionError(f"no stuck-run alert within 60 s; received {received}; runs {seen}")
    assert alerts[0]["subject"] == f"ETL job {name}: a run is still running after 10s"
    assert "/runs/flow-run/" in alerts[0]["body"]
    alerted = {r for r in run_ids if str(r) in alerts[0]["body"]}

    states = wait_until(final_states, timeout=90)
    assert states, "the two runs did not finish within 90 s"
    names = sorted(s.name for s in states)
    assert names == ["Completed", "Skipped"], [(s.name, s.message) for s in states]
    completed = run_ids[[s.name for s in states].index("Completed")]
    # The alert named the run that hung, not the one that was skipped.
    assert alerted == {completed}
    skipped = run_ids[1 - run_ids.index(completed)]
    assert not [a for a in stuck_alert() if str(skipped) in a["body"]]
