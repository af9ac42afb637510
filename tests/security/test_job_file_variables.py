"""`${VAR}` in job files expands only in the fields that name where things are, never in
`query:` or any other job field: those are copied into prefect.yaml and every flow run's
parameters, so a secret in the environment must not be written into them."""

from __future__ import annotations

import pytest

from etl_bigquery.engine.errors import ConfigurationError
from etl_bigquery.service.job_files import load_job_definition
from tests.integration.cli_helpers import etl

SECRET = "Sx-7d1e-Env-Secret"


def _job(tmp_path, body: str):
    file = tmp_path / "orders.yaml"
    file.write_text(
        "name: orders\nconnection: ${SEC_CONN}\n"
        "destination:\n  block: ${SEC_DEST}\n  dataset: raw_${SEC_ENV}\n" + body
    )
    return file


@pytest.fixture()
def environment(monkeypatch):
    monkeypatch.setenv("SEC_CONN", "shop-db")
    monkeypatch.setenv("SEC_DEST", "warehouse")
    monkeypatch.setenv("SEC_ENV", "prod")
    monkeypatch.setenv("SEC_PASSWORD", SECRET)


def test_variables_expand_in_the_fields_that_name_where_things_are(tmp_path, environment):
    job = load_job_definition(_job(tmp_path, "source:\n  table: orders\n")).job
    assert (job.connection, job.destination.block, job.destination.dataset) == (
        "shop-db", "warehouse", "raw_prod",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("source:\n  query: SELECT * FROM t WHERE pw = '${SEC_PASSWORD}'\n", "source.query"),
        ("source:\n  table: ${SEC_PASSWORD}\n", "source.table"),
        ("source:\n  table: orders\ndescription: ${SEC_PASSWORD}\n", "description"),
        ("source:\n  table: orders\njob_variables:\n  env:\n    PW: ${SEC_PASSWORD}\n",
         "job_variables.env.PW"),
        ("source:\n  table: orders\ncolumns: [id, '${SEC_PASSWORD}']\n", "columns"),
    ],
    ids=["query", "table", "description", "job_variables", "columns"],
)  # fmt: skip
def test_a_variable_anywhere_else_is_refused_and_its_value_never_read(
    tmp_path, environment, body, field
):
    with pytest.raises(ConfigurationError) as refused:
        load_job_definition(_job(tmp_path, body))
    message = refused.value.message
    assert message.startswith(f"{tmp_path / 'orders.yaml'}: {field} holds ${{SEC_PASSWORD}}, ")
    assert message.endswith("; write the value itself.") and message.count(". ") == 0
    assert SECRET not in message


def test_etl_run_refuses_a_variable_in_the_query_before_anything_runs(tmp_path):
    file = _job(tmp_path, "source:\n  query: SELECT '${SEC_PASSWORD}' AS pw\n")
    result = etl("run", str(file), "--json", env={
        "SEC_CONN": "shop-db", "SEC_DEST": "warehouse", "SEC_ENV": "prod",
        "SEC_PASSWORD": SECRET,
    })  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "source.query holds ${SEC_PASSWORD}" in result.stderr + result.stdout
    assert SECRET not in result.stdout + result.stderr
