"""The fixed cost of a run (issue 21 item 3): a run imports only what its job uses. A SQL job's
flow needs the SQL connection and the destination blocks, and from prefect-gcp only its
credentials block; the other families and prefect-gcp's workers stay unimported, yet everything
stays importable on demand (blocks by `etl_bigquery.blocks.<Name>`, prefect-gcp in full)."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport sys, json\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('etl_bigquery.blocks', "
        "'prefect_gcp', 'sqlglot')))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_sql_jobs_run_imports_its_two_blocks_and_prefect_gcps_credentials_only():
    loaded = _modules_after(
        "import etl_bigquery.flows.etl_job\n"
        "from etl_bigquery.blocks import BigQueryDestination, SqlConnection\n"
        "import etl_bigquery.engine.sources.postgres, etl_bigquery.engine.sources.mysql"
    )
    assert "etl_bigquery.blocks.sql" in loaded and "etl_bigquery.blocks.bigquery" in loaded
    for unused in ("bigquery_source", "files", "nosql"):
        assert f"etl_bigquery.blocks.{unused}" not in loaded
    assert [m for m in loaded if m.startswith("prefect_gcp")] == [
        "prefect_gcp", "prefect_gcp._version", "prefect_gcp.credentials",
    ]  # fmt: skip
    assert "sqlglot" not in loaded  # the read-only check of `query:` sources, imported on use


def test_everything_left_out_is_still_importable_on_demand():
    loaded = _modules_after(
        "import etl_bigquery.blocks as blocks\n"
        "from etl_bigquery.blocks.gcp_credentials import GcpCredentials\n"
        "from prefect_gcp import GcsBucket, GcpCredentials as Theirs\n"
        "import prefect_gcp\n"
        "assert Theirs is GcpCredentials and prefect_gcp.__version__\n"
        "names = [n for n in dir(blocks) if n.endswith(('Destination', 'Source', 'Connection'))]\n"
        "assert names == ['BigQueryDestination', 'BigQuerySource', 'FileConnection', "
        "'NoSqlConnection', 'SqlConnection'], names\n"
        "assert all(getattr(blocks, n).__name__ == n for n in names)\n"
        "from etl_bigquery.blocks.registry import ALL_BLOCK_TYPES\n"
        "assert len(ALL_BLOCK_TYPES) == 5"
    )
    assert "prefect_gcp.workers.cloud_run_v2" in loaded  # prefect-gcp's __init__ ran
    assert "etl_bigquery.blocks.nosql" in loaded
