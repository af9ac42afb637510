import pytest

from etl_bigquery.engine.schema.bqtypes import BqType
from etl_bigquery.engine.schema.typemap import MYSQL, POSTGRES, Confidence, propose

S = BqType


def test_every_postgresql_and_mysql_type_maps_to_one_of_the_13_bigquery_types():
    assert len(POSTGRES) + len(MYSQL) >= 69
    for proposal in [*POSTGRES.values(), *MYSQL.values()]:
        assert proposal.bq_type in set(BqType)


@pytest.mark.parametrize(
    ("dialect", "source", "expected", "confidence"),
    [
        ("postgresql", "integer", S.INT64, Confidence.HIGH),
        ("postgresql", "timestamp without time zone", S.TIMESTAMP, Confidence.HIGH),
        ("postgresql", "timestamp(3) with time zone", S.TIMESTAMP, Confidence.HIGH),
        ("postgresql", "character varying(50)", S.STRING, Confidence.HIGH),
        ("postgresql", "numeric(12,2)", S.NUMERIC, Confidence.HIGH),
        ("postgresql", "numeric(40,10)", S.BIGNUMERIC, Confidence.HIGH),
        ("postgresql", "numeric", S.BIGNUMERIC, Confidence.MEDIUM),
        ("postgresql", "numeric(100,50)", S.STRING, Confidence.LOW),
        ("postgresql", "jsonb", S.JSON, Confidence.HIGH),
        ("postgresql", "integer[]", S.JSON, Confidence.MEDIUM),
        ("postgresql", "interval", S.STRING, Confidence.MEDIUM),
        ("postgresql", "bytea", S.BYTES, Confidence.HIGH),
        ("postgresql", "time without time zone", S.TIME, Confidence.HIGH),
        ("postgresql", "geography(Point,4326)", S.GEOGRAPHY, Confidence.HIGH),
        ("postgresql", "some_user_enum", S.STRING, Confidence.LOW),
        ("mysql", "tinyint(1)", S.BOOL, Confidence.HIGH),
        ("mysql", "tinyint(4)", S.INT64, Confidence.HIGH),
        ("mysql", "bigint(20) unsigned", S.NUMERIC, Confidence.HIGH),
        ("mysql", "decimal(10,2)", S.NUMERIC, Confidence.HIGH),
        ("mysql", "datetime(6)", S.TIMESTAMP, Confidence.HIGH),
        ("mysql", "varchar(255)", S.STRING, Confidence.HIGH),
        ("mysql", "json", S.JSON, Confidence.HIGH),
        ("mysql", "bit(1)", S.BOOL, Confidence.HIGH),
        ("mysql", "enum('a','b')", S.STRING, Confidence.HIGH),
        ("sqlite", "INTEGER", S.INT64, Confidence.HIGH),
        ("sqlite", "VARCHAR(10)", S.STRING, Confidence.HIGH),
        ("sqlite", "TIMESTAMP", S.TIMESTAMP, Confidence.MEDIUM),
        ("sqlite", "NUMERIC(10,2)", S.NUMERIC, Confidence.HIGH),
        ("sqlite", "", S.STRING, Confidence.LOW),
    ],
)
def test_proposed_type_and_confidence(dialect, source, expected, confidence):
    proposal = propose(dialect, source)
    assert (proposal.bq_type, proposal.confidence) == (expected, confidence)


def test_lossy_or_surprising_mappings_carry_a_warning():
    assert propose("postgresql", "interval").warnings
    assert propose("postgresql", "numeric").warnings
    assert not propose("postgresql", "integer").warnings
