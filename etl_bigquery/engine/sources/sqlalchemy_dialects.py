"""The SQLAlchemy sources as data: one `DialectSpec` per source type (driver, URL, sqlglot
dialect, session settings), the dialect used to compile SQL, and driver errors → one sentence.

The driver is data, not an if/else (prefect-sqlalchemy's `ConnectionComponents`): a new dialect
is a line in `SPECS`, a registry line and a type proposer.
"""

from __future__ import annotations

import importlib
import re
import urllib.parse
from dataclasses import dataclass

from sqlalchemy.engine import URL, Dialect

from etl_bigquery.engine.errors import ConfigurationError, ConnectionFailed, Stage
from etl_bigquery.engine.sources import connection_errors
from etl_bigquery.engine.sources.registry import ConnectionSettings

EXTRA = "pip install 'etl-bigquery[sources]'"


@dataclass(frozen=True)
class DialectSpec:
    key: str
    """The connection's `type`; also the dialect name of type mapping and the query check."""
    name: str
    drivername: str
    """SQLAlchemy's `dialect+driver`."""
    driver_module: str
    """The DB-API module the dialect loads; checked before connecting."""
    package: str
    default_port: int | None
    session: tuple[str, ...] = ()
    """Statements run on every new connection (UTC, so cursor literals compare in UTC)."""
    optional: bool = True
    """Installed only with the `sources` extra."""

    def url(self, settings: ConnectionSettings) -> URL:
        """The connection URL, password included: for the driver only, never for a message."""
        port = settings.port or self.default_port
        if self.key == "snowflake":  # host is the account identifier; the port is not used
            return URL.create(
                self.drivername, username=settings.username, password=settings.password,
                host=settings.host, database=settings.database,
            )  # fmt: skip
        if self.key == "oracle":  # the database is a service name
            return URL.create(
                self.drivername, username=settings.username, password=settings.password,
                host=settings.host, port=port, query={"service_name": settings.database},
            )  # fmt: skip
        if self.key == "teradata":
            return URL.create(
                self.drivername, username=settings.username, password=settings.password,
                host=settings.host,
                query={"dbs_port": str(port), "database": settings.database,
                       "connect_timeout": str(settings.connect_timeout * 1000)},
            )  # fmt: skip
        return URL.create(
            self.drivername, username=settings.username, password=settings.password,
            host=settings.host, port=port, database=settings.database,
        )  # fmt: skip

    def connect_args(self, settings: ConnectionSettings) -> dict[str, object]:
        timeout = settings.connect_timeout
        if self.key in ("sqlserver", "synapse"):
            return {"login_timeout": timeout, "timeout": 0, "charset": "UTF-8"}
        if self.key == "oracle":
            return {"tcp_connect_timeout": float(timeout)}
        if self.key == "snowflake":
            return {"login_timeout": timeout, "network_timeout": timeout * 6}
        return {}

    def require_driver(self) -> None:
        """`ConfigurationError` with one sentence when the driver is not installed."""
        try:
            importlib.import_module(self.driver_module)
            URL.create(self.drivername).get_dialect()
        except ImportError as error:
            how = EXTRA if self.optional else "install the project's dependencies again"
            raise ConfigurationError(
                f"The driver for {self.key} sources is not installed ({error.name or self.package}"
                f"); {how}."
            ) from None


SPECS: dict[str, DialectSpec] = {
    spec.key: spec
    for spec in (
        DialectSpec("sqlserver", "SQL Server", "mssql+pymssql", "pymssql", "pymssql", 1433,
                    optional=False),
        DialectSpec("synapse", "Azure Synapse", "mssql+pymssql", "pymssql", "pymssql", 1433,
                    optional=False),
        DialectSpec("oracle", "Oracle", "oracle+oracledb", "oracledb", "oracledb", 1521,
                    ("ALTER SESSION SET TIME_ZONE = 'UTC'",), optional=False),
        DialectSpec("snowflake", "Snowflake", "snowflake", "snowflake.sqlalchemy",
                    "snowflake-sqlalchemy", None, ("ALTER SESSION SET TIMEZONE = 'UTC'",)),
        DialectSpec("db2", "Db2", "ibm_db_sa", "ibm_db_sa", "ibm-db-sa", 50000),
        DialectSpec("teradata", "Teradata", "teradatasql", "teradatasqlalchemy",
                    "teradatasqlalchemy", 1025, ("SET TIME ZONE 'GMT'",)),
    )
}  # fmt: skip


def compile_dialect(spec: DialectSpec, connected: Dialect | None = None) -> Dialect:
    """The dialect SQL is compiled with (`literal_binds`), without connecting. Its paramstyle is
    `named`: the compiled text runs without parameters, so `%` must not be doubled as the
    `pyformat` drivers (pymssql, Snowflake) would need."""
    dialect = URL.create(spec.drivername).get_dialect()(paramstyle="named")  # type: ignore[call-arg]
    if connected is not None and connected.server_version_info is not None:
        dialect.server_version_info = connected.server_version_info
    elif spec.drivername.startswith("mssql"):  # unconnected: a current SQL Server (DATE, TOP)
        dialect.server_version_info = (16, 0)
    setup = getattr(dialect, "_setup_version_attributes", None)
    if spec.drivername.startswith("mssql") and setup is not None:
        setup()
    return dialect


# Driver messages → connection_errors' sentences; checked before connection_errors' own rules.
_DATABASE = re.compile(
    r"cannot open database \"([^\"]+)\"|service \"?([^\"\s]+)\"? is not registered|"
    r"database ['\"]?([^'\"\s]+)['\"]? does not exist|database (?:alias )?name or database name "
    r"\"([^\"]+)\" could not be found",
    re.I,
)
_RULES: list[tuple[re.Pattern[str], str, bool]] = [
    (re.compile(r"login failed|ORA-01017|invalid username/password|incorrect username or "
                r"password|USERNAME AND/OR PASSWORD INVALID|SQL30082N|Error 8017|UserId, "
                r"Password or Account is invalid", re.I), connection_errors.AUTH, False),
    (re.compile(r"timed out|timeout|DPY-4011|SQL30081N.*ETIMEDOUT|DB-Lib error message 20003",
                re.I | re.S), connection_errors.TIMEOUT, True),
    (re.compile(r"connection refused|ECONNREFUSED|Errno 111|Adaptive Server is unavailable|"
                r"DPY-6005", re.I), connection_errors.REFUSED, True),
]  # fmt: skip


def connection_error(
    error: BaseException, settings: ConnectionSettings, stage: Stage = Stage.INIT
) -> ConnectionFailed:
    """The one sentence for a driver's connection error; its raw text (which may echo the
    connection string) is not kept."""
    text = str(getattr(error, "orig", None) or error)
    if settings.password:
        for form in {settings.password, urllib.parse.quote(settings.password, safe="")}:
            text = text.replace(form, "********")
    match = _DATABASE.search(text)
    if match:
        name = next(group for group in match.groups() if group)
        return ConnectionFailed(f"Database '{name}' does not exist.", transient=False, stage=stage)
    for pattern, message, transient in _RULES:
        if pattern.search(text):
            return ConnectionFailed(message, transient=transient, stage=stage)
    return connection_errors.connection_error(text, stage=stage)
