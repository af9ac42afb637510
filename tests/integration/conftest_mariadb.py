"""Fixtures for the MariaDB tests: the machine's server (127.0.0.1:3306, root without a password),
a database and a SELECT-only login of each test's own, dropped afterwards.

Imported by the MariaDB test modules (`from tests.integration.conftest_mariadb import *`). In CI
(CI=true) an unreachable server fails the tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql
import pytest

from tests.conftest import unavailable

__all__ = ["MariaDb", "maria_admin", "maria_connection", "maria_db", "maria_sql"]

MARIA_HOST = os.environ.get("ETL_TEST_MARIADB_HOST", "127.0.0.1")
MARIA_PORT = int(os.environ.get("ETL_TEST_MARIADB_PORT", "3306"))


@dataclass(frozen=True)
class MariaDb:
    database: str
    user: str
    password: str
    host: str = MARIA_HOST
    port: int = MARIA_PORT


@pytest.fixture(scope="session")
def maria_admin() -> Iterator[pymysql.connections.Connection]:
    try:
        conn = pymysql.connect(
            host=MARIA_HOST, port=MARIA_PORT, user="root", password="", autocommit=True,
            charset="utf8mb4", connect_timeout=5,
        )  # fmt: skip
    except pymysql.MySQLError as error:
        unavailable(f"MariaDB is not reachable at {MARIA_HOST}:{MARIA_PORT}: {error}")
    yield conn
    conn.close()


@pytest.fixture()
def maria_db(maria_admin) -> Iterator[MariaDb]:
    """A fresh database and a login that may only SELECT from it (with a password)."""
    suffix = uuid.uuid4().hex[:10]
    db = MariaDb(
        database=f"etl_test_{suffix}", user=f"etl_{suffix}", password=f"Maria-{suffix}-Pw!"
    )
    with maria_admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{db.database}` CHARACTER SET utf8mb4")
        cursor.execute(f"CREATE USER '{db.user}'@'%' IDENTIFIED BY '{db.password}'")
        cursor.execute(f"GRANT SELECT ON `{db.database}`.* TO '{db.user}'@'%'")
    yield db
    with maria_admin.cursor() as cursor:
        cursor.execute(f"DROP USER IF EXISTS '{db.user}'@'%'")
        cursor.execute(f"DROP DATABASE IF EXISTS `{db.database}`")


def maria_sql(admin, database: str, *statements: str) -> list[tuple]:
    """Run statements as root in `database`; returns the last one's rows."""
    rows: list[tuple] = []
    with admin.cursor() as cursor:
        cursor.execute(f"USE `{database}`")
        for statement in statements:
            cursor.execute(statement)
            rows = list(cursor.fetchall())
    return rows


@pytest.fixture()
def maria_connection(services, maria_db: MariaDb) -> str:
    """An `ETL SQL Connection` block of type mariadb for the test's login; returns its name."""
    from etl_bigquery.blocks import SqlConnection

    name = f"maria-{uuid.uuid4().hex[:8]}"
    SqlConnection(
        type="mariadb", host=maria_db.host, port=maria_db.port, database=maria_db.database,
        username=maria_db.user, password=maria_db.password,
    ).save(name, overwrite=True)  # fmt: skip
    return name
