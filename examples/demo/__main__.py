"""`make demo`: the main job path on local services, with the commands a user would type.

1. start the local services (BigQuery and GCS emulators, Prefect server) and register the blocks;
2. create a small SQLite shop (products, orders with an updated_at cursor);
3. apply the connections and the two jobs, run `demo-products` (catalog) and `demo-orders`
   (transactional);
4. add orders, some sharing the last updated_at, run `demo-orders` again and show that exactly the
   new rows arrived;
5. deploy: `etl job apply` has written both jobs (with their schedules) into prefect.yaml and
   registered them; a process worker starts, and `demo-products` runs through
   `prefect deployment run`, so the UI shows deployed, scheduled jobs and a worker run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from etl_bigquery.devservices import Services, ServicesError
from etl_bigquery.devservices.clients import bigquery_client, ensure_bucket
from etl_bigquery.devservices.layout import project_root

ROOT = project_root()
DEMO = ROOT / "examples" / "demo"
BIN = Path(sys.executable).parent
STAGING_BUCKET = "etl-staging"


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def etl(*args: str, capture: bool = False) -> str:
    print(f"$ etl {' '.join(args)}", flush=True)
    result = subprocess.run(
        [str(BIN / "etl"), *args], cwd=ROOT, text=True, capture_output=capture, check=False
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stderr)
            print(result.stdout)
        raise SystemExit(f"`etl {' '.join(args)}` failed (exit {result.returncode}).")
    return result.stdout if capture else ""


def run_job(job_file: Path) -> dict[str, object]:
    report = json.loads(etl("run", str(job_file.relative_to(ROOT)), "--json", capture=True))
    print(
        f"    {report['job']}: {report['state_name']} — {report['rows_extracted']} rows extracted, "
        f"{report['rows_loaded']} loaded into {report['destination']}"
    )
    if report.get("load_type") == "transactional":
        print(f"    watermark {report['watermark_before']} -> {report['watermark_after']}")
    return report


def deployment_run(name: str) -> str:
    """`prefect deployment run`, then wait for the worker to finish the run."""
    import re

    from etl_bigquery.service.jobs import wait_for_run

    print(f"$ prefect deployment run '{name}'", flush=True)
    started = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", name], cwd=ROOT, text=True,
        capture_output=True, check=False,
    )  # fmt: skip
    found = re.search(r"flow-run/([0-9a-f-]{36})", started.stdout)
    if started.returncode != 0 or not found:
        sys.stderr.write(started.stdout + started.stderr)
        raise SystemExit(f"`prefect deployment run '{name}'` failed.")
    report = wait_for_run(uuid.UUID(found.group(1)), timeout=300)
    summary = (
        f"{report['state_name']}, {report['rows_loaded']} rows loaded (flow run {found.group(1)})"
    )
    print(f"    {summary}")
    if report["status"] != "completed":
        raise SystemExit(f"The deployment run of {name} did not complete: {report.get('error')}")
    return summary


def create_shop(path: Path) -> tuple[int, str]:
    """A fresh shop database; returns (orders, last updated_at)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    rng = random.Random(7)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE products (
                id INTEGER PRIMARY KEY, name TEXT NOT NULL, "Unit Price (€)" NUMERIC(10,2),
                in_stock BOOLEAN, added_on DATE);
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY, customer TEXT, product_id INTEGER, quantity INTEGER,
                amount NUMERIC(12,2), status TEXT, note TEXT, updated_at TIMESTAMP NOT NULL);
            """
        )
        db.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?)",
            [(i, f"product {i}", round(rng.uniform(1, 200), 2), i % 4 != 0,
              f"2026-0{1 + i % 9}-1{i % 10}") for i in range(1, 21)],
        )  # fmt: skip
        start = dt.datetime(2026, 11, 1, 8, 0, 0)
        orders = []
        for i in range(1, 501):
            # Several orders share each timestamp, as when a batch job stamps them together.
            when = start + dt.timedelta(minutes=(i // 4) * 17)
            orders.append(
                (i, f"customer {rng.randint(1, 60)}", rng.randint(1, 20), rng.randint(1, 5),
                 round(rng.uniform(5, 500), 2), rng.choice(["new", "paid", "shipped"]), None,
                 when.strftime("%Y-%m-%d %H:%M:%S"))
            )  # fmt: skip
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", orders)
    return len(orders), orders[-1][-1]


def add_orders(path: Path, last_updated_at: str) -> int:
    """New orders: three stamped with the current last updated_at, five later ones."""
    later = dt.datetime.strptime(last_updated_at, "%Y-%m-%d %H:%M:%S") + dt.timedelta(hours=1)
    with sqlite3.connect(path) as db:
        first = db.execute("SELECT max(id) FROM orders").fetchone()[0] + 1
        rows = [(first + i, "late customer", 3, 1, 10.0 + i, "new",
                 "same timestamp as the last load", last_updated_at) for i in range(3)]  # fmt: skip
        rows += [(first + 3 + i, "new customer", 5, 2, 20.0 + i, "new", None,
                  (later + dt.timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"))
                 for i in range(5)]  # fmt: skip
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def reset_demo_tables() -> None:
    """The demo starts from a new shop each time, so its BigQuery tables start empty too."""
    client = bigquery_client(Services().layout)
    for table in ("bq_products", "bq_orders", "bq_products__rejected", "bq_orders__rejected"):
        client.delete_table(f"local.raw_data.{table}", not_found_ok=True)


def bigquery_counts(table: str) -> tuple[int, int]:
    """(rows, distinct ids) of a demo table in the emulator."""
    client = bigquery_client(Services().layout)
    row = next(
        iter(
            client.query_and_wait(
                f"SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM raw_data.{table}"
            )
        )
    )
    return int(row["n"]), int(row["d"])


def main() -> None:
    say("Starting the local services (etl services up)")
    services = Services()
    try:
        services.up(echo=lambda line: print(f"    {line}"))
    except ServicesError as error:
        raise SystemExit(f"Error: {error}") from None
    os.environ.update(services.environment())
    ensure_bucket(services.layout, STAGING_BUCKET)

    say("Registering the block types with Prefect")
    print("$ prefect block register -m etl_bigquery.blocks")
    register = [str(BIN / "prefect"), "block", "register", "-m", "etl_bigquery.blocks"]
    subprocess.run(register, check=True,
                   cwd=ROOT, capture_output=True)  # fmt: skip

    say("Creating the sample SQLite shop")
    shop = services.layout.state_dir / "demo" / "shop.db"
    order_count, last_updated_at = create_shop(shop)
    print(f"    {shop}: 20 products, {order_count} orders (last updated_at {last_updated_at})")
    os.environ["DEMO_SHOP_DB"] = str(shop)

    say("Applying the connections and the jobs (each job becomes a deployment in prefect.yaml)")
    reset_demo_tables()
    etl("connection", "apply", "examples/demo/connections.yaml")
    etl("connection", "test", "demo-shop")
    etl("pool", "ensure")
    etl("job", "apply", "examples/demo/products.yaml")
    etl("job", "apply", "examples/demo/orders.yaml")

    say("Running demo-products (catalog) and demo-orders (transactional)")
    products = run_job(DEMO / "products.yaml")
    first = run_job(DEMO / "orders.yaml")

    say("Adding orders: 3 share the last updated_at, 5 are newer")
    added = add_orders(shop, last_updated_at)
    print(f"    {added} orders added")
    second = run_job(DEMO / "orders.yaml")

    say("Running demo-products through its deployment, on a process worker")
    services.start_worker("etl-local", ROOT, echo=lambda line: print(f"    {line}"))
    deployed = deployment_run("etl-job/demo-products")
    print("$ prefect deploy --name connection-health/connection-health   (hourly connection tests)")
    subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", "deploy", "--name",
         "connection-health/connection-health"], cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    etl("job", "list")
    print("$ etl console --port 4300   (the web console, detached; make services-down stops it)")
    console = services.start_console(ROOT, echo=lambda line: print(f"    {line}"))

    rows, distinct = bigquery_counts("bq_orders")
    with sqlite3.connect(shop) as db:
        source_rows = db.execute("SELECT count(*) FROM orders").fetchone()[0]
    ui = services.layout.prefect_api_url.removesuffix("/api")
    say("Summary")
    print(
        f"    demo-products: {products['rows_loaded']} rows -> {products['destination']} (catalog)"
    )
    print(f"    demo-orders run 1: {first['rows_loaded']} rows -> {first['destination']}")
    print(f"    demo-orders run 2: {second['rows_loaded']} new rows (expected {added})")
    print(
        f"    bq_orders now holds {rows} rows, {distinct} distinct ids; "
        f"the source has {source_rows}"
    )
    print(f"    demo-products through the worker: {deployed}")
    print(f"    Prefect UI: {ui}  (deployments with schedules, flow runs, artifacts, blocks)")
    print(f"    Web console: {console}  (run KPIs, stage bars, scheduled jobs, the job wizard)")
    print('    Prefect CLI: eval "$(.venv/bin/etl services env)"  |  stop: make services-down')
    print("    The worker keeps running: the jobs' schedules (hourly, daily) start runs on it.")
    if second["rows_loaded"] != added or rows != source_rows or distinct != source_rows:
        raise SystemExit("The demo's second orders run did not load exactly the new rows.")


if __name__ == "__main__":
    main()
