"""Block logos served by the local Prefect server, so the Blocks page shows them offline.

Prefect accepts only http(s) logo URLs (no data: URIs) and the UI loads them in the browser: the
SVGs in `etl_bigquery/resources/logos/` are copied into the server's UI folder by `etl services up`
(`devservices`), served at <ui>/etl-logos/. The URL is worked out when the block type is
registered or saved, for the server this process talks to. A server elsewhere (Prefect Cloud, a
hosted server) does not serve them: there the logos are the public icons, which its users reach.
"""

from __future__ import annotations

from urllib.parse import urlsplit

URL_PATH = "etl-logos"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_UI_URL = "http://127.0.0.1:4200"


class LogoUrl:
    """A class attribute whose value is the logo's URL on the current Prefect server."""

    def __init__(self, file: str, online: str) -> None:
        self.file = file
        self.online = online

    def __get__(self, instance: object, owner: type | None = None) -> str:
        from prefect.settings import get_current_settings

        base = (get_current_settings().ui_url or DEFAULT_UI_URL).rstrip("/")
        if urlsplit(base).hostname not in LOCAL_HOSTS:
            return self.online
        return f"{base}/{URL_PATH}/{self.file}"


SQL_CONNECTION = LogoUrl("sql-connection.svg", "https://cdn.simpleicons.org/postgresql")
NOSQL_CONNECTION = LogoUrl("nosql-connection.svg", "https://cdn.simpleicons.org/mongodb")
BIGQUERY_DESTINATION = LogoUrl(
    "bigquery-destination.svg", "https://cdn.simpleicons.org/googlebigquery"
)
