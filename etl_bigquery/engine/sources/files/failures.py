"""Errors of the stores' clients (Arrow's and the stores' own) as one sentence each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl_bigquery.engine.errors import ConnectionFailed

if TYPE_CHECKING:
    from etl_bigquery.engine.sources.files.store import StoreSettings


def store_failure(error: Exception, settings: StoreSettings) -> ConnectionFailed:
    """An error of the store's client as one sentence (no secrets: only the kind of failure)."""
    text = str(error).lower()
    where = settings.describe()
    if any(
        s in text for s in ("refused", "couldn't connect", "could not connect", "failed to connect")
    ):
        return ConnectionFailed("Connection refused. Check host/port.", transient=True)
    if any(s in text for s in ("timed out", "timeout")):
        return ConnectionFailed("Connection timed out. Check network.", transient=True)
    if any(
        s in text
        for s in ("invalidaccesskeyid", "signaturedoesnotmatch", "authenticationfailed",
                  "401", "invalid_grant", "unauthenticated", "credentials")
    ):  # fmt: skip
        return ConnectionFailed(
            "Authentication failed. Check the access key, secret or service account.",
            transient=False,
        )
    if any(s in text for s in ("accessdenied", "access denied", "403", "authorizationfailure")):
        return ConnectionFailed("Access denied. Check user permissions.", transient=False)
    if any(s in text for s in ("nosuchbucket", "containernotfound", "bucket does not exist")):
        return ConnectionFailed(f"Bucket or container of {where} does not exist.", transient=False)
    if any(s in text for s in ("could not resolve", "name or service not known")):
        return ConnectionFailed(
            "Could not resolve the store's host name. Check the endpoint and network.",
            transient=True,
        )
    first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return ConnectionFailed(f"Reading {where} failed: {first}", transient=True)
