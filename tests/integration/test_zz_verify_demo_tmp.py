from pathlib import Path

from tests.integration.cli_helpers import etl_here
from tests.integration.test_verify_postgres import _orders
from tests.integration.verify_helpers import apply_and_run, job_file, tamper


def test_demo(tmp_path, pg_admin, pg_schema, pg_connection, destination, dataset, bq):
    _orders(pg_admin, pg_schema, 100_000)
    path = job_file(
        tmp_path, "orders", connection=pg_connection, load_type="transactional",
        cursor_column="updated_at", backfill_start="all",
        source={"schema": pg_schema, "table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
    )
    apply_and_run(path)
    out = []
    for mode in ("counts", "full"):
        code, o, e = etl_here("verify", str(path), "--mode", mode)
        out.append(f"$ etl verify orders.yaml --mode {mode}\n{o}(exit {code})\n")
    tamper(bq, f"local.{dataset}.orders", "id", deleted=[7, 30001], duplicated=[42])
    pg_admin.execute(f'UPDATE "{pg_schema}".orders SET amount = 999 WHERE id IN (5, 250)')
    code, o, e = etl_here("verify", str(path))
    out.append(f"$ etl verify orders.yaml\n{o}(exit {code})\n")
    code, o, e = etl_here("verify", str(path), "--json")
    out.append(f"$ etl verify orders.yaml --json\n{o}(exit {code})\n")
    Path("/tmp/vdemo/out.txt").write_text("\n".join(out))
