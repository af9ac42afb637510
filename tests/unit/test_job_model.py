import datetime as dt

import pytest

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.engine.jobs.model import Backfill, JobSpec, LoadType, QuerySource, TableSource
from etl_bigquery.service.job_files import load_job_file, parse_job

BASE = {"name": "orders", "connection": "shop", "source": {"table": "orders"}}


def test_a_minimal_job_gets_the_documented_defaults():
    job = JobSpec.model_validate(BASE)
    assert job.load_type is LoadType.CATALOG
    assert job.destination.dataset is None  # the destination block's default (raw_data)
    assert job.destination_table == "bq_orders"
    assert job.processing_mode.value == "auto" and job.row_threshold == 1_000_000
    assert isinstance(job.source, TableSource)


def test_a_source_with_a_query_is_a_query_source_without_saying_kind():
    job = JobSpec.model_validate(
        {**BASE, "source": {"query": "select 1 as x"}, "destination": {"table": "x"}}
    )
    assert isinstance(job.source, QuerySource)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Orders!"}, "job name"),
        ({"load_type": "transactional"}, "cursor_column"),
        ({"backfill_start": "30d"}, "transactional, merge and history jobs only"),
        ({"source": {"query": "select 1"}}, "destination.table"),
        ({"source": {"query": " ; "}, "destination": {"table": "t"}}, "query is empty"),
        ({"column_types": {"a": "VARCHAR"}}, "not a BigQuery type"),
        ({"columns": ["a", "a"]}, "twice"),
        ({"unknown": 1}, "not a known field"),
        ({"destination": {"dataset": "raw data"}}, "dataset name"),
    ],
)
def test_bad_jobs_are_refused_with_one_sentence_naming_the_field(change, message):
    with pytest.raises(ConfigurationError) as error:
        parse_job({**BASE, **change}, "job.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("job.yaml: ")


def test_the_model_keeps_a_query_as_written_and_leaves_the_sql_check_to_the_reader():
    # Which text is one valid statement depends on the dialect (engine.sources.query_check): the
    # model must not refuse valid PostgreSQL such as dollar quoting or a leading comment.
    query = "-- report\nselect $$a;b$$ as s, ';' as t -- a;b"
    job = JobSpec.model_validate(
        {**BASE, "source": {"query": f"  {query}\n"}, "destination": {"table": "t"}}
    )
    assert job.source.query == query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", Backfill(all_history=True)),
        ("30d", Backfill(days=30)),
        ("90 days", Backfill(days=90)),
        ("2026-01-15", Backfill(since=dt.date(2026, 1, 15))),
    ],
)
def test_backfill_options(text, expected):
    assert Backfill.parse(text) == expected


def test_backfill_start_is_midnight_n_days_back():
    now = dt.datetime(2026, 11, 22, 15, 30, tzinfo=dt.UTC)
    assert Backfill(days=30).start(now) == dt.datetime(2026, 10, 23, tzinfo=dt.UTC)
    assert Backfill(all_history=True).start(now) is None


def test_job_files_take_secrets_and_paths_from_the_environment(tmp_path, monkeypatch):
    file = tmp_path / "job.yaml"
    file.write_text("name: orders\nconnection: ${CONN}\nsource:\n  table: orders\n")
    monkeypatch.setenv("CONN", "shop-db")
    assert load_job_file(file).connection == "shop-db"
    monkeypatch.delenv("CONN")
    with pytest.raises(ConfigurationError, match="environment variable CONN is not set"):
        load_job_file(file)


def test_a_file_that_is_not_yaml_says_where(tmp_path):
    file = tmp_path / "job.yaml"
    file.write_text("name: [unclosed\n")
    with pytest.raises(ConfigurationError, match="not valid YAML at line"):
        load_job_file(file)
