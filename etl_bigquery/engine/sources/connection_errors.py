"""Driver error text → the one sentence a user needs (SPEC §1: connection tests)."""

from __future__ import annotations

import re

from etl_bigquery.engine.errors import ConnectionFailed, Stage

REFUSED = "Connection refused. Check host/port."
AUTH = "Authentication failed. Check username/password."
SSL = "SSL connection required."
TIMEOUT = "Connection timed out. Check network."
ACCESS = "Access denied. Check user permissions."

_RULES: list[tuple[re.Pattern[str], str | None, bool]] = [
    # (pattern, message (None: built from the match), transient)
    (re.compile(r"database \"?([^\"\s]+)\"? does not exist|unknown database '([^']+)'", re.I),
     None, False),
    (re.compile(r"password authentication failed|authentication failed|no password supplied|"
                r"access denied for user|password is required|invalid password", re.I),
     AUTH, False),
    (re.compile(r"ssl|encryption", re.I), SSL, False),
    (re.compile(r"timeout expired|timed out|timeout", re.I), TIMEOUT, True),
    (re.compile(r"connection refused|can't connect|could not connect", re.I), REFUSED, True),
    (re.compile(r"could not translate host name|name or service not known|"
                r"temporary failure in name resolution|unknown host", re.I),
     "Host not found. Check host.", True),
    (re.compile(r"permission denied|insufficient privilege|command denied", re.I), ACCESS, False),
]  # fmt: skip


def connection_error(raw: str, *, stage: Stage = Stage.INIT) -> ConnectionFailed:
    """Classify a driver's connection error message. The raw text is not kept: drivers sometimes
    echo the connection string, and with it a password."""
    for pattern, message, transient in _RULES:
        match = pattern.search(raw)
        if match:
            if message is None:
                name = next(group for group in match.groups() if group)
                message = f"Database '{name}' does not exist."
            return ConnectionFailed(message, transient=transient, stage=stage)
    return ConnectionFailed(
        "Could not connect to the database. Check host, port and credentials.",
        transient=True,
        stage=stage,
    )
