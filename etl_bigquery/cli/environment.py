"""Point the command at the local services when they run (before Prefect is imported)."""

from __future__ import annotations

import os

from etl_bigquery.devservices.layout import Layout


def load_services_env(layout: Layout | None = None) -> None:
    """Read `<state>/services.env` (written by `etl services up`) without overriding anything the
    user exported: an explicit PREFECT_API_URL always wins."""
    layout = layout or Layout.default()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not layout.env_file.is_file():
        return
    for line in layout.env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not os.environ.get(key.strip()):
            os.environ[key.strip()] = value.strip()
