import pytest

from etl_bigquery.engine.sources.connection_errors import (
    ACCESS,
    AUTH,
    REFUSED,
    SSL,
    TIMEOUT,
    connection_error,
)


@pytest.mark.parametrize(
    ("raw", "message", "transient"),
    [
        ('connection to server at "h", port 1 failed: Connection refused', REFUSED, True),
        ('FATAL:  password authentication failed for user "u"', AUTH, False),
        ('FATAL:  database "shop" does not exist', "Database 'shop' does not exist.", False),
        ("server does not support SSL, but SSL was required", SSL, False),
        (
            'no pg_hba.conf entry for host "1.2.3.4", user "u", database "d", no encryption',
            SSL,
            False,
        ),
        ("timeout expired", TIMEOUT, True),
        ("permission denied for table orders", ACCESS, False),
        ("Access denied for user 'u'@'h' (using password: YES)", AUTH, False),
        ("Unknown database 'shop'", "Database 'shop' does not exist.", False),
    ],
)
def test_driver_errors_map_to_the_documented_sentences(raw, message, transient):
    error = connection_error(raw)
    assert error.message == message
    assert error.transient is transient


def test_the_raw_driver_text_is_not_kept_since_it_may_echo_a_connection_string():
    error = connection_error("could not connect: postgresql://u:hunter2@h/db refused")
    assert "hunter2" not in error.message
