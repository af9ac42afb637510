"""`load_type: merge` and `history` on PostgreSQL through `etl job apply` and `etl run`: after
every run the BigQuery table equals the source table (EXCEPT DISTINCT both ways on the loaded
columns, counts, unique keys)."""

from __future__ import annotations

import json

from tests.integration.cli_helpers import etl
from tests.integration.merge_helpers import *  # noqa: F403 (the orders fixture)
from tests.integration.merge_helpers import (
    COLUMNS,
    apply_job,
    assert_table_equals,
    etl_here,
    run_job,
    write_job,
)


def _job(tmp_path, pg_connection, destination, dataset, pg_schema, **fields):
    return write_job(
        tmp_path, connection=pg_connection,
        source={"schema": pg_schema, "table": "orders"},
        destination={"block": destination, "dataset": dataset, "table": "orders"},
        cursor_column="updated_at", **fields,
    )  # fmt: skip


def test_merge_keeps_the_table_equal_to_the_source_through_updates_deletes_and_late_commits(
    orders, tmp_path, pg_connection, destination, dataset, pg_schema, bq
):
    sql, source = orders
    path = _job(
        tmp_path, pg_connection, destination, dataset, pg_schema,
        load_type="merge", deletes="soft", delete_check="every_run",
    )  # fmt: skip
    apply_job(path)
    table = f"local.{dataset}.orders"
    live = "_etl_deleted_at IS NULL"

    first = run_job(path)
    assert first["rows_loaded"] == 20 and first["merge"]["rows inserted"] == 20, first
    assert first["merge"]["bytes processed"] == "not reported by the emulator"
    assert_table_equals(bq, table, source(), COLUMNS, where=live)

    sql("UPDATE {t} SET note = 'moved', updated_at = updated_at + interval '7 days' WHERE id = 5")
    # An update that keeps its cursor (at the watermark, inside the lookback): only the content
    # says it is a new version.
    sql("UPDATE {t} SET note = 'same cursor', amount = 0 WHERE id = 11")
    # Two updates of one key between runs: the later one is what the source holds.
    sql("UPDATE {t} SET note = 'first', updated_at = updated_at + interval '8 days' WHERE id = 7")
    sql("UPDATE {t} SET note = 'second', updated_at = updated_at + interval '1s' WHERE id = 7")
    sql("DELETE FROM {t} WHERE id IN (8, 9)")
    sql("INSERT INTO {t} VALUES (21, 'new', 1, true, timestamptz '2026-01-09 10:00:00+00')")
    second = run_job(path)
    assert second["merge"]["rows inserted"] == 1 and second["merge"]["rows updated"] == 3, second
    assert second["merge"]["deletes"]["rows marked deleted"] == 2, second
    assert_table_equals(bq, table, source(), COLUMNS, where=live)
    held = {r["id"]: r["d"] for r in bq.query_and_wait(
        f"SELECT id, _etl_deleted_at IS NOT NULL AS d FROM `{table}` WHERE id IN (8, 9)"
    )}  # fmt: skip
    assert held == {8: True, 9: True}  # soft: kept and marked

    # Key 8 comes back (undeleted), and two rows commit late, stamped 5 and 4 minutes before the
    # watermark: inside the default lookback of 10 minutes.
    watermark = "(SELECT max(updated_at) FROM {t})"
    sql("INSERT INTO {t} VALUES (8, 'back', 2, false, " + watermark + " - interval '5 minutes')")
    sql("INSERT INTO {t} VALUES (22, 'late', 3, true, " + watermark + " - interval '4 minutes')")
    third = run_job(path)
    assert third["merge"]["rows inserted"] == 1 and third["merge"]["rows updated"] == 1, third
    assert_table_equals(bq, table, source(), COLUMNS, where=live)

    again = run_job(path)  # nothing changed: nothing staged, nothing merged, nothing deleted
    assert again["rows_loaded"] == 0 and again["rows_extracted"] == 0, again
    assert again["merge"]["deletes"]["rows marked deleted"] == 0, again
    assert_table_equals(bq, table, source(), COLUMNS, where=live)


def test_hard_deletes_remove_rows_and_a_returning_key_is_inserted_again(
    orders, tmp_path, pg_connection, destination, dataset, pg_schema, bq
):
    sql, source = orders
    path = _job(
        tmp_path, pg_connection, destination, dataset, pg_schema,
        load_type="merge", deletes="hard", delete_check="every_run",
    )  # fmt: skip
    apply_job(path)
    table = f"local.{dataset}.orders"
    run_job(path)
    sql("DELETE FROM {t} WHERE id IN (1, 2, 3)")
    report = run_job(path)
    assert report["merge"]["deletes"]["rows deleted"] == 3, report
    assert_table_equals(bq, table, source(), COLUMNS)
    sql("INSERT INTO {t} VALUES (2, 'again', 9, true, timestamptz '2026-02-01 00:00:00+00')")
    run_job(path)
    assert_table_equals(bq, table, source(), COLUMNS)


def test_a_key_comparison_that_would_empty_the_table_deletes_nothing(
    orders, tmp_path, pg_connection, destination, dataset, pg_schema, bq
):
    sql, source = orders
    path = _job(
        tmp_path, pg_connection, destination, dataset, pg_schema,
        load_type="merge", deletes="hard", delete_check="every_run", max_deleted="25%",
    )  # fmt: skip
    apply_job(path)
    table = f"local.{dataset}.orders"
    run_job(path)
    before = source()
    sql("DELETE FROM {t} WHERE id > 4")
    code, out, _ = etl_here("run", str(path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["error_type"] == "load", report
    assert "would delete at least 80% of" in report["error"], report
    assert "more than max_deleted (25%" in report["error"]
    assert "nothing was deleted" in report["error"]
    assert_table_equals(bq, table, before, COLUMNS)


def test_history_keeps_every_version_with_validity_intervals(
    orders, tmp_path, pg_connection, destination, dataset, pg_schema, bq
):
    sql, source = orders
    path = _job(
        tmp_path, pg_connection, destination, dataset, pg_schema,
        load_type="history", deletes="soft", delete_check="every_run",
    )  # fmt: skip
    apply_job(path)
    table = f"local.{dataset}.orders"
    current = "_etl_is_current"
    run_job(path)
    assert_table_equals(bq, table, source(), COLUMNS, where=current)
    sql("UPDATE {t} SET note = 'v2', updated_at = timestamptz '2026-01-20 00:00+00' WHERE id = 1")
    sql("UPDATE {t} SET note = 'same cursor' WHERE id = 7")  # at the watermark
    sql("DELETE FROM {t} WHERE id = 3")
    second = run_job(path)
    assert second["merge"]["rows inserted"] == 2 and second["merge"]["rows updated"] == 2, second
    assert_table_equals(bq, table, source(), COLUMNS, where=current)
    sql("INSERT INTO {t} VALUES (3, 'back', 1, true, timestamptz '2026-01-21 00:00:00+00')")
    run_job(path)
    assert_table_equals(bq, table, source(), COLUMNS, where=current)
    versions = [
        dict(r) for r in bq.query_and_wait(
            f"SELECT id, note, _etl_valid_from AS f, _etl_valid_to AS t, _etl_is_current AS c, "
            f"_etl_deleted_at IS NOT NULL AS d FROM `{table}` WHERE id IN (1, 3, 7) "
            "ORDER BY id, _etl_valid_from, _etl_loaded_at"
        )
    ]  # fmt: skip
    by_id = {i: [v for v in versions if v["id"] == i] for i in (1, 3, 7)}
    one = by_id[1]
    assert [v["note"] for v in one] == ["n1", "v2"]
    assert one[0]["t"] == one[1]["f"] and one[1]["t"] is None and one[1]["c"]  # closed by the next
    two = by_id[7]
    assert [v["note"] for v in two] == ["n7", "same cursor"]
    assert two[0]["f"] == two[0]["t"] == two[1]["f"]  # same cursor: a zero-length interval
    three = by_id[3]
    assert [(v["note"], v["c"], v["d"]) for v in three] == [
        ("n3", False, True),
        ("back", True, False),
    ]
    assert three[0]["t"] <= three[1]["f"]  # the returning key opens after its deletion: no overlap
    # No key has two current versions, and intervals of one key never overlap.
    overlaps = list(bq.query_and_wait(
        f"SELECT a.id FROM `{table}` a JOIN `{table}` b ON a.id = b.id "
        "AND a._etl_valid_from < b._etl_valid_from "
        "AND (a._etl_valid_to IS NULL OR a._etl_valid_to > b._etl_valid_from)"
    ))  # fmt: skip
    assert overlaps == []


def test_the_merge_touches_only_the_partitions_of_old_and_new_versions(
    orders, tmp_path, pg_connection, destination, dataset, pg_schema, bq
):
    """The MERGE's statement, read back from its BigQuery job, carries the literal partition
    filter O + N: the days where the staged keys' rows were (O) and where their new versions
    go (N), and no other day of the table. A filter from the increment's cursor range alone
    (2026-01-09 on) would miss key 2's old row on 2026-01-03 and insert it a second time."""
    sql, source = orders
    path = _job(tmp_path, pg_connection, destination, dataset, pg_schema, load_type="merge")
    apply_job(path)
    run_job(path)  # rows on 2026-01-01 .. 2026-01-04
    sql("UPDATE {t} SET note = 'moved', updated_at = timestamptz '2026-01-09 08:00Z' WHERE id = 2")
    sql("INSERT INTO {t} VALUES (30, 'new', 1, true, timestamptz '2026-01-11 09:00+00')")
    report = run_job(path)
    assert report["merge"]["partitions touched"] == 3, report
    statement = bq.get_job(report["load_job_id"]).query
    days = ("2026-01-03", "2026-01-09", "2026-01-11")
    on = statement.split("WHEN MATCHED")[0]
    for day in days:
        assert f"T.`updated_at` >= TIMESTAMP '{day} 00:00:00+00'" in on, on
    for other in ("2026-01-01", "2026-01-02", "2026-01-04"):
        assert f"'{other} 00:00:00+00' AND" not in on, on
    assert "AND T.`id` BETWEEN 2 AND 30" in on  # clustered on the key: a constant key range
    assert_table_equals(bq, f"local.{dataset}.orders", source(), COLUMNS)


def test_job_apply_refuses_a_merge_job_without_a_key_in_one_sentence(
    pg_admin, pg_schema, tmp_path, pg_connection, destination, dataset, bq
):
    pg_admin.execute(f'CREATE TABLE "{pg_schema}".events (at timestamptz, kind text)')
    path = write_job(
        tmp_path, connection=pg_connection, source={"schema": pg_schema, "table": "events"},
        destination={"block": destination, "dataset": dataset}, load_type="merge",
        cursor_column="at",
    )  # fmt: skip
    refused = etl("job", "apply", str(path), "--no-deploy")
    assert refused.returncode != 0
    message = refused.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert (
        f"A merge job needs columns that identify a row: {pg_schema}.events has no primary key; "
        "set key_columns (e.g. key_columns: [kind])."
    ) in message
    assert not list(bq.list_tables(dataset)) if _dataset_exists(bq, dataset) else True


def _dataset_exists(bq, dataset: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        bq.get_dataset(f"local.{dataset}")
    except NotFound:
        return False
    return True


def test_the_dataflow_path_stages_units_and_applies_one_merge(
    orders, tmp_path, pg_connection, destination, dataset, pg_schema, bq
):
    """Beam's DirectRunner with two worker processes: each unit filters its rows with the same
    keyed filter and stages them; the load step merges all units' files in ONE MERGE."""
    sql, source = orders
    path = _job(
        tmp_path, pg_connection, destination, dataset, pg_schema, load_type="merge",
        deletes="hard", delete_check="every_run", processing_mode="dataflow",
        dataflow={"direct_workers": 2, "rows_per_unit": 1000},
    )  # fmt: skip
    apply_job(path)
    table = f"local.{dataset}.orders"
    first = run_job(path)
    assert first["processing_mode"] == "dataflow", first
    assert_table_equals(bq, table, source(), COLUMNS)
    sql("UPDATE {t} SET note = 'moved', updated_at = updated_at + interval '9 days' WHERE id = 5")
    sql("UPDATE {t} SET note = 'same cursor' WHERE id = 11")  # at the watermark
    sql("DELETE FROM {t} WHERE id = 8")
    sql("INSERT INTO {t} VALUES (21, 'new', 1, true, timestamptz '2026-01-09 10:00:00+00')")
    second = run_job(path)
    assert second["processing_mode"] == "dataflow", second
    merged = second["merge"]
    assert (merged["rows inserted"], merged["rows updated"]) == (1, 2), second
    assert merged["deletes"]["rows deleted"] == 1, second
    assert second["rows_already_loaded"] >= 4, second  # re-read in the lookback, held
    assert_table_equals(bq, table, source(), COLUMNS)
