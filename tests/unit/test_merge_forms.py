"""The new load types reach both forms: the Prefect UI's run form (rendered from the flow's
parameter schema, which pydantic builds from the job model) and the console wizard."""

from __future__ import annotations

from etl_bigquery.engine.jobs.model import Deletes, LoadType


def _definitions(schema: dict) -> dict:
    return schema.get("definitions") or schema.get("$defs") or {}


def test_the_prefect_run_form_offers_merge_history_and_the_delete_fields():
    from prefect.utilities.callables import parameter_schema

    from etl_bigquery.flows.etl_job import etl_job

    schema = parameter_schema(etl_job.fn).model_dump_for_openapi()
    job = _definitions(schema)["JobSpec"]
    load_type = _definitions(schema)[job["properties"]["load_type"]["$ref"].split("/")[-1]]
    assert {"merge", "history"} <= set(load_type["enum"])
    for field in ("deletes", "delete_check", "max_deleted", "partition_column", "key_columns"):
        assert field in job["properties"], field
    deletes = _definitions(schema)[job["properties"]["deletes"]["$ref"].split("/")[-1]]
    assert deletes["enum"] == ["none", "soft", "hard"]


def test_the_wizard_writes_a_merge_job_with_its_delete_check():
    from etl_bigquery.ui_extension.wizard import definition_from_form

    form = {
        "name": "orders-current", "connection": "shop", "schema": "public", "table": "orders",
        "destination": "bigquery", "dest_mode": "new", "dest_table_new": "orders",
        "load_type": "merge", "cursor_column": "updated_at", "lookback": "10m",
        "deletes": "soft", "delete_check": "hourly", "schedule_kind": "manual",
    }  # fmt: skip
    job = definition_from_form(form, []).job
    assert job.load_type is LoadType.MERGE and job.deletes is Deletes.SOFT
    assert job.delete_check.value == "hourly" and job.cursor_column == "updated_at"
    without = definition_from_form({**form, "deletes": "none"}, []).job
    assert without.deletes is Deletes.NONE


def test_the_run_summary_shows_the_merge_figures_and_the_bytes_it_processed():
    from etl_bigquery.engine.pipeline.report import RunReport
    from etl_bigquery.flows.artifacts import summary_markdown

    report = RunReport(job="orders", flow_run_id="r", load_type="merge")
    report.merge = {
        "rows inserted": 1, "rows updated": 3, "partitions touched": 4,
        "bytes processed": "not reported by the emulator",
        "deletes": {"period": "day-20260105", "rows marked deleted": 2},
    }  # fmt: skip
    text = summary_markdown(report)
    assert (
        "- **Merge**: 1 inserted, 3 updated, partitions touched: 4; bytes processed: "
        "not reported by the emulator"
    ) in text
    assert "- **Deletes**: period day-20260105, rows marked deleted 2" in text
