"""The console wizard's form → job file for each source kind (ui_extension.wizard): what the
browser tests post, checked here field by field through the job file's own parser."""

from __future__ import annotations

import pytest
from starlette.datastructures import ImmutableMultiDict

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import FilesSource, QuerySource
from etl_bigquery.ui_extension.wizard import definition_from_form, job_fields_from_form

BASE = {"name": "w", "connection": "c", "destination": "bq", "dest_mode": "new",
        "schedule_kind": "manual"}  # fmt: skip


def _form(pairs: list[tuple[str, str]]) -> ImmutableMultiDict:
    return ImmutableMultiDict([*BASE.items(), *pairs])


def test_a_files_form_writes_only_the_csv_options_that_differ_and_no_cursor():
    form = _form([
        ("source_kind", "files"), ("prefix", "exports/"), ("glob", "orders_*.csv"),
        ("format", "csv"), ("csv_present", "1"), ("csv_delimiter", ";"), ("csv_quote", '"'),
        ("csv_encoding", "utf-8"), ("csv_header", "on"), ("csv_skip_rows", "0"),
        ("dest_table_new", "orders"), ("load_type", "transactional"),
        ("cursor_column", "sold_on"), ("type:sold_on", "STRING"), ("type:note", ""),
    ])  # fmt: skip
    fields = job_fields_from_form(form, ["id", "sold_on"])
    assert fields["source"] == {"kind": "files", "prefix": "exports/", "glob": "orders_*.csv",
                                "format": "csv", "csv": {"delimiter": ";"}}  # fmt: skip
    assert fields["column_types"] == {"sold_on": "STRING"}
    assert "cursor_column" not in fields  # a transactional files job loads new or changed files
    job = definition_from_form(form, ["id", "sold_on"]).job
    assert isinstance(job.source, FilesSource) and job.source.csv.delimiter == ";"


def test_csv_options_a_tab_no_header_no_quote_and_skipped_rows():
    form = _form([
        ("source_kind", "files"), ("glob", "*.tsv"), ("format", "csv"), ("csv_present", "1"),
        ("csv_delimiter", "\\t"), ("csv_quote", ""), ("csv_encoding", "latin-1"),
        ("csv_skip_rows", "2"), ("dest_table_new", "t"),
    ])  # fmt: skip
    csv = job_fields_from_form(form, [])["source"]["csv"]
    assert csv == {"delimiter": "\t", "quote": None, "encoding": "latin-1", "header": False,
                   "skip_rows": 2}  # fmt: skip
    assert definition_from_form(form, []).job.source.csv.quote is None


def test_a_query_form_with_merge_keys_only_among_the_selected_columns():
    form = _form([
        ("source_kind", "query"), ("query", "SELECT id, total, updated_at FROM orders"),
        ("table", "ignored"), ("dest_table_new", "paid"), ("load_type", "merge"),
        ("cursor_column", "updated_at"), ("key_columns", "id"), ("key_columns", "gone"),
    ])  # fmt: skip
    fields = job_fields_from_form(form, ["id", "total", "updated_at"])
    assert fields["source"] == {"kind": "query",
                                "query": "SELECT id, total, updated_at FROM orders"}  # fmt: skip
    assert fields["key_columns"] == ["id"]
    job = definition_from_form(form, ["id", "total", "updated_at"]).job
    assert isinstance(job.source, QuerySource) and job.key_columns == ["id"]


def test_keys_are_written_for_merge_and_history_only():
    form = _form([("table", "orders"), ("load_type", "transactional"),
                  ("cursor_column", "updated_at"), ("key_columns", "id")])  # fmt: skip
    assert "key_columns" not in job_fields_from_form(form, [])


def test_a_wrong_override_or_an_empty_query_is_one_sentence():
    bad_type = _form([("table", "orders"), ("type:price", "MONEY")])
    with pytest.raises(ConfigurationError, match="is not a BigQuery type"):
        definition_from_form(bad_type, [])
    empty = _form([("source_kind", "query"), ("query", "  "), ("dest_table_new", "t")])
    with pytest.raises(ConfigurationError, match="query"):
        definition_from_form(empty, [])
