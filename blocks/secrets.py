"""Secrets of connection blocks: a Prefect secret field, or a Google Secret Manager reference.

Values are resolved only when a run or a test needs them, held in memory, and never printed: the
errors here name the secret, never its value.
"""

from __future__ import annotations

import os
import re

from pydantic import SecretStr

from etl_bigquery.engine.errors import ConfigurationError, ConnectionFailed, Stage
from etl_bigquery.engine.redaction import registers_secret

_RESOURCE = re.compile(r"^projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?$")


def normalise_reference(reference: str) -> str:
    """`projects/P/secrets/S` → `projects/P/secrets/S/versions/latest`; anything else is refused."""
    text = reference.strip()
    if not _RESOURCE.match(text):
        raise ConfigurationError(
            f"Secret Manager reference {text!r} is not of the form "
            "projects/<project>/secrets/<name>[/versions/<version>]."
        )
    return text if "/versions/" in text else f"{text}/versions/latest"


# Where Secret Manager lives when it is not Google's (a local emulator); an endpoint, not a setting.
ENDPOINT_VARIABLE = "ETL_SECRET_MANAGER_ENDPOINT"


def _client():  # -> secretmanager.SecretManagerServiceClient (imported lazily: it is heavy)
    from google.cloud import secretmanager

    endpoint = os.environ.get(ENDPOINT_VARIABLE)
    if not endpoint:
        return secretmanager.SecretManagerServiceClient()  # application default credentials
    from google.auth.credentials import AnonymousCredentials

    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": endpoint},
    )


def read_secret_manager(reference: str) -> str:
    """Read a secret version with application default credentials (the runner's identity)."""
    from google.api_core import exceptions as gexc

    name = normalise_reference(reference)
    try:
        response = _client().access_secret_version(name=name, timeout=10)
    except gexc.NotFound:
        raise ConfigurationError(f"Secret {name} does not exist; check the reference.") from None
    except gexc.Forbidden:  # PermissionDenied over gRPC, Forbidden over REST
        raise ConfigurationError(
            f"Access to secret {name} was denied; grant the runner "
            "roles/secretmanager.secretAccessor."
        ) from None
    except Exception as error:  # any other failure: the secret store is unreachable
        raise ConnectionFailed(
            f"Secret Manager could not be reached to read {name} ({type(error).__name__}).",
            transient=True,
            stage=Stage.INIT,
        ) from None
    return response.payload.data.decode("utf-8")


@registers_secret  # every resolved value is masked in all logs from now on
def resolve_secret(value: SecretStr | None, reference: str | None, field: str) -> str | None:
    """The secret's value from whichever of the two places is set (setting both is refused)."""
    if value is not None and reference:
        raise ConfigurationError(
            f"Set either {field} or {field}_secret (a Secret Manager reference), not both."
        )
    if reference:
        return read_secret_manager(reference)
    return value.get_secret_value() if value is not None else None
